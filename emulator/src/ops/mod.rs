//! The operations' semantics: validate the input, act on the state, build the output,
//! with member names exactly as in the ssm-contacts 2021-05-03 model.
//!
//! `channels` holds the operations on an existing channel, `contacts` the contact list,
//! `create` those that create; `paging` is the NextToken scheme the lists share.
//!
//! This file only declares and re-exports; `request` holds what every operation takes and
//! gives, so the operation files depend on it and never on this one. Operations may use
//! the state, `validate`, `arn` and the wire error shapes.

mod channels;
mod contacts;
mod create;
mod dispatch;
mod paging;
mod request;

pub use dispatch::run;
pub use request::{Caller, Done};
