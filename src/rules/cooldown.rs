//! Per-channel limits, as pure time arithmetic: at least `cooldown` between two sends to a
//! channel and at most `per_hour` in any rolling hour, whichever objects made them.

use std::time::Duration;

use jiff::Timestamp;

/// The rolling window of the hourly cap.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// How far ahead of this clock a recorded call may lie (replicas' clocks differ a little).
/// A later time was not written by a call: it is ignored, so that a status edited by hand
/// or restored from elsewhere cannot block a channel for years.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Whether a call recorded as started at `at` still counts at `now`: inside the last
/// `memory`, and not further ahead than clocks can differ.
pub fn counts(at: Timestamp, now: Timestamp, memory: Duration) -> bool {
    let horizon = now.checked_sub(memory).unwrap_or(Timestamp::MIN);
    let ahead = now.checked_add(MAX_CLOCK_SKEW).unwrap_or(Timestamp::MAX);
    at > horizon && at <= ahead
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelLimits {
    pub cooldown: Duration,
    pub per_hour: u32,
}

impl ChannelLimits {
    /// How long a send still counts for either limit.
    pub fn memory(&self) -> Duration {
        self.cooldown.max(WINDOW)
    }
}

/// The earliest time, not before `now`, at which a new send to the channel may start, given
/// the start times of the sends it already had (in any order).
pub fn next_free(sends: &[Timestamp], limits: &ChannelLimits, now: Timestamp) -> Timestamp {
    let mut sorted = sends.to_vec();
    sorted.sort_unstable();
    next_free_sorted(&sorted, limits, now)
}

/// [`next_free`] for sends sorted oldest first: constant time.
fn next_free_sorted(sorted: &[Timestamp], limits: &ChannelLimits, now: Timestamp) -> Timestamp {
    let per_hour = usize::try_from(limits.per_hour).unwrap_or(usize::MAX);
    if per_hour == 0 {
        return Timestamp::MAX;
    }
    let mut free = now;
    // Even a cooldown of zero keeps the second a status time may be short by: two calls of
    // one object in one second would read as one (calls are told apart by object and second).
    if let Some(last) = sorted.last() {
        free = free.max(later(*last, limits.cooldown));
    }
    // A new send may start once the `per_hour`-th newest send has left the window.
    if let Some(oldest_counted) = sorted
        .len()
        .checked_sub(per_hour)
        .and_then(|index| sorted.get(index))
    {
        free = free.max(later(*oldest_counted, WINDOW));
    }
    free
}

/// The start time of the waiter at `position` in line (0 is first): each waiter ahead of it
/// takes its own slot first. Linear in the sends and the position: each slot is never
/// earlier than the one before, so the history stays sorted as the slots are appended.
pub fn slot(
    position: usize,
    sends: &[Timestamp],
    limits: &ChannelLimits,
    now: Timestamp,
) -> Timestamp {
    let mut sorted = sends.to_vec();
    sorted.sort_unstable();
    let mut at = next_free_sorted(&sorted, limits, now);
    for _ in 0..position {
        if at == Timestamp::MAX {
            break;
        }
        sorted.push(at);
        at = next_free_sorted(&sorted, limits, at);
    }
    at
}

fn later(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChannelLimits = ChannelLimits {
        cooldown: Duration::from_secs(60),
        per_hour: 5,
    };

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    /// A channel with no recent send is free now.
    fn quiet_channel_is_free() {
        assert_eq!(next_free(&[], &LIMITS, at(0)), at(0));
        assert_eq!(next_free(&[at(-600)], &LIMITS, at(0)), at(0));
    }

    #[test]
    /// The cooldown counts from the newest send, whatever the order given.
    fn cooldown_from_the_newest_send() {
        assert_eq!(next_free(&[at(-10), at(-50)], &LIMITS, at(0)), at(50));
    }

    #[test]
    /// The sixth send in an hour waits until the oldest of the five leaves the window.
    fn hourly_cap() {
        let five = [at(-3000), at(-2000), at(-1000), at(-500), at(-100)];
        assert_eq!(next_free(&five, &LIMITS, at(0)), at(600));
        // Older sends than the window do not count.
        let old = [at(-7200), at(-1000), at(-500), at(-100)];
        assert_eq!(next_free(&old, &LIMITS, at(0)), at(0));
    }

    #[test]
    /// Waiters in line get successive slots: one cooldown apart, then the cap's pause.
    fn slots_in_line() {
        assert_eq!(slot(0, &[at(-10)], &LIMITS, at(0)), at(50));
        assert_eq!(slot(1, &[at(-10)], &LIMITS, at(0)), at(110));
        assert_eq!(slot(3, &[], &LIMITS, at(0)), at(180));
        // Five sends fill the hour; the sixth waits for the first to age out.
        assert_eq!(slot(5, &[], &LIMITS, at(0)), at(3600));
        assert_eq!(slot(11, &[], &LIMITS, at(0)), at(7260));
    }

    #[test]
    /// A long line costs a step per waiter, not a pass over the line per waiter.
    fn long_lines_are_linear() {
        let fast = ChannelLimits {
            cooldown: Duration::from_secs(1),
            per_hour: 64,
        };
        // 100,000 waiters: a quadratic walk would take minutes here.
        let last = slot(100_000, &[at(0)], &fast, at(0));
        assert!(last > at(100_000), "{last}");
    }

    #[test]
    /// Calls count for the window, a little ahead for clock skew, and never from far ahead.
    fn which_calls_count() {
        assert!(counts(at(-3599), at(0), WINDOW));
        assert!(!counts(at(-3600), at(0), WINDOW));
        assert!(counts(at(30), at(0), WINDOW));
        assert!(!counts(at(61), at(0), WINDOW));
        assert!(!counts(Timestamp::MAX, at(0), WINDOW));
        assert!(!counts(Timestamp::MIN, at(0), WINDOW));
    }

    #[test]
    /// Extreme settings and times saturate instead of overflowing.
    fn extremes_saturate() {
        let forever = ChannelLimits {
            cooldown: Duration::MAX,
            per_hour: 1,
        };
        assert_eq!(next_free(&[at(0)], &forever, at(0)), Timestamp::MAX);
        assert_eq!(slot(1000, &[at(0)], &forever, at(0)), Timestamp::MAX);
        let none = ChannelLimits {
            cooldown: Duration::ZERO,
            per_hour: 0,
        };
        assert_eq!(next_free(&[], &none, at(0)), Timestamp::MAX);
        assert_eq!(next_free(&[Timestamp::MAX], &LIMITS, at(0)), Timestamp::MAX);
    }
}
