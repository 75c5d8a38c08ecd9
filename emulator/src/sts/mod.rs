//! STS AssumeRole as the awsQuery protocol has it: form-encoded parameters (`form`), the
//! action itself (`assume`), XML answers (`xml`) and STS's errors (`error`). Serving a call
//! (authentication, faults, journal) is `sts_call`'s job; this folder may use the state,
//! roles, sessions, faults and the wire error shapes, never the serving side.

pub(crate) mod assume;
pub(crate) mod error;
pub(crate) mod form;
pub(crate) mod xml;
