//! ssm-contacts-operator: sends AWS SSM Contacts activation codes for
//! `ContactChannelActivation` objects, exactly once per generation.
//!
//! The source is laid out in stages, in the order a reconcile passes through them, and each
//! folder uses only the folders below it:
//!
//! ```text
//! runtime    the command line, logs, kube-runtime wiring, health, admin HTTP
//!   -> reconcile  one pass: read -> decide -> guard and pace -> call AWS -> write status, Events
//!     -> aws        SSM Contacts and STS clients; every SDK error classified
//!     -> pacing     the send rate, the send lines, the check budget
//!       -> rules      pure: decide, outcomes, backoff, activation steps, cooldown, tenancy
//!         -> api        the custom resource, its conditions and reasons, the ARN
//! ```
//!
//! `tests/layout.rs` keeps it so: it fails on an import circle between files and on a
//! folder that uses one above it.
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod pacing;
pub mod reconcile;
pub mod rules;
pub mod runtime;
