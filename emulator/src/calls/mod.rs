//! One wire call, from the bytes read to the answer: `handler` reads it and serves SSM
//! Contacts, `sts_call` serves STS, `auth` checks the signature, `fault_effects` applies a
//! picked fault, `call` journals it; `app` is what calls share, `connection` lets a call cut
//! its own connection. May use `protocol`, `faults`, `model`, `ops` and `sts`.

pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod call;
pub(crate) mod connection;
pub(crate) mod fault_effects;
pub(crate) mod handler;
pub(crate) mod sts_call;
