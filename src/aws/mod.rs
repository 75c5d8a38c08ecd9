//! The AWS edge: SSM Contacts clients per region and role, STS AssumeRole, the activation
//! code that only AWS may see, and the classification of every SDK error into a
//! [`crate::api::reason::Reason`]. Uses [`crate::api`] and [`crate::rules`].

pub mod assume;
pub mod classify;
pub mod client;
pub mod code;
pub mod requests;
