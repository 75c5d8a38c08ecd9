//! How many objects stand where, as the gauge `ssmcontacts_objects{reason, activation}`: the
//! reason of their CodeSent condition and of their Activated condition. Objects stuck on
//! ValidationFailed, RegionUnknown or InvalidSpec, and channels that fell back to
//! NOT_ACTIVATED (Deactivated), are visible without any AWS call and without a label per
//! object.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::api::conditions;
use crate::api::reason::Reason;
use crate::api::resource::ContactChannelActivationStatus as Status;

/// The `activation` label of an object that has no Activated condition (yet).
const NO_ACTIVATION: &str = "None";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub reason: String,
    pub activation: String,
}

/// Where one object stands: its CodeSent reason and its Activated reason, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Standing {
    reason: Reason,
    activation: Option<Reason>,
}

impl Standing {
    fn labels(self) -> ObjectLabels {
        ObjectLabels {
            reason: self.reason.as_str().to_owned(),
            activation: self
                .activation
                .map_or(NO_ACTIVATION, Reason::as_str)
                .to_owned(),
        }
    }
}

#[derive(Default)]
pub struct Inventory {
    standings: Mutex<HashMap<String, Standing>>,
    gauge: Family<ObjectLabels, Gauge>,
}

impl Inventory {
    /// Keeps `gauge` (registered by the caller) up to date.
    pub fn new(gauge: Family<ObjectLabels, Gauge>) -> Self {
        Self {
            standings: Mutex::default(),
            gauge,
        }
    }

    fn standings(&self) -> MutexGuard<'_, HashMap<String, Standing>> {
        self.standings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The object's status is now `status` (one without a CodeSent reason changes nothing).
    pub fn observe(&self, uid: &str, status: &Status) {
        let reason_of = |type_| {
            conditions::find(&status.conditions, type_).and_then(|c| Reason::parse(&c.reason))
        };
        if let Some(reason) = reason_of(conditions::CODE_SENT) {
            self.put(
                uid,
                Standing {
                    reason,
                    activation: reason_of(conditions::ACTIVATED),
                },
            );
        }
    }

    /// The object stands at `reason` with no status to tell more (it cannot be read).
    pub fn set(&self, uid: &str, reason: Reason) {
        self.put(
            uid,
            Standing {
                reason,
                activation: None,
            },
        );
    }

    fn put(&self, uid: &str, standing: Standing) {
        let previous = self.standings().insert(uid.to_owned(), standing);
        if previous == Some(standing) {
            return;
        }
        if let Some(previous) = previous {
            self.gauge.get_or_create(&previous.labels()).dec();
        }
        self.gauge.get_or_create(&standing.labels()).inc();
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        if let Some(previous) = self.standings().remove(uid) {
            self.gauge.get_or_create(&previous.labels()).dec();
        }
    }

    /// How many objects stand at `reason`, whatever their activation.
    #[cfg(test)]
    fn count(&self, reason: Reason) -> usize {
        self.standings()
            .values()
            .filter(|s| s.reason == reason)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn status(reason: Reason, activation: Option<Reason>) -> Status {
        let mut status = Status::default();
        let now = Timestamp::UNIX_EPOCH;
        conditions::set(
            &mut status.conditions,
            conditions::CODE_SENT,
            false,
            reason,
            "",
            1,
            now,
        );
        if let Some(activation) = activation {
            conditions::set(
                &mut status.conditions,
                conditions::ACTIVATED,
                false,
                activation,
                "",
                1,
                now,
            );
        }
        status
    }

    fn gauge(inventory: &Inventory, reason: Reason, activation: &str) -> i64 {
        inventory
            .gauge
            .get_or_create(&ObjectLabels {
                reason: reason.as_str().to_owned(),
                activation: activation.to_owned(),
            })
            .get()
    }

    #[test]
    /// Each object counts once, under its latest reasons, until it is deleted.
    fn objects_move_between_reasons() {
        let inventory = Inventory::default();
        inventory.set("a", Reason::Pending);
        inventory.set("b", Reason::Pending);
        inventory.observe("a", &status(Reason::Sent, Some(Reason::AwaitingCode)));
        inventory.observe("a", &status(Reason::Sent, Some(Reason::AwaitingCode)));
        assert_eq!(inventory.count(Reason::Pending), 1);
        assert_eq!(gauge(&inventory, Reason::Sent, "AwaitingCode"), 1);
        inventory.observe("a", &status(Reason::Sent, Some(Reason::Deactivated)));
        assert_eq!(gauge(&inventory, Reason::Sent, "AwaitingCode"), 0);
        assert_eq!(gauge(&inventory, Reason::Sent, "Deactivated"), 1);
        assert_eq!(gauge(&inventory, Reason::Pending, "None"), 1);
        inventory.forget("b");
        inventory.forget("b");
        assert_eq!(gauge(&inventory, Reason::Pending, "None"), 0);
        inventory.observe("c", &Status::default());
        assert_eq!(inventory.count(Reason::Pending), 0);
    }
}
