//! Running it: the command line, logs, the kube-runtime controllers and what wakes an
//! object, health and the admin HTTP server, process metrics. The only folder that may use
//! [`crate::reconcile`]; `main.rs` puts these parts together.

pub mod admin;
pub mod config;
pub mod controller;
pub mod health;
pub mod healthcheck;
pub mod logging;
pub mod process_metrics;
pub mod selector;
pub mod triggers;
