//! The activation checks' fixed budget. A call either fits now or is given a slot of its
//! own later; the object comes back at that slot and has it. Without slots every waiting
//! object came back at the next free token and all but one were turned away again: with
//! thousands of codes sent at once that herd was thousands of reconciles a second, and it
//! kept new objects from being reconciled at all.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::pacing::bucket::{RateSettings, seconds};
use crate::pacing::expiring::Expiring;

/// A slot not taken within this long after its time lapses (its object was deleted, or no
/// longer needs the call).
const SLOT_GRACE: Duration = Duration::from_secs(60);
/// Slots kept at most; far above any real fleet, it only stops a runaway.
const CAPACITY: usize = 100_000;
/// The wait given when no slot can be booked.
const FULL_WAIT: Duration = Duration::from_secs(60);

/// Slots at a steady pace with a burst, driven by explicit instants (the generic cell rate
/// algorithm, with each call beyond the burst booked at the time it conforms).
#[derive(Debug)]
pub struct Slots {
    interval: Duration,
    /// How far ahead of its steady pace the budget may run: the burst.
    tolerance: Duration,
    /// When the next call is due at the steady pace.
    due: Instant,
    booked: Expiring,
}

impl Slots {
    pub fn new(settings: RateSettings, now: Instant) -> Self {
        let settings = settings.sane();
        let interval = seconds(1.0 / settings.max_rate);
        Self {
            interval,
            tolerance: interval.saturating_mul(capped_count(settings.burst - 1.0)),
            due: now,
            booked: Expiring::new(SLOT_GRACE),
        }
    }

    /// The call for `key` goes now, or after the returned wait, when its slot has come.
    pub fn take(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        self.booked.lapse(now);
        if let Some(slot) = self.booked.get(key) {
            if slot > now {
                return Err(slot.saturating_duration_since(now));
            }
            self.booked.remove(key);
            return Ok(());
        }
        let due = self.due.max(now);
        let ahead = due.saturating_duration_since(now);
        if ahead <= self.tolerance {
            self.due = later(due, self.interval);
            return Ok(());
        }
        if self.booked.len() >= CAPACITY {
            return Err(FULL_WAIT);
        }
        let wait = ahead.saturating_sub(self.tolerance);
        let slot = later(now, wait);
        self.due = later(due, self.interval);
        self.booked.insert(key, slot);
        Err(wait)
    }

    /// Gives up the slot of `key` (its object is gone).
    pub fn forget(&mut self, key: &str) {
        self.booked.remove(key);
    }

    /// Calls waiting for their slot.
    pub fn waiting(&self) -> usize {
        self.booked.len()
    }
}

fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by).unwrap_or(at)
}

/// A non-negative count of intervals, within what `Duration::saturating_mul` takes.
fn capped_count(count: f64) -> u32 {
    // The float-to-int cast saturates (NaN becomes 0): no overflow whatever the setting.
    count.max(0.0).round() as u32
}

/// [`Slots`] shared by the reconciles, on the clock.
#[derive(Debug)]
pub struct CheckBudget(Mutex<Slots>);

impl CheckBudget {
    pub fn new(settings: RateSettings) -> Self {
        Self(Mutex::new(Slots::new(settings, Instant::now())))
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A poisoned lock only means another task panicked mid-update; the slots stay usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The call for the object `uid` goes now, or after the returned wait.
    pub fn take(&self, uid: &str) -> Result<(), Duration> {
        self.slots().take(uid, Instant::now())
    }

    pub fn forget(&self, uid: &str) {
        self.slots().forget(uid);
    }

    pub fn waiting(&self) -> usize {
        self.slots().waiting()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(rate: f64, burst: f64, now: Instant) -> Slots {
        Slots::new(
            RateSettings {
                max_rate: rate,
                min_rate: rate,
                burst,
            },
            now,
        )
    }

    #[test]
    /// The burst goes at once; each call beyond it gets its own slot, one interval apart.
    fn calls_beyond_the_burst_get_slots_one_interval_apart() {
        let t0 = Instant::now();
        let mut slots = slots(2.0, 2.0, t0);
        assert!(slots.take("a", t0).is_ok());
        assert!(slots.take("b", t0).is_ok());
        let waits: Vec<Duration> = ["c", "d", "e"]
            .iter()
            .map(|key| slots.take(key, t0).unwrap_err())
            .collect();
        assert_eq!(waits, [500, 1000, 1500].map(Duration::from_millis).to_vec());
        assert_eq!(slots.waiting(), 3);
    }

    #[test]
    /// A waiter back at its slot has it, even when others asked in between; one back early
    /// is told the rest of its wait.
    fn a_booked_slot_is_kept_for_its_waiter() {
        let t0 = Instant::now();
        let mut slots = slots(1.0, 1.0, t0);
        assert!(slots.take("first", t0).is_ok());
        assert_eq!(slots.take("waiter", t0), Err(Duration::from_secs(1)));
        let early = t0 + Duration::from_millis(400);
        assert_eq!(slots.take("waiter", early), Err(Duration::from_millis(600)));
        let at_slot = t0 + Duration::from_secs(1);
        assert_eq!(slots.take("newcomer", at_slot), Err(Duration::from_secs(1)));
        assert!(slots.take("waiter", at_slot).is_ok());
        assert_eq!(slots.waiting(), 1);
    }

    #[test]
    /// However many wait, the calls that go never outrun the rate and the burst, and each
    /// waiter is turned away at most once if it comes back on time.
    fn a_herd_goes_at_the_rate_one_by_one() {
        let t0 = Instant::now();
        let (rate, burst) = (5.0, 3.0);
        let mut slots = slots(rate, burst, t0);
        let mut back_at: Vec<(Instant, String)> = Vec::new();
        let mut went = Vec::new();
        for i in 0..200 {
            let key = format!("object-{i}");
            match slots.take(&key, t0) {
                Ok(()) => went.push(t0),
                Err(wait) => back_at.push((t0 + wait, key)),
            }
        }
        back_at.sort();
        for (at, key) in back_at {
            assert_eq!(
                slots.take(&key, at),
                Ok(()),
                "{key} turned away at its slot"
            );
            went.push(at);
        }
        assert_eq!(went.len(), 200);
        for (i, at) in went.iter().enumerate() {
            let allowed = burst + rate * at.duration_since(t0).as_secs_f64();
            assert!(
                (i + 1) as f64 <= allowed + 1e-9,
                "call {i} outran the budget"
            );
        }
    }

    #[test]
    /// A slot nobody came for lapses and is not kept forever; a forgotten one is dropped at
    /// once.
    fn unused_slots_lapse() {
        let t0 = Instant::now();
        let mut slots = slots(1.0, 1.0, t0);
        assert!(slots.take("a", t0).is_ok());
        assert!(slots.take("gone", t0).is_err());
        assert!(slots.take("deleted", t0).is_err());
        slots.forget("deleted");
        assert_eq!(slots.waiting(), 1);
        let much_later = t0 + SLOT_GRACE + Duration::from_secs(5);
        assert!(slots.take("a", much_later).is_ok());
        assert_eq!(slots.waiting(), 0);
    }

    #[test]
    /// After a quiet spell the whole burst is there again.
    fn the_burst_comes_back_after_a_quiet_spell() {
        let t0 = Instant::now();
        let mut slots = slots(10.0, 3.0, t0);
        for key in ["a", "b", "c"] {
            assert!(slots.take(key, t0).is_ok());
        }
        assert!(slots.take("d", t0).is_err());
        let quiet = t0 + Duration::from_secs(5);
        for key in ["e", "f", "g"] {
            assert!(slots.take(key, quiet).is_ok(), "{key}");
        }
        assert!(slots.take("h", quiet).is_err());
    }
}
