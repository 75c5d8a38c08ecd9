//! What the emulator remembers and checks: contacts and channels (`state`), the journal,
//! assumable roles and issued sessions, the set-up (`config`), ARNs (`arn`) and input
//! checks (`validate`). May use `protocol` and `faults`.

pub mod arn;
pub mod config;
pub mod journal;
pub mod roles;
pub mod sessions;
pub mod state;
pub mod validate;
