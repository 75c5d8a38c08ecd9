//! The send rate's token bucket (its rate set by [`crate::pacing::rate_search`]) and rate settings.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateSettings {
    /// Sends per second when nothing has been throttled.
    pub max_rate: f64,
    /// The floor that throttling never pushes the rate below.
    pub min_rate: f64,
    /// Sends that may go out at once after a quiet period.
    pub burst: f64,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            max_rate: 10.0,
            min_rate: 0.2,
            burst: 10.0,
        }
    }
}

impl RateSettings {
    /// The same settings made usable: positive rates, the floor under the ceiling, a burst of
    /// at least one.
    pub fn sane(self) -> Self {
        let max_rate = self.max_rate.max(f64::MIN_POSITIVE);
        Self {
            max_rate,
            min_rate: self.min_rate.clamp(f64::MIN_POSITIVE, max_rate),
            burst: self.burst.max(1.0),
        }
    }
}

/// A token bucket driven by explicit instants, so it can be tested without a clock.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            refilled_at: now,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled_at = now;
    }

    /// From now on tokens come at `rate`; those already earned stay.
    pub fn set_rate(&mut self, rate: f64, now: Instant) {
        self.refill(now);
        self.rate = rate.max(f64::MIN_POSITIVE);
    }

    /// Spends what was earned and one interval more: after a throttle the next send waits
    /// two intervals at the new rate, so that the quota's bucket, now empty, gets ahead.
    pub fn drain(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = -1.0;
    }

    /// Takes a token, or says how long until one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(seconds((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Seconds as a Duration, saturating instead of panicking on a value out of range.
pub fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// A full bucket allows the burst, then one token per interval.
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(10.0, 3.0, t0);
        for _ in 0..3 {
            assert!(bucket.try_take(t0).is_ok());
        }
        let wait = bucket.try_take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert!(bucket.try_take(t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    /// A new rate applies to the tokens still to come, not to those earned.
    fn rate_change_applies_from_now() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(10.0, 1.0, t0);
        assert!(bucket.try_take(t0).is_ok());
        let half = t0 + Duration::from_millis(50);
        bucket.set_rate(1.0, half);
        let wait = bucket.try_take(half).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    /// Nonsense settings are made usable rather than dividing by zero.
    fn settings_are_made_sane() {
        let sane = RateSettings {
            max_rate: 0.0,
            min_rate: 5.0,
            burst: 0.0,
        }
        .sane();
        assert!(sane.max_rate > 0.0 && sane.min_rate <= sane.max_rate);
        assert_eq!(sane.burst, 1.0);
    }
}
