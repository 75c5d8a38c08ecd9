//! ssm-contacts-operator: sends AWS SSM Contacts activation codes for
//! `ContactChannelActivation` objects, exactly once per generation.
//!
//! The pipeline, one module a step:
//!
//! ```text
//! watch (controller) -> decide (pure) -> take a turn (line, rate_search) -> write intent (status)
//!   -> call AWS (aws) -> record outcome (decide::record_outcome -> status) -> Events, metrics (telemetry)
//! ```
//!
//! - [`resource`]: the custom resource, source of the CRD.
//! - [`arn`], [`outcome`], [`backoff`], [`conditions`], [`decide`]: pure domain logic.
//! - [`aws`]: SSM Contacts clients per region; SDK errors classified into [`outcome::Reason`]s.
//! - [`tenancy`], [`cooldown`]: pure abuse guards (allowed accounts and roles; per-channel
//!   cooldown and hourly cap); [`namespaces`] and [`channels`] hold what the watches tell
//!   them (Namespace annotations; recent calls per channel and who waits for which);
//!   [`records`] keeps each channel's recent sends in the cluster, beyond its objects.
//! - [`assume`]: cross-account credentials through STS AssumeRole.
//! - [`rate_search`]: the global send rate, found without knowing the quota; [`line`]: the
//!   objects waiting to send, served in order at that rate; [`pacing`]: token buckets;
//!   [`budget`]: the activation checks' rate, a slot per waiting object; [`expiring`]: the
//!   grants and slots objects never came back for, lapsing.
//! - [`status`]: conflict-safe status writes; [`own_writes`]: our latest writes, read back
//!   before the watch shows them.
//! - [`controller`]: kube-runtime wiring; [`triggers`]: what else wakes an object.
//! - [`telemetry`], [`events`], [`admin`], [`config`]: logs, metrics, Events, health endpoints, CLI.
//! - [`requests`]: AWS requests counted by operation and error code.
//! - [`process_metrics`]: the `process_*` metrics, read from /proc at each scrape.
#![forbid(unsafe_code)]

pub mod activation;
pub mod admin;
pub mod arn;
pub mod assume;
pub mod aws;
pub mod backoff;
pub mod budget;
pub mod channels;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod cooldown;
pub mod crd;
pub mod decide;
pub mod events;
pub mod expiring;
pub mod follow;
pub mod health;
pub mod inventory;
pub mod ledger;
pub mod lenient;
pub mod line;
pub mod lines;
pub mod namespaces;
pub mod outcome;
pub mod own_writes;
pub mod pacing;
pub mod process_metrics;
pub mod rate_search;
pub mod records;
pub mod requests;
pub mod resource;
pub mod secret;
pub mod selector;
pub mod send;
pub mod status;
pub mod telemetry;
pub mod tenancy;
pub mod triggers;
pub mod unreadable;
