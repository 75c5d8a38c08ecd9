//! An instant per object (a grant, a booked slot) that lapses a fixed time after it, for
//! objects that never come back for it: deleted, or no longer in need.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Expiring {
    lifetime: Duration,
    at: HashMap<String, Instant>,
    /// Every instant given, in order; entries replaced or removed since are skipped.
    order: VecDeque<(Instant, String)>,
}

impl Expiring {
    /// Entries lapse `lifetime` after their instant.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            at: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Sets the object's instant; instants must be given in order (the clock's).
    pub fn insert(&mut self, key: &str, at: Instant) {
        self.at.insert(key.to_owned(), at);
        self.order.push_back((at, key.to_owned()));
    }

    pub fn get(&self, key: &str) -> Option<Instant> {
        self.at.get(key).copied()
    }

    pub fn remove(&mut self, key: &str) -> Option<Instant> {
        self.at.remove(key)
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Drops the entries whose lifetime has passed at `now`.
    pub fn lapse(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.lifetime {
                break;
            }
            if self.at.get(key) == Some(at) {
                self.at.remove(key);
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// An entry lapses its lifetime after its instant; a newer instant for the same object
    /// is not dropped with the older one.
    fn entries_lapse_after_their_lifetime() {
        let t0 = Instant::now();
        let mut expiring = Expiring::new(Duration::from_secs(10));
        expiring.insert("a", t0);
        expiring.insert("b", t0);
        expiring.insert("a", t0 + Duration::from_secs(5));
        expiring.lapse(t0 + Duration::from_secs(10));
        assert_eq!(expiring.get("b"), None);
        assert_eq!(expiring.get("a"), Some(t0 + Duration::from_secs(5)));
        expiring.lapse(t0 + Duration::from_secs(15));
        assert!(expiring.is_empty());
    }
}
