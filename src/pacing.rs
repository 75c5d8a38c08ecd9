//! One send rate for the whole operator, which halves when AWS throttles and creeps back up
//! while calls succeed (additive increase, multiplicative decrease), so that 10,000 objects
//! applied at once become a steady stream instead of a throttling storm.

use std::sync::Mutex;
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

/// The token bucket itself, driven by explicit instants so it can be tested without a clock.
#[derive(Debug)]
pub struct AdaptiveBucket {
    settings: RateSettings,
    rate: f64,
    tokens: f64,
    refilled_at: Instant,
    last_decrease: Option<Instant>,
}

impl AdaptiveBucket {
    pub fn new(settings: RateSettings, now: Instant) -> Self {
        let settings = RateSettings {
            max_rate: settings.max_rate.max(f64::MIN_POSITIVE),
            min_rate: settings
                .min_rate
                .clamp(f64::MIN_POSITIVE, settings.max_rate),
            burst: settings.burst.max(1.0),
        };
        Self {
            settings,
            rate: settings.max_rate,
            tokens: settings.burst,
            refilled_at: now,
            last_decrease: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.settings.burst);
        self.refilled_at = now;
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

    /// Books the next send slot and says how long until it is due. Unlike [`try_take`], a
    /// booking always succeeds: the bucket goes into debt, so callers that wait their turn
    /// elsewhere (a requeue) are served in booking order instead of racing for each token.
    ///
    /// [`try_take`]: Self::try_take
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        // Bound the debt: a booking further out than an hour at the floor rate is not a plan.
        let floor = -(self.settings.min_rate * 3600.0);
        self.tokens = (self.tokens - 1.0).max(floor);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            seconds(-self.tokens / self.rate)
        }
    }

    /// Halves the rate. Throttles that arrive together are one signal, not many: the rate
    /// drops at most once per current send interval (and at least once a second).
    pub fn on_throttle(&mut self, now: Instant) {
        let window = seconds((1.0 / self.rate).min(1.0));
        if self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < window)
        {
            return;
        }
        self.refill(now);
        self.rate = (self.rate / 2.0).max(self.settings.min_rate);
        // Drain the burst so that the next sends follow the new, slower rate at once.
        self.tokens = self.tokens.min(0.0);
        self.last_decrease = Some(now);
    }

    /// Adds back a fiftieth of the full rate per success.
    pub fn on_success(&mut self, now: Instant) {
        self.refill(now);
        self.rate = (self.rate + self.settings.max_rate / 50.0).min(self.settings.max_rate);
    }
}

/// Seconds as a Duration, saturating instead of panicking on a value out of range.
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// The shared limiter every reconcile goes through before calling AWS.
#[derive(Debug)]
pub struct SendPacer {
    bucket: Mutex<AdaptiveBucket>,
}

impl SendPacer {
    pub fn new(settings: RateSettings) -> Self {
        Self {
            bucket: Mutex::new(AdaptiveBucket::new(settings, Instant::now())),
        }
    }

    fn with_bucket<T>(&self, f: impl FnOnce(&mut AdaptiveBucket) -> T) -> T {
        // A poisoned lock only means another task panicked mid-update; the numbers are still usable.
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut bucket)
    }

    /// Takes a token now, or says how long until one is there.
    pub fn try_take(&self) -> Result<(), Duration> {
        self.with_bucket(|b| b.try_take(Instant::now()))
    }

    /// Books a send slot; see [`AdaptiveBucket::reserve`].
    pub fn reserve(&self) -> Duration {
        self.with_bucket(|b| b.reserve(Instant::now()))
    }

    pub fn on_throttle(&self) {
        self.with_bucket(|b| b.on_throttle(Instant::now()));
    }

    pub fn on_success(&self) {
        self.with_bucket(|b| b.on_success(Instant::now()));
    }

    pub fn rate(&self) -> f64 {
        self.with_bucket(|b| b.rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RateSettings {
        RateSettings {
            max_rate: 10.0,
            min_rate: 0.5,
            burst: 3.0,
        }
    }

    #[test]
    /// A full bucket allows the burst, then one send per interval.
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        for _ in 0..3 {
            assert!(bucket.try_take(t0).is_ok());
        }
        let wait = bucket.try_take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert!(bucket.try_take(t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    /// Throttling halves the rate, down to the floor, and empties the burst.
    fn throttle_halves_to_floor() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        let mut now = t0;
        for expected in [5.0, 2.5, 1.25, 0.625, 0.5, 0.5] {
            now += Duration::from_secs(2);
            bucket.on_throttle(now);
            assert_eq!(bucket.rate(), expected);
        }
        assert!(bucket.try_take(now).is_err());
    }

    #[test]
    /// A burst of throttles answered together counts once.
    fn simultaneous_throttles_count_once() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        for _ in 0..20 {
            bucket.on_throttle(t0);
        }
        assert_eq!(bucket.rate(), 5.0);
    }

    #[test]
    /// Successes bring the rate back to, and not beyond, the maximum.
    fn success_recovers() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        bucket.on_throttle(t0);
        for _ in 0..24 {
            bucket.on_success(t0);
        }
        assert!(bucket.rate() > 9.0 && bucket.rate() < 10.0);
        for _ in 0..10 {
            bucket.on_success(t0);
        }
        assert_eq!(bucket.rate(), 10.0);
    }

    #[test]
    /// Bookings beyond the burst are spaced one interval apart, in booking order.
    fn reservations_queue_in_order() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(t0)).collect();
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [0, 0, 0, 100, 200, 300]);
        // Time passing pays the debt back.
        assert_eq!(
            bucket.reserve(t0 + Duration::from_millis(700)),
            Duration::ZERO
        );
    }

    #[test]
    /// However many bookings pile up, the wait stays bounded.
    fn debt_is_bounded() {
        let t0 = Instant::now();
        let mut bucket = AdaptiveBucket::new(settings(), t0);
        let last = (0..1_000_000).map(|_| bucket.reserve(t0)).last().unwrap();
        assert!(last <= Duration::from_secs(360), "{last:?}");
    }
}
