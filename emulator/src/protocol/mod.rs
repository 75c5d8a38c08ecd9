//! The wire formats, independent of what the emulator does with a call: awsJson1.1
//! operation names, error shapes and answers (`wire`), and SigV4 signatures (`sigv4`).
//! Uses nothing else of the crate.

pub mod sigv4;
pub mod wire;
