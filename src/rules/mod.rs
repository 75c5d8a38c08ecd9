//! The pure rules: what to do for an object and what its status says afterwards. No I/O,
//! no clock of its own (callers pass `now` and the jitter), so every rule is tested as a
//! table. Uses [`crate::api`] only.

pub mod activation;
pub mod backoff;
pub mod cooldown;
pub mod decide;
pub mod note;
pub mod outcome;
pub mod tenancy;
