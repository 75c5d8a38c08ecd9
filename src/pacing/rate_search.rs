//! Finds the highest send rate AWS accepts without throttling, without knowing the quota.
//!
//! The rate starts at a quarter of the ceiling (`--send-rate`) and doubles each second up to
//! it, so that few calls are on their way when the first throttle answers. A throttle marks the rate it came at as too
//! high and drops below it: to half while nothing has held yet, else to the highest rate
//! that held, and never less than a tenth below the throttled rate (so that the quota's
//! burst refills). A rate that carries the demand for a whole hold period without a throttle
//! has held; the search then tries halfway to the lowest throttled rate, and stops once the
//! two are within a few percent. Once settled it probes upward now and then (a quota raised
//! by AWS support is found without a restart), and waits twice as long after each probe
//! that ends in a throttle. Throttles answering calls granted before the last decrease say
//! nothing about the new rate and are ignored, so one storm counts once.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::pacing::bucket::{Bucket, RateSettings, seconds};

/// How long a rate must carry the demand without a throttle to count as held: a second, or
/// as long as [`HOLD_SENDS`] sends take at a higher rate.
const HOLD: Duration = Duration::from_secs(1);
const HOLD_SENDS: f64 = 20.0;
/// Below this share under the throttled rate a rate holds after [`HOLD`], closer it takes longer.
const HOLD_GAP: f64 = 0.1;
/// The search stops when the lowest throttled rate is within this share above the held one.
const CLOSE_ENOUGH: f64 = 0.03;
/// After a throttle the rate is at most this share of the throttled rate.
const BELOW_THROTTLED: f64 = 0.9;
/// The rate starts at this fraction of the ceiling and doubles each hold until the first
/// throttle: a quota far below the ceiling is then met with few calls on their way.
const SLOW_START: f64 = 4.0;
/// Each step of an upward probe.
const PROBE_STEP: f64 = 1.1;
const FIRST_PROBE_AFTER: Duration = Duration::from_secs(30);
const LONGEST_PROBE_WAIT: Duration = Duration::from_secs(300);
/// The shortest time between two throttles that measures the quota (one call more or less
/// is then a small error).
const MEASURE_WINDOW: Duration = Duration::from_secs(2);
/// A measurement at least this share of the slowest rate in its window is this side's own
/// pace, not the quota's.
const OWN_PACE: f64 = 0.95;
/// Accepted calls remembered for a measurement; beyond, the window is dropped.
const WINDOW_CAPACITY: usize = 65_536;

#[derive(Debug)]
pub struct RateFinder {
    settings: RateSettings,
    bucket: Bucket,
    /// The highest rate that held since the last throttle at or below it.
    held: f64,
    /// The lowest rate throttled since the last probe began.
    throttled: Option<f64>,
    /// When the current rate was set, and the sends granted at it since.
    since: Instant,
    granted: u32,
    decreased_at: Option<Instant>,
    probe_wait: Duration,
    probe_at: Option<Instant>,
    /// While probing: the lowest throttled rate before the probe, restored if it fails.
    before_probe: Option<f64>,
    /// The grant time of the last throttled call (the quota's bucket was empty then), and
    /// the grant times of the calls accepted since: between two throttles the accepted calls
    /// are what the quota refilled, so they measure it.
    window_start: Option<Instant>,
    accepted: VecDeque<Instant>,
    /// The lowest rate granted at since the window started: a window that measures no less
    /// than it measured this side's own pace, not the quota.
    window_min_rate: f64,
    /// The demand fell short of the rate in the window: the quota refilled unused.
    quiet: bool,
}

impl RateFinder {
    pub fn new(settings: RateSettings, now: Instant) -> Self {
        let settings = settings.sane();
        Self {
            settings,
            bucket: Bucket::new(
                (settings.max_rate / SLOW_START).max(settings.min_rate),
                // One grant an interval, never a burst: AWS does not say how large the
                // quota's bucket is, and one smaller than a burst throttles a rate it admits.
                1.0,
                now,
            ),
            held: settings.min_rate,
            throttled: None,
            since: now,
            granted: 0,
            decreased_at: None,
            probe_wait: FIRST_PROBE_AFTER,
            probe_at: None,
            before_probe: None,
            window_start: None,
            accepted: VecDeque::new(),
            window_min_rate: f64::INFINITY,
            quiet: false,
        }
    }

    pub fn rate(&self) -> f64 {
        self.bucket.rate()
    }

    /// The highest rate that held.
    pub fn held(&self) -> f64 {
        self.held
    }

    /// The lowest rate throttled in the current search, if any.
    pub fn throttled(&self) -> Option<f64> {
        self.throttled
    }

    /// Grants a send now, or says how long until one may go.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.step(now);
        self.bucket.try_take(now)?;
        self.granted = self.granted.saturating_add(1);

        Ok(())
    }

    fn set_rate(&mut self, rate: f64, now: Instant) {
        let rate = rate.clamp(self.settings.min_rate, self.settings.max_rate);
        self.window_min_rate = self.window_min_rate.min(rate);
        self.bucket.set_rate(rate, now);
        self.since = now;
        self.granted = 0;
    }

    /// Moves the search on once the current rate has been tried for a hold period.
    fn step(&mut self, now: Instant) {
        let rate = self.rate();
        let hold = self.hold(rate);
        if now.saturating_duration_since(self.since) < hold {
            return;
        }
        // Without the demand to use the rate, holding it says nothing.
        let demand = f64::from(self.granted) >= 0.5 * rate * hold.as_secs_f64();
        if !demand {
            self.quiet = true;
            self.set_rate(rate, now);
            return;
        }
        // Before the first throttle the quota's burst may be carrying the rate: that it held
        // then proves nothing.
        if self.throttled.is_some() || self.before_probe.is_some() {
            self.held = self.held.max(rate);
        }
        let next = match self.throttled {
            Some(throttled) if throttled - rate > CLOSE_ENOUGH * throttled => {
                (rate + throttled) / 2.0
            }
            Some(_) => {
                let probe_at = *self
                    .probe_at
                    .get_or_insert_with(|| now.checked_add(self.probe_wait).unwrap_or(now));
                if now < probe_at {
                    rate
                } else {
                    self.before_probe = self.throttled.take();
                    self.probe_at = None;
                    rate * PROBE_STEP
                }
            }
            // Never throttled yet: slow start, doubling up to the ceiling.
            None if self.before_probe.is_none() && self.decreased_at.is_none() => rate * 2.0,
            None => rate * PROBE_STEP,
        };
        if next >= self.settings.max_rate {
            // Nothing left to find: the next probe, if one is needed, starts afresh.
            self.probe_wait = FIRST_PROBE_AFTER;
        }
        self.set_rate(next, now);
    }

    /// How long `rate` must hold: longer the closer it is to a throttled rate, since the
    /// quota's burst can hide a small excess for a while.
    fn hold(&self, rate: f64) -> Duration {
        let gap = self
            .throttled
            .map_or(1.0, |throttled| (throttled - rate) / throttled);
        // At a high rate fewer seconds give as many sends to judge by.
        let base = (HOLD_SENDS / rate).clamp(0.25, HOLD.as_secs_f64());
        seconds(base * (HOLD_GAP / gap.max(CLOSE_ENOUGH)).clamp(1.0, 10.0))
    }

    /// A call granted at `granted_at` was accepted.
    pub fn on_success(&mut self, granted_at: Instant) {
        if self.window_start.is_some_and(|start| granted_at > start) {
            if self.accepted.len() >= WINDOW_CAPACITY {
                self.window_start = None;
                self.accepted.clear();
                return;
            }
            self.accepted.push_back(granted_at);
        }
    }

    /// The quota as measured between the previous throttle and this one, when the window is
    /// long enough and the demand filled it; the window then starts anew.
    fn measure(&mut self, granted_at: Instant) -> Option<f64> {
        let start = self.window_start.replace(granted_at);
        let quiet = std::mem::take(&mut self.quiet);
        let accepted = self.accepted.iter().filter(|&&at| at < granted_at).count();
        self.accepted.retain(|&at| at > granted_at);
        let rate = self.rate();
        let paced_at = std::mem::replace(&mut self.window_min_rate, rate);
        let window = granted_at.saturating_duration_since(start?);
        if quiet || window < MEASURE_WINDOW {
            return None;
        }
        let measured = accepted as f64 / window.as_secs_f64();
        // As many as this side sent at its slowest: the quota's bucket was not empty all
        // along (a burst it is too small for emptied it), so the count says nothing of it.
        (measured < OWN_PACE * paced_at).then_some(measured)
    }

    /// The rate was lowered after `granted_at`.
    pub fn decreased_since(&self, granted_at: Instant) -> bool {
        self.decreased_at.is_some_and(|at| granted_at < at)
    }

    /// A call granted at `granted_at` was throttled.
    pub fn on_throttle(&mut self, granted_at: Instant, now: Instant) {
        let measured = self.measure(granted_at);
        if self.decreased_since(granted_at) {
            return;
        }
        let rate = self.rate();
        if let Some(before) = self.before_probe.take() {
            // The probe found nothing: back to what was known, and a longer wait until the next.
            self.probe_wait = self.probe_wait.saturating_mul(2).min(LONGEST_PROBE_WAIT);
            self.throttled = Some(before);
        }
        let throttled = self.throttled.map_or(rate, |t| t.min(rate));
        let next = match measured {
            // Settle just under the measured quota: the search is over.
            Some(quota) => {
                let quota = quota.min(rate);
                self.throttled = Some(quota);
                self.held = quota * (1.0 - CLOSE_ENOUGH);
                self.held
            }
            _ => {
                self.throttled = Some(throttled);
                self.held = self.held.min(throttled * BELOW_THROTTLED);
                self.held.max(rate / 2.0).min(rate * BELOW_THROTTLED)
            }
        };
        self.probe_at = None;
        self.set_rate(next, now);
        self.bucket.drain(now);
        self.decreased_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_rate: f64) -> RateSettings {
        RateSettings {
            max_rate,
            min_rate: 0.2,
            burst: 10.0,
        }
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    /// Far above the quota, each fresh throttle halves the rate; the answers to calls granted
    /// before a decrease do not decrease it again.
    fn throttles_halve_once_per_decrease() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        let before = t0 + ms(5);
        // Slow start: a quarter of the ceiling.
        assert_eq!(finder.rate(), 25.0);
        finder.on_throttle(before, t0 + ms(10));
        assert_eq!(finder.rate(), 12.5);
        finder.on_throttle(before, t0 + ms(12));
        assert_eq!(finder.rate(), 12.5);
        finder.on_throttle(t0 + ms(30), t0 + ms(31));
        assert_eq!(finder.rate(), 6.25);
        assert_eq!(finder.throttled(), Some(12.5));
    }

    /// Grants every send the finder allows from `from` for `length`.
    fn run(finder: &mut RateFinder, from: Instant, length: Duration) -> u32 {
        let mut now = from;
        let mut sent = 0;
        while now < from + length {
            match finder.try_take(now) {
                Ok(()) => {
                    finder.on_success(now);
                    sent += 1;
                }
                Err(wait) => now += wait.max(ms(1)),
            }
        }
        sent
    }

    #[test]
    /// A rate that carries the demand for a hold period holds; the search then tries halfway
    /// to the throttled rate, and stays once the two are close.
    fn held_rates_climb_towards_the_throttled_one() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        finder.on_throttle(t0, t0);
        finder.on_throttle(t0, t0 + ms(1));
        assert_eq!(finder.rate(), 6.25);
        run(&mut finder, t0 + ms(1), Duration::from_secs(15));
        assert!(finder.held() >= 6.25, "{finder:?}");
        let rate = finder.rate();
        assert!(rate > 12.0 && rate < 12.5, "{finder:?}");
    }

    #[test]
    /// Without demand nothing is learnt: an idle operator keeps its rate.
    fn idle_keeps_the_rate() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        finder.on_throttle(t0, t0);
        let _ = finder.try_take(t0 + Duration::from_secs(5));
        assert_eq!(finder.rate(), 12.5);
    }

    #[test]
    /// Settled, the finder probes upward after a while; a probe ending in a throttle doubles
    /// the wait before the next.
    fn probes_upward_and_backs_off() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        finder.on_throttle(t0, t0);
        finder.on_throttle(t0, t0 + ms(1));
        let mut now = t0 + ms(1);
        run(&mut finder, now, Duration::from_secs(10));
        now += Duration::from_secs(10);
        let settled = finder.rate();
        run(&mut finder, now, FIRST_PROBE_AFTER + Duration::from_secs(3));
        now += FIRST_PROBE_AFTER + Duration::from_secs(3);
        assert!(finder.rate() > settled, "{finder:?}");
        assert_eq!(finder.throttled(), None);
        finder.on_throttle(now, now);
        assert_eq!(finder.probe_wait, FIRST_PROBE_AFTER * 2);
    }

    #[test]
    /// Two throttles far enough apart measure the quota: what was accepted between them. The
    /// rate settles just under it.
    fn throttles_apart_measure_the_quota() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        finder.on_throttle(t0, t0);
        // 4 accepted calls a second for 5 s.
        for i in 0..20 {
            finder.on_success(t0 + ms(125 + 250 * i));
        }
        let now = t0 + Duration::from_secs(5);
        finder.on_throttle(now, now);
        assert_eq!(finder.throttled(), Some(4.0));
        assert!(
            (finder.rate() - 4.0 * (1.0 - CLOSE_ENOUGH)).abs() < 1e-9,
            "{finder:?}"
        );
    }

    #[test]
    /// A throttle too soon after the last to measure anything lowers a held rate by a tenth,
    /// not by half.
    fn throttle_at_a_held_rate_lowers_it_a_little() {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(100.0), t0);
        finder.on_throttle(t0, t0);
        run(&mut finder, t0, Duration::from_secs(30));
        let now = t0 + Duration::from_secs(30);
        finder.on_throttle(now, now);
        let rate = finder.rate();
        let soon = now + ms(500);
        finder.on_throttle(soon, soon);
        assert!(
            (finder.rate() - rate * BELOW_THROTTLED).abs() < 1e-9,
            "{finder:?}"
        );
    }

    /// What a run against a token-bucket quota gives: the sends accepted and the throttles.
    struct Run {
        accepted: u32,
        throttled: u32,
    }

    /// Simulates `length` of sends against a quota of `quota` per second with a burst of as
    /// many and unlimited demand. Each granted call reaches AWS 10 to 40 ms later (the
    /// intent write and the network: calls granted in order may arrive bunched) and is
    /// answered 5 ms after that.
    fn against_quota(quota: f64, burst: f64, ceiling: f64, length: Duration) -> Run {
        let t0 = Instant::now();
        let mut finder = RateFinder::new(settings(ceiling), t0);
        let mut aws = Bucket::new(quota, burst, t0);
        // The send line spaces calls one interval apart right before they go (at most
        // half a second's wait), as SendLine::call_wait does.
        let mut next_call = t0;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut delay = move || {
            // xorshift: a fixed sequence, so the run is the same every time.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ms(10 + seed % 31)
        };
        let latency = ms(5);
        let mut arrivals: Vec<(Instant, Instant)> = Vec::new();
        let mut answers: VecDeque<(Instant, Instant, bool)> = VecDeque::new();
        let (mut now, mut result) = (
            t0,
            Run {
                accepted: 0,
                throttled: 0,
            },
        );
        // MODEL_TRACE=1 prints the search every 5 s of the run, to see where it goes.
        let mut report = t0;
        while now < t0 + length {
            if now >= report && std::env::var_os("MODEL_TRACE").is_some() {
                eprintln!(
                    "  t={:?} rate={:.2} held={:.2} throttled={:?} accepted={} throttled calls={}",
                    now - t0,
                    finder.rate(),
                    finder.held(),
                    finder.throttled(),
                    result.accepted,
                    result.throttled
                );
                report += Duration::from_secs(5);
            }
            while let Some(&(at, granted, ok)) = answers.front()
                && at <= now
            {
                answers.pop_front();
                if !ok {
                    finder.on_throttle(granted, at);
                }
            }
            // Calls reach AWS in order of arrival, not of grant.
            arrivals.sort_by_key(|&(at, _)| std::cmp::Reverse(at));
            while let Some(&(at, granted)) = arrivals.last()
                && at <= now
            {
                arrivals.pop();
                let ok = aws.try_take(at).is_ok();
                if ok {
                    finder.on_success(granted);
                    result.accepted += 1;
                } else {
                    result.throttled += 1;
                }
                answers.push_back((at + latency, granted, ok));
            }
            match finder.try_take(now) {
                Ok(()) => {
                    let ready = now + delay();
                    let at = ready.max(next_call).min(ready + ms(500));
                    next_call = at + seconds(1.0 / finder.rate());
                    arrivals.push((at, now));
                }
                Err(wait) => now += wait.clamp(ms(1), latency),
            }
        }
        result
    }

    #[test]
    /// Against a quota it does not know, with a ceiling ten times higher, the finder sends
    /// close to the quota with few throttles, at a quota of 10/s and of 50/s.
    fn finds_an_unknown_quota() {
        // Quotas whose bucket is as large as a second's calls, and quotas that admit only
        // small bursts (AWS does not say which it has).
        let mut failed = Vec::new();
        for (quota, burst) in [
            (10.0, 10.0),
            (10.0, 5.0),
            (10.0, 1.0),
            (40.0, 40.0),
            (40.0, 5.0),
            (40.0, 1.0),
            (50.0, 50.0),
        ] {
            let length = Duration::from_secs(100);
            let run = against_quota(quota, burst, 100.0, length);
            let ideal = quota * length.as_secs_f64();
            let share = f64::from(run.accepted) / ideal;
            let throttled = f64::from(run.throttled) / f64::from(run.accepted + run.throttled);
            eprintln!(
                "quota {quota} burst {burst}: {} accepted ({share:.3} of ideal), {} throttled ({:.2}%)",
                run.accepted,
                run.throttled,
                100.0 * throttled
            );
            if share <= 0.95 || throttled >= 0.01 {
                failed.push(format!(
                    "quota {quota} burst {burst}: {share:.3}, {throttled:.4}"
                ));
            }
        }
        assert!(failed.is_empty(), "{failed:?}");
    }
}
