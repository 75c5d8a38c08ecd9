//! Pacing: how fast calls may go. The send rate found without knowing the quota, the lines
//! of objects waiting to send (one per quota scope), token buckets, and the activation
//! checks' own budget. In-memory only; uses [`crate::api`] and [`crate::rules`].

pub mod bucket;
pub mod budget;
pub mod expiring;
pub mod line;
pub mod lines;
pub mod rate_search;
