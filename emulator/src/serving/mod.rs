//! Serving an emulator: the accept loop and router (`server`), the admin API (`admin`) and
//! the `RunningEmulator` handle (`running`). May use every other folder.

pub mod admin;
pub(crate) mod running;
pub(crate) mod server;
