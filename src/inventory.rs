//! How many objects stand at each reason, as the gauge `ssmcontacts_objects{reason}`: objects
//! stuck on ValidationFailed, RegionUnknown or InvalidSpec are visible without any AWS call,
//! and without a label per object.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::outcome::Reason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Default)]
pub struct Inventory {
    reasons: Mutex<HashMap<String, Reason>>,
    gauge: Family<ReasonLabels, Gauge>,
}

impl Inventory {
    /// Keeps `gauge` (registered by the caller) up to date.
    pub fn new(gauge: Family<ReasonLabels, Gauge>) -> Self {
        Self {
            reasons: Mutex::default(),
            gauge,
        }
    }

    fn reasons(&self) -> MutexGuard<'_, HashMap<String, Reason>> {
        self.reasons
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count(&self, reason: Reason) -> Gauge {
        self.gauge
            .get_or_create(&ReasonLabels {
                reason: reason.as_str().to_owned(),
            })
            .clone()
    }

    /// The object's CodeSent reason is now `reason`.
    pub fn set(&self, uid: &str, reason: Reason) {
        let previous = self.reasons().insert(uid.to_owned(), reason);
        if previous == Some(reason) {
            return;
        }
        if let Some(previous) = previous {
            self.count(previous).dec();
        }
        self.count(reason).inc();
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        if let Some(previous) = self.reasons().remove(uid) {
            self.count(previous).dec();
        }
    }

    pub fn get(&self, reason: Reason) -> i64 {
        self.count(reason).get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Each object counts once, under its latest reason, until it is deleted.
    fn objects_move_between_reasons() {
        let inventory = Inventory::default();
        inventory.set("a", Reason::Pending);
        inventory.set("b", Reason::Pending);
        inventory.set("a", Reason::Sent);
        inventory.set("a", Reason::Sent);
        assert_eq!(inventory.get(Reason::Pending), 1);
        assert_eq!(inventory.get(Reason::Sent), 1);
        inventory.forget("b");
        inventory.forget("b");
        assert_eq!(inventory.get(Reason::Pending), 0);
    }
}
