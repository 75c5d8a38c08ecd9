//! What this process alone knows about objects, which their status cannot say: the calls its
//! own tasks are making, outcomes it could not record yet, how long it has watched another
//! process's in-flight record (on its own monotonic clock).
//!
//! Every map is pruned when its object is deleted and capped, so that churn cannot grow the
//! process without bound.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::api::resource::SendInFlight;
use crate::rules::decide::Remembered;

/// Entries kept per map; far above any real fleet, it only stops a runaway.
const CAPACITY: usize = 100_000;

/// An outcome that could not be recorded, with where to record it.
#[derive(Clone, Debug)]
pub struct Unrecorded {
    pub namespace: String,
    pub name: String,
    pub remembered: Remembered,
}

#[derive(Default)]
struct Maps {
    running: HashMap<String, SendInFlight>,
    unrecorded: HashMap<String, Unrecorded>,
    seen: HashMap<String, (SendInFlight, Instant)>,
}

#[derive(Default)]
pub struct Ledger(Mutex<Maps>);

impl Ledger {
    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A poisoned lock only means another task panicked mid-update; the maps stay usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A task of this process is about to write this intent and make its call.
    pub fn start(&self, uid: &str, flight: &SendInFlight) {
        let mut maps = self.maps();
        if maps.running.len() < CAPACITY || maps.running.contains_key(uid) {
            maps.running.insert(uid.to_owned(), flight.clone());
        }
    }

    /// The task has recorded (or remembered) the call's outcome, or never made the call.
    pub fn finish(&self, uid: &str) {
        self.maps().running.remove(uid);
    }

    pub fn is_running(&self, uid: &str, flight: &SendInFlight) -> bool {
        self.maps()
            .running
            .get(uid)
            .is_some_and(|running| running.same_call(flight))
    }

    /// Keeps an outcome whose status write failed, to be recorded by the next reconcile or
    /// the shutdown flush. Never dropped for capacity: losing it could cost a second code.
    pub fn remember(&self, uid: &str, unrecorded: Unrecorded) {
        self.maps().unrecorded.insert(uid.to_owned(), unrecorded);
    }

    pub fn unrecorded(&self, uid: &str) -> Option<Remembered> {
        self.maps()
            .unrecorded
            .get(uid)
            .map(|u| u.remembered.clone())
    }

    /// Forgets a remembered outcome once a status no longer holds its call.
    pub fn recorded(&self, uid: &str, status_flight: Option<&SendInFlight>) {
        let mut maps = self.maps();
        if maps
            .unrecorded
            .get(uid)
            .is_some_and(|u| !status_flight.is_some_and(|f| u.remembered.flight.same_call(f)))
        {
            maps.unrecorded.remove(uid);
        }
    }

    /// Every outcome still waiting to be recorded (for the shutdown flush).
    pub fn all_unrecorded(&self) -> Vec<(String, Unrecorded)> {
        self.maps()
            .unrecorded
            .iter()
            .map(|(uid, u)| (uid.clone(), u.clone()))
            .collect()
    }

    /// How long this process has seen `flight` as the object's in-flight record; the first
    /// sighting starts the count. `None` forgets whatever was seen before.
    pub fn seen_for(&self, uid: &str, flight: Option<&SendInFlight>, now: Instant) -> Duration {
        let mut maps = self.maps();
        let Some(flight) = flight else {
            maps.seen.remove(uid);
            return Duration::ZERO;
        };
        if let Some((seen, since)) = maps.seen.get(uid)
            && seen.same_call(flight)
        {
            return now.saturating_duration_since(*since);
        }
        if maps.seen.len() < CAPACITY || maps.seen.contains_key(uid) {
            maps.seen.insert(uid.to_owned(), (flight.clone(), now));
        }
        Duration::ZERO
    }

    /// The object is gone: nothing about it is needed any more.
    pub fn forget(&self, uid: &str) {
        let mut maps = self.maps();
        maps.seen.remove(uid);
        maps.unrecorded.remove(uid);
        // `running` belongs to its task, which clears it when it ends.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::outcome::Sent;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn flight(attempt: u32, holder: &str) -> SendInFlight {
        SendInFlight {
            generation: 1,
            attempt,
            holder: holder.into(),
            started_time: Time(Timestamp::UNIX_EPOCH),
            contact_channel_id: None,
        }
    }

    #[test]
    /// The grace count starts at the first sighting and restarts for a different call.
    fn seen_counts_from_first_sighting() {
        let ledger = Ledger::default();
        let t0 = Instant::now();
        let a = flight(1, "other");
        assert_eq!(ledger.seen_for("u", Some(&a), t0), Duration::ZERO);
        let later = t0 + Duration::from_secs(7);
        assert_eq!(
            ledger.seen_for("u", Some(&a), later),
            Duration::from_secs(7)
        );
        let b = flight(2, "other");
        assert_eq!(ledger.seen_for("u", Some(&b), later), Duration::ZERO);
    }

    #[test]
    /// A running call is known by its identity, not just by its object.
    fn running_matches_the_call() {
        let ledger = Ledger::default();
        ledger.start("u", &flight(1, "me"));
        assert!(ledger.is_running("u", &flight(1, "me")));
        assert!(!ledger.is_running("u", &flight(2, "me")));
        ledger.finish("u");
        assert!(!ledger.is_running("u", &flight(1, "me")));
    }

    #[test]
    /// An outcome is forgotten only once the status no longer holds its call.
    fn unrecorded_until_recorded() {
        let ledger = Ledger::default();
        let call = flight(1, "me");
        ledger.remember(
            "u",
            Unrecorded {
                namespace: "ns".into(),
                name: "n".into(),
                remembered: Remembered {
                    flight: call.clone(),
                    outcome: Ok(Sent { request_id: None }),
                },
            },
        );
        ledger.recorded("u", Some(&call));
        assert!(ledger.unrecorded("u").is_some());
        ledger.recorded("u", None);
        assert!(ledger.unrecorded("u").is_none());
    }
}
