//! What can go wrong on purpose: injected faults and the request-rate quota (`injected`),
//! and seeded random faults (`chaos`), all decided before an operation runs. May use
//! `protocol` only; applying a fault to a call is `calls::fault_effects`' job.

pub mod chaos;
pub mod injected;

// `faults::FaultSpec` and friends are public paths.
pub use injected::{ActiveFault, FaultBook, FaultKind, FaultSpec, Quota, TokenBucket, latency};
