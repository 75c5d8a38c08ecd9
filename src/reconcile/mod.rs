//! One reconcile, in one pass down the stages: read what this process knows of the object
//! ([`pass`]), decide ([`crate::rules::decide`]), keep the guards and take a turn
//! ([`send`], [`crate::pacing`]), call AWS ([`crate::aws`]), write status and Events
//! ([`status`], [`events`]). [`follow`] does the same for activation checks.
//!
//! Beside the pass: [`context`] (what all reconciles share, and their error), what the
//! process remembers ([`ledger`], [`own_writes`], [`inventory`], [`channels`],
//! [`namespaces`]), what the cluster keeps ([`records`], [`secret`]), and [`metrics`].
//! Uses every folder below it; nothing here wires kube-runtime ([`crate::runtime`] does).

pub mod channels;
pub mod context;
pub mod events;
pub mod follow;
pub mod inventory;
pub mod ledger;
pub mod metrics;
pub mod namespaces;
pub mod own_writes;
pub mod pass;
pub mod records;
pub mod secret;
pub mod send;
pub mod status;
pub mod unreadable;
