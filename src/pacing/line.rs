//! The line of objects waiting to send: served in order of arrival at the rate the
//! [`RateFinder`] allows. A waiting object holds no reconcile slot; when its turn comes it is
//! granted the send and woken (a reconcile trigger), so a change of rate applies from the
//! next grant instead of to slots booked long before.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tracing::info;

use crate::api::resource::ContactChannelActivation;
use crate::pacing::bucket::{RateSettings, seconds};
use crate::pacing::expiring::Expiring;
use crate::pacing::rate_search::RateFinder;

pub type Wake = ObjectRef<DeserializeGuard<ContactChannelActivation>>;

/// A grant not used within this long lapses (its object was deleted or changed meanwhile).
const GRANT_LIFETIME: Duration = Duration::from_secs(30);
/// Entries kept waiting; far above any real fleet, it only stops a runaway.
const CAPACITY: usize = 100_000;
/// Longest wait of a call for its spacing: the intent is already written, and the in-flight
/// window must stay short.
pub const MAX_CALL_SPACING_WAIT: Duration = Duration::from_millis(500);
/// Wake-ups buffered for a slow controller; one lost is caught by the waiter's fallback requeue.
pub const WAKE_BUFFER: usize = 4096;

/// Leave to make one call; its grant time tells a throttle of this call from older ones.
#[derive(Clone, Copy, Debug)]
pub struct Permit {
    granted_at: Instant,
}

struct Waiter {
    seq: u64,
    wake: Wake,
}

struct State {
    finder: RateFinder,
    /// In order of arrival; entries whose sequence no longer matches `waiting` left the line.
    line: VecDeque<(u64, String)>,
    waiting: HashMap<String, Waiter>,
    granted: Expiring,
    next_seq: u64,
    /// The earliest start of the next call: calls go out at least one interval of the rate
    /// apart, whatever bunching the status writes between grant and call made.
    next_call: Option<Instant>,
}

/// Where an object joins the line.
enum Place {
    Front,
    Back,
}

impl State {
    /// Puts the object in line under a new sequence number (any older place lapses).
    fn join(&mut self, uid: &str, wake: Wake, place: Place) {
        let seq = self.next_seq;
        self.next_seq = seq.saturating_add(1);
        let entry = (seq, uid.to_owned());
        match place {
            Place::Front => self.line.push_front(entry),
            Place::Back => self.line.push_back(entry),
        }
        self.waiting.insert(uid.to_owned(), Waiter { seq, wake });
    }

    fn live_head(&mut self) -> Option<String> {
        while let Some((seq, uid)) = self.line.front() {
            if self.waiting.get(uid).is_some_and(|w| w.seq == *seq) {
                return Some(uid.clone());
            }
            self.line.pop_front();
        }
        None
    }
}

pub struct SendLine {
    state: Mutex<State>,
    arrived: Notify,
    wakes: broadcast::Sender<Wake>,
}

impl SendLine {
    pub fn new(settings: RateSettings) -> Self {
        let (wakes, _) = broadcast::channel(WAKE_BUFFER);
        Self::with_wakes(settings, wakes)
    }

    /// A line whose grants wake objects through `wakes` (shared by the lines of all scopes).
    pub fn with_wakes(settings: RateSettings, wakes: broadcast::Sender<Wake>) -> Self {
        Self {
            state: Mutex::new(State {
                finder: RateFinder::new(settings, Instant::now()),
                line: VecDeque::new(),
                waiting: HashMap::new(),
                granted: Expiring::new(GRANT_LIFETIME),
                next_seq: 0,
                next_call: None,
            }),
            arrived: Notify::new(),
            wakes,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update; the line stays usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The objects granted their turn, to be woken by the controllers.
    pub fn wakes(&self) -> broadcast::Receiver<Wake> {
        self.wakes.subscribe()
    }

    /// The object's turn to send: at once when it was granted, or when nobody waits and the
    /// rate allows; else it joins (or keeps its place in) the line, and `Err` gives a fallback
    /// requeue in case its wake-up is lost.
    pub fn take_turn(&self, uid: &str, wake: Wake) -> Result<Permit, Duration> {
        let now = Instant::now();
        let mut state = self.state();
        if let Some(granted_at) = state.granted.remove(uid) {
            return Ok(Permit { granted_at });
        }
        if !state.waiting.contains_key(uid) {
            if state.live_head().is_none() && state.finder.try_take(now).is_ok() {
                return Ok(Permit { granted_at: now });
            }
            if state.waiting.len() >= CAPACITY {
                return Err(Duration::from_secs(60));
            }
            state.join(uid, wake, Place::Back);
            self.arrived.notify_one();
        }
        // Long enough for everyone in line at the current rate, plus margin.
        let everyone = state.waiting.len() as f64 / state.finder.rate();
        Err(seconds(everyone).saturating_add(Duration::from_secs(10)))
    }

    /// Checks, before the call is announced, that no throttle has lowered the rate since the
    /// grant: a stale grant was given at a rate now known to be too high, so the object goes
    /// back to the head of the line instead of adding to the throttling.
    pub fn confirm(&self, uid: &str, permit: Permit, wake: Wake) -> Result<(), Duration> {
        let mut state = self.state();
        if !state.finder.decreased_since(permit.granted_at) {
            return Ok(());
        }
        state.join(uid, wake, Place::Front);
        self.arrived.notify_one();
        Err(Duration::from_secs(10))
    }

    /// How long the call about to start waits so that it starts one interval of the current
    /// rate after the previous call at least (never more than [`MAX_CALL_SPACING_WAIT`]).
    /// Grants are paced, but the intent write between grant and call takes a varying time,
    /// so calls bunch; a quota that admits only small bursts throttles a bunch although the
    /// average rate is under the quota, and the search would take that for the quota.
    pub fn call_wait(&self) -> Duration {
        let now = Instant::now();
        let mut state = self.state();
        let interval = seconds(1.0 / state.finder.rate());
        let at = state.next_call.map_or(now, |next| next.max(now));
        let wait = at.saturating_duration_since(now).min(MAX_CALL_SPACING_WAIT);
        state.next_call = Some(now + wait + interval);
        wait
    }

    /// The object no longer needs its turn (it decided not to send, or it is gone).
    pub fn leave(&self, uid: &str) {
        let mut state = self.state();
        state.waiting.remove(uid);
        state.granted.remove(uid);
    }

    pub fn waiting(&self) -> usize {
        self.state().waiting.len()
    }

    pub fn on_throttle(&self, permit: Permit) {
        let mut state = self.state();
        let before = state.finder.rate();
        state.finder.on_throttle(permit.granted_at, Instant::now());
        let finder = &state.finder;
        if finder.rate() < before {
            info!(
                from = before,
                to = finder.rate(),
                held = finder.held(),
                throttled = finder.throttled(),
                "throttled by AWS: send rate lowered"
            );
        }
    }

    pub fn on_success(&self, permit: Permit) {
        self.state().finder.on_success(permit.granted_at);
    }

    /// The search's state: the current rate, the highest that held, the lowest throttled.
    pub fn rates(&self) -> (f64, f64, Option<f64>) {
        let state = self.state();
        let finder = &state.finder;
        (finder.rate(), finder.held(), finder.throttled())
    }

    /// Grants the head of the line its turn if the rate allows: `None` when nobody waits,
    /// else how long until the next grant may go.
    fn grant_next(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.state();
        state.granted.lapse(now);
        let uid = state.live_head()?;
        if let Err(wait) = state.finder.try_take(now) {
            return Some(wait);
        }
        state.line.pop_front();
        let waiter = state.waiting.remove(&uid);
        state.granted.insert(&uid, now);
        // Nobody listening only means no controller runs yet.
        if let Some(waiter) = waiter {
            let _ = self.wakes.send(waiter.wake);
        }
        Some(Duration::ZERO)
    }

    /// Grants turns in order of arrival at the allowed rate, until the process ends.
    pub async fn serve(&self) {
        loop {
            match self.grant_next() {
                None => self.arrived.notified().await,
                Some(wait) if wait.is_zero() => tokio::task::yield_now().await,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> SendLine {
        SendLine::new(RateSettings {
            max_rate: 1.0,
            min_rate: 0.1,
            burst: 1.0,
        })
    }

    fn wake(name: &str) -> Wake {
        ObjectRef::new(name).within("ns")
    }

    fn serving(line: &std::sync::Arc<SendLine>) -> tokio::task::JoinHandle<()> {
        let line = line.clone();
        tokio::spawn(async move { line.serve().await })
    }

    #[tokio::test(start_paused = true)]
    /// The first asker goes at once; the next wait in order and are woken when granted.
    async fn served_in_order_of_arrival() {
        let line = std::sync::Arc::new(line());
        let mut wakes = line.wakes();
        assert!(line.take_turn("a", wake("a")).is_ok());
        assert!(line.take_turn("b", wake("b")).is_err());
        assert!(line.take_turn("c", wake("c")).is_err());
        // Asking again keeps the place.
        assert!(line.take_turn("b", wake("b")).is_err());
        assert_eq!(line.waiting(), 2);
        let serving = serving(&line);
        assert_eq!(wakes.recv().await.unwrap().name, "b");
        assert!(line.take_turn("b", wake("b")).is_ok());
        assert_eq!(wakes.recv().await.unwrap().name, "c");
        serving.abort();
    }

    #[tokio::test(start_paused = true)]
    /// Calls that reach the call together are spread one interval of the rate apart, and a
    /// call after a quiet spell goes at once.
    async fn calls_are_spaced_at_the_rate() {
        let line = SendLine::new(RateSettings {
            max_rate: 40.0,
            min_rate: 0.1,
            burst: 4.0,
        });
        // Slow start: a quarter of the ceiling, ten calls a second.
        let interval = seconds(1.0 / line.rates().0);
        assert_eq!(line.call_wait(), Duration::ZERO);
        assert_eq!(line.call_wait(), interval);
        assert_eq!(line.call_wait(), interval * 2);
        // Never longer than the bound, however many bunch up.
        for _ in 0..10 {
            assert!(line.call_wait() <= MAX_CALL_SPACING_WAIT);
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(line.call_wait(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    /// One that leaves the line loses its place and is never woken.
    async fn leaving_gives_up_the_place() {
        let line = std::sync::Arc::new(line());
        let mut wakes = line.wakes();
        assert!(line.take_turn("a", wake("a")).is_ok());
        assert!(line.take_turn("b", wake("b")).is_err());
        assert!(line.take_turn("c", wake("c")).is_err());
        line.leave("b");
        let serving = serving(&line);
        assert_eq!(wakes.recv().await.unwrap().name, "c");
        assert_eq!(line.waiting(), 0);
        serving.abort();
    }

    #[tokio::test(start_paused = true)]
    /// A grant older than a throttle is not used: its object goes back to the head of the line.
    async fn stale_grant_goes_back_to_the_head() {
        let line = std::sync::Arc::new(line());
        let mut wakes = line.wakes();
        let permit = line.take_turn("a", wake("a")).unwrap();
        assert!(line.take_turn("b", wake("b")).is_err());
        tokio::time::advance(Duration::from_millis(10)).await;
        line.on_throttle(permit);
        assert!(line.confirm("a", permit, wake("a")).is_err());
        assert_eq!(line.waiting(), 2);
        let serving = serving(&line);
        assert_eq!(wakes.recv().await.unwrap().name, "a");
        let regranted = line.take_turn("a", wake("a")).unwrap();
        assert!(line.confirm("a", regranted, wake("a")).is_ok());
        serving.abort();
    }
}
