//! The public API: what users write and read. The `ContactChannelActivation` type (the
//! source of the CRD), its conditions and reasons, the channel ARN, and the lenient time
//! fields. Nothing here knows how the operator works; it uses no other folder.

pub mod arn;
pub mod conditions;
pub mod crd;
pub mod lenient;
pub mod reason;
pub mod resource;
