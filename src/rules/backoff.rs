//! Per-object retry delays: exponential backoff with jitter, never sooner than AWS asked.

use std::time::Duration;

use crate::api::reason::Retry;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First delay after a transient failure (throttling, 5xx, broken answer).
    pub fast_base: Duration,
    pub fast_max: Duration,
    /// First delay after a failure that needs a fix outside the operator (IAM, KMS, quota,
    /// a channel not created yet): long, so that a broken object costs little.
    pub slow_base: Duration,
    pub slow_max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            fast_base: Duration::from_secs(1),
            fast_max: Duration::from_secs(300),
            slow_base: Duration::from_secs(60),
            slow_max: Duration::from_secs(3600),
        }
    }
}

impl BackoffPolicy {
    /// The delay before retrying after failed attempt number `attempt` (1-based).
    ///
    /// `jitter` is a sample from [0, 1); it spreads retries over the upper half of the
    /// exponential delay ("equal jitter") so objects that failed together do not retry together.
    /// A `retry_after` from AWS is a floor: the retry never comes sooner.
    pub fn delay(
        &self,
        retry: Retry,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let (base, max) = match retry {
            Retry::Never => return None,
            Retry::Fast => (self.fast_base, self.fast_max),
            Retry::Slow => (self.slow_base, self.slow_max),
        };
        // NaN fails every comparison and would survive clamp.
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let exponent = attempt.saturating_sub(1).min(30);
        let full = base.saturating_mul(1u32 << exponent).min(max);
        let jittered = scale(full, 0.5 + 0.5 * jitter);
        let floor = retry_after.map(|after| scale(after.min(MAX_RETRY_AFTER), 1.0 + 0.2 * jitter));
        Some(floor.map_or(jittered, |floor| floor.max(jittered)))
    }

    /// The longest delay this policy can ever produce: a scheduled retry further out than
    /// this was not written by this policy.
    pub fn ceiling(&self) -> Duration {
        let longest = self.fast_max.max(self.slow_max).max(MAX_RETRY_AFTER);
        scale(longest, 1.2).saturating_add(Duration::from_secs(1))
    }
}

/// The longest RetryAfterSeconds honoured: AWS sends seconds to minutes; a larger value is
/// not a plan to retry in years, and must not park an object forever.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `duration * factor`, saturating instead of panicking (`Duration::mul_f64` panics on
/// overflow).
fn scale(duration: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    /// Fast delays double from the base and stop at the cap.
    fn fast_doubles_until_cap() {
        let policy = BackoffPolicy::default();
        let upper = |n| policy.delay(Retry::Fast, n, None, 0.999_999).unwrap();
        assert!(upper(1) <= SECOND && upper(1) > SECOND / 2);
        assert!(upper(2) <= 2 * SECOND && upper(2) > SECOND);
        assert!(upper(4) <= 8 * SECOND && upper(4) > 4 * SECOND);
        assert!(upper(40) <= policy.fast_max);
        assert_eq!(policy.delay(Retry::Fast, 3, None, 0.0), Some(2 * SECOND));
    }

    #[test]
    /// Slow delays start at a minute: a missing IAM permission does not hammer AWS.
    fn slow_starts_long() {
        let policy = BackoffPolicy::default();
        assert_eq!(policy.delay(Retry::Slow, 1, None, 0.0), Some(30 * SECOND));
        assert_eq!(
            policy.delay(Retry::Slow, 30, None, 0.0),
            Some(policy.slow_max / 2)
        );
    }

    #[test]
    /// Terminal failures get no retry at all.
    fn never_means_none() {
        assert_eq!(
            BackoffPolicy::default().delay(Retry::Never, 1, Some(SECOND), 0.5),
            None
        );
    }

    #[test]
    /// RetryAfterSeconds wins over a shorter backoff.
    fn retry_after_is_a_floor() {
        let policy = BackoffPolicy::default();
        let delay = policy
            .delay(Retry::Fast, 1, Some(30 * SECOND), 0.0)
            .unwrap();
        assert_eq!(delay, 30 * SECOND);
    }

    proptest! {
        #[test]
        /// Whatever the attempt and jitter, the delay respects RetryAfter and the cap.
        fn delay_bounds(attempt in 0u32..200, jitter in 0.0f64..1.0, after in proptest::option::of(0u64..600)) {
            let policy = BackoffPolicy::default();
            let after = after.map(Duration::from_secs);
            for retry in [Retry::Fast, Retry::Slow] {
                let delay = policy.delay(retry, attempt, after, jitter).unwrap();
                if let Some(after) = after {
                    prop_assert!(delay >= after);
                }
                let cap = if retry == Retry::Fast { policy.fast_max } else { policy.slow_max };
                prop_assert!(delay <= cap.max(after.unwrap_or_default().mul_f64(1.2)));
            }
        }
    }
}
