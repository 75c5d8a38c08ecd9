//! Who sent to which channel lately, and who waits for it.
//!
//! A channel's limits count codes that may have gone out: a call that succeeded or whose
//! outcome is unknown. They come from the cluster, so they hold across restarts, failover,
//! shards and deleted objects: the channel records in the operator's namespace
//! ([`crate::reconcile::records`]), every object's `status.recentSends`, and the call an object's status
//! announces as in flight (it may be sending right now; once its outcome is recorded it
//! either joins `recentSends` or, refused by AWS, counts no more). On top of that, this
//! process's own calls count from the moment they are made, and its bookings (a send decided
//! but not yet made, e.g. waiting for the global rate) hold the channel as if sent now, so
//! that two objects waiting together never pass the limits. Objects waiting for a channel
//! queue in order of arrival, each told its own slot.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;

use crate::api::arn::ChannelArn;
use crate::api::resource::ContactChannelActivation;
use crate::rules::cooldown::{self, ChannelLimits};

/// A booking not followed by a call within this time is dropped (the send path ended
/// without calling and without saying so).
const BOOKING_TTL: Duration = Duration::from_secs(300);
/// A waiter that does not come back this long after its slot has left the line.
const WAITER_TTL: Duration = Duration::from_secs(60);
/// How often every channel is pruned (one channel is pruned whenever it is booked).
const FULL_PRUNE_EVERY: Duration = Duration::from_secs(10);
/// Bound on the line of one channel; later arrivals get the last slot's successor.
const MAX_WAITERS: usize = 1000;

pub struct Channels {
    limits: ChannelLimits,
    sources: Mutex<HashSet<String>>,
    inner: Mutex<Inner>,
}

/// A call to a channel: which object made it, and when (to the second, as a status keeps
/// it, so the same call seen in memory, in a record and in a status counts once).
type Call = (String, i64);

#[derive(Default)]
struct Inner {
    /// channel key -> calls that may have sent a code, each once. They stay until they age
    /// out, whatever becomes of the objects that made them. A channel has a handful at most
    /// (its hourly cap), so a list.
    sent: HashMap<String, Vec<Call>>,
    /// object -> the call its status announces as in flight: (channel key, second). Replaced
    /// by each newer status, so a call that AWS refused stops counting once recorded.
    flights: HashMap<String, (String, i64)>,
    /// channel key -> this process's bookings not yet followed by a call.
    booked: HashMap<String, Vec<Booking>>,
    /// channel key -> objects waiting, in order of arrival.
    waiting: HashMap<String, Vec<Waiter>>,
    /// object -> the channel keys it holds bookings on, so that releasing one object's
    /// bookings does not walk every channel.
    booked_by: HashMap<String, HashSet<String>>,
    /// When everything was last pruned: a full pass walks every channel, so it runs now and
    /// then, not on every booking.
    pruned_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct Booking {
    uid: String,
    at: Timestamp,
}

#[derive(Clone, Debug)]
struct Waiter {
    uid: String,
    slot: Timestamp,
}

impl Channels {
    /// `sources` names what must be read once before any limit can be trusted (the channel
    /// records, each watched scope of objects).
    pub fn new(limits: ChannelLimits, sources: impl IntoIterator<Item = String>) -> Self {
        Self {
            limits,
            sources: Mutex::new(sources.into_iter().collect()),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn limits(&self) -> ChannelLimits {
        self.limits
    }

    /// `source` has been read once (or, for a scope of objects, cannot be read: its objects
    /// are not decided on, so they cannot hold up every other scope's sends).
    pub fn source_done(&self, source: &str) {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(source);
    }

    /// Every source has been read once: the recent calls are complete.
    pub fn is_synced(&self) -> bool {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Takes in what an object's status says about its calls (from the watch).
    pub fn observe(&self, object: &ContactChannelActivation, now: Timestamp) {
        let Some(uid) = object.metadata.uid.as_deref() else {
            return;
        };
        let status = object.status.as_ref();
        let memory = self.limits.memory();
        let sends: Vec<(String, Timestamp)> = status
            .into_iter()
            .flat_map(|status| status.recent_sends.iter())
            .filter(|send| cooldown::counts(send.time.0, now, memory))
            .filter_map(|send| {
                let channel = ChannelArn::parse(&send.contact_channel_id).ok()?;
                Some((channel.key(), send.time.0))
            })
            .collect();
        let flight = status
            .and_then(|status| status.send_in_flight.as_ref())
            .filter(|flight| cooldown::counts(flight.started_time.0, now, memory))
            .and_then(|flight| {
                let arn = flight
                    .contact_channel_id
                    .as_deref()
                    .unwrap_or(&object.spec.contact_channel_id);
                let channel = ChannelArn::parse(arn).ok()?;
                Some((channel.key(), flight.started_time.0.as_second()))
            });
        let mut inner = self.lock();
        for (key, at) in sends {
            inner.add_call(key, uid, at);
        }
        match flight {
            Some(flight) => inner.flights.insert(uid.to_owned(), flight),
            None => inner.flights.remove(uid),
        };
    }

    /// Takes in a channel record's calls (from the records' watch).
    pub fn observe_record(&self, key: &str, calls: &[(String, Timestamp)], now: Timestamp) {
        let memory = self.limits.memory();
        let mut inner = self.lock();
        for (uid, at) in calls
            .iter()
            .filter(|(_, at)| cooldown::counts(*at, now, memory))
        {
            inner.add_call(key.to_owned(), uid, *at);
        }
    }

    /// The object is gone: it waits for nothing. Its calls still count until they age out.
    pub fn forget(&self, uid: &str) {
        let mut inner = self.lock();
        for line in inner.waiting.values_mut() {
            line.retain(|w| w.uid != uid);
        }
        inner.flights.remove(uid);
        inner.release_everywhere(uid);
    }

    /// Books the channel for the object's next call, or says when its turn comes. Asking
    /// again while holding an unused booking keeps it (a send waiting for the global rate).
    pub fn book(&self, channel: &ChannelArn, uid: &str, now: Timestamp) -> Result<(), Timestamp> {
        let key = channel.key();
        let horizon = self.horizon(now);
        let mut inner = self.lock();
        inner.prune_key(&key, horizon, now);
        if inner
            .pruned_at
            .is_none_or(|at| now.duration_since(at).unsigned_abs() >= FULL_PRUNE_EVERY)
        {
            inner.prune(horizon, now);
        }
        if inner
            .booked
            .get(&key)
            .is_some_and(|bookings| bookings.iter().any(|b| b.uid == uid))
        {
            return Ok(());
        }
        let history = inner.history(&key, now);
        let line = inner.waiting.entry(key.clone()).or_default();
        let position = match line.iter().position(|w| w.uid == uid) {
            Some(position) => position,
            None => {
                line.push(Waiter {
                    uid: uid.to_owned(),
                    slot: now,
                });
                line.len().saturating_sub(1)
            }
        };
        let slot = cooldown::slot(position.min(MAX_WAITERS), &history, &self.limits, now);
        if slot <= now {
            line.retain(|w| w.uid != uid);
            inner
                .booked_by
                .entry(uid.to_owned())
                .or_default()
                .insert(key.clone());
            inner.booked.entry(key).or_default().push(Booking {
                uid: uid.to_owned(),
                at: now,
            });
            return Ok(());
        }
        tracing::debug!(channel = %key, ?history, position, %slot, "channel limits hold the send");
        if let Some(waiter) = line.iter_mut().find(|w| w.uid == uid) {
            waiter.slot = slot;
        }
        line.truncate(MAX_WAITERS);
        Err(slot)
    }

    /// The object's booking was used for a call that started at `at`: the call counts from
    /// now on when it may have sent a code, and the booking is done either way. A call that
    /// surely sent nothing (AWS refused it) no longer counts as in flight either.
    pub fn called(&self, channel: &ChannelArn, uid: &str, at: Timestamp, may_have_sent: bool) {
        let key = channel.key();
        let mut inner = self.lock();
        if may_have_sent {
            inner.add_call(key.clone(), uid, at);
        } else if inner
            .flights
            .get(uid)
            .is_some_and(|(flight_key, second)| *flight_key == key && *second == at.as_second())
        {
            inner.flights.remove(uid);
        }
        inner.release(&key, uid);
    }

    /// The booking was not used for a call (the channel was already active, the intent was
    /// not written, the operator is stopping): the next in line may go.
    pub fn release(&self, channel: &ChannelArn, uid: &str) {
        self.lock().release(&channel.key(), uid);
    }

    /// Drops every booking of the object, on any channel: it decided not to send now.
    pub fn release_all(&self, uid: &str) {
        self.lock().release_everywhere(uid);
    }

    fn horizon(&self, now: Timestamp) -> Timestamp {
        now.checked_sub(self.limits.memory())
            .unwrap_or(Timestamp::MIN)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn add_call(&mut self, key: String, uid: &str, at: Timestamp) {
        let calls = self.sent.entry(key).or_default();
        let second = at.as_second();
        if !calls.iter().any(|(by, at)| by == uid && *at == second) {
            calls.push((uid.to_owned(), second));
        }
    }

    fn release_everywhere(&mut self, uid: &str) {
        for key in self.booked_by.remove(uid).into_iter().flatten() {
            if let Some(bookings) = self.booked.get_mut(&key) {
                bookings.retain(|b| b.uid != uid);
            }
        }
    }

    fn release(&mut self, key: &str, uid: &str) {
        if let Some(bookings) = self.booked.get_mut(key) {
            bookings.retain(|b| b.uid != uid);
        }
        if let Some(keys) = self.booked_by.get_mut(uid) {
            keys.remove(key);
            if keys.is_empty() {
                self.booked_by.remove(uid);
            }
        }
    }

    /// The channel's calls that may have sent, the calls in flight on it, and this process's
    /// bookings as if sent now (a booking waits for a turn, and its call may start any
    /// moment), as start times.
    fn history(&self, key: &str, now: Timestamp) -> Vec<Timestamp> {
        let flights = self
            .flights
            .iter()
            .filter(|(uid, (flight_key, second))| {
                flight_key == key
                    && !self.sent.get(key).is_some_and(|calls| {
                        calls.iter().any(|(by, at)| by == *uid && at == second)
                    })
            })
            .map(|(_, (_, second))| *second);
        let calls = self
            .sent
            .get(key)
            .into_iter()
            .flatten()
            .map(|(_, second)| *second)
            .chain(flights)
            // A status keeps whole seconds: a call read as second `s` may have started as
            // late as `s + 1`, and counting it from there never shortens a cooldown.
            .filter_map(|second| Timestamp::from_second(second.saturating_add(1)).ok());
        let booked = self
            .booked
            .get(key)
            .into_iter()
            .flatten()
            .map(|b| b.at.max(now));
        calls.chain(booked).collect()
    }

    /// Drops one channel's calls, bookings and waiters that no longer matter.
    fn prune_key(&mut self, key: &str, horizon: Timestamp, now: Timestamp) {
        let (horizon, booking_horizon) = (horizon.as_second(), booking_horizon(now));
        if let Some(calls) = self.sent.get_mut(key) {
            calls.retain(|(_, second)| *second > horizon);
        }
        let mut expired = Vec::new();
        if let Some(bookings) = self.booked.get_mut(key) {
            bookings.retain(|b| {
                let keep = b.at > booking_horizon;
                if !keep {
                    expired.push(b.uid.clone());
                }
                keep
            });
        }
        for uid in expired {
            self.release(key, &uid);
        }
        if let Some(line) = self.waiting.get_mut(key) {
            line.retain(|w| waiter_is_current(w, now));
        }
    }

    /// Drops every channel's calls, bookings and waiters that no longer matter.
    fn prune(&mut self, horizon: Timestamp, now: Timestamp) {
        let (horizon, booking_horizon) = (horizon.as_second(), booking_horizon(now));
        self.sent.retain(|_, calls| {
            calls.retain(|(_, second)| *second > horizon);
            !calls.is_empty()
        });
        self.flights.retain(|_, (_, second)| *second > horizon);
        self.booked.retain(|_, bookings| {
            bookings.retain(|b| b.at > booking_horizon);
            !bookings.is_empty()
        });
        let booked = &self.booked;
        self.booked_by.retain(|uid, keys| {
            keys.retain(|key| {
                booked
                    .get(key)
                    .is_some_and(|bookings| bookings.iter().any(|b| &b.uid == uid))
            });
            !keys.is_empty()
        });
        self.waiting.retain(|_, line| {
            line.retain(|w| waiter_is_current(w, now));
            !line.is_empty()
        });
        self.pruned_at = Some(now);
    }
}

fn booking_horizon(now: Timestamp) -> Timestamp {
    now.checked_sub(BOOKING_TTL).unwrap_or(Timestamp::MIN)
}

fn waiter_is_current(waiter: &Waiter, now: Timestamp) -> bool {
    waiter
        .slot
        .checked_add(WAITER_TTL)
        .is_ok_and(|due| due > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resource::{
        ContactChannelActivationSpec, ContactChannelActivationStatus, RecentSend, SendInFlight,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const ARN: &str = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/a/b";
    const LIMITS: ChannelLimits = ChannelLimits {
        cooldown: Duration::from_secs(60),
        per_hour: 5,
    };

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn channel() -> ChannelArn {
        ChannelArn::parse(ARN).unwrap()
    }

    fn object(uid: &str, sent_at: &[i64]) -> ContactChannelActivation {
        let mut object = ContactChannelActivation::new(
            uid,
            ContactChannelActivationSpec {
                contact_channel_id: ARN.into(),
                ..Default::default()
            },
        );
        object.metadata.uid = Some(uid.into());
        object.status = Some(ContactChannelActivationStatus {
            recent_sends: sent_at
                .iter()
                .map(|s| RecentSend {
                    contact_channel_id: ARN.into(),
                    time: Time(at(*s)),
                })
                .collect(),
            ..Default::default()
        });
        object
    }

    #[test]
    /// A second object on the same channel waits the cooldown after the first one's send.
    fn second_object_waits_the_cooldown() {
        let channels = Channels::new(LIMITS, []);
        assert_eq!(channels.book(&channel(), "a", at(0)), Ok(()));
        // Booked by this process but not yet visible in the cluster: holds as if sent now.
        assert_eq!(channels.book(&channel(), "b", at(1)), Err(at(61)));
        // Asking again while holding a booking is not a second booking.
        assert_eq!(channels.book(&channel(), "a", at(2)), Ok(()));
        channels.called(&channel(), "a", at(2), true);
        assert_eq!(channels.book(&channel(), "b", at(61)), Err(at(63)));
        assert_eq!(channels.book(&channel(), "b", at(63)), Ok(()));
    }

    #[test]
    /// Two objects that wait in the send line together never pass the limits: a booking
    /// still waiting after the cooldown holds the channel as if its call started now.
    fn waiting_bookings_hold_the_channel() {
        let channels = Channels::new(LIMITS, []);
        assert_eq!(channels.book(&channel(), "a", at(0)), Ok(()));
        assert_eq!(channels.book(&channel(), "b", at(1)), Err(at(61)));
        // "a" still waits for its turn of the global rate at 61: "b" must wait on.
        assert_eq!(channels.book(&channel(), "b", at(61)), Err(at(121)));
        channels.called(&channel(), "a", at(100), true);
        assert_eq!(channels.book(&channel(), "b", at(121)), Err(at(161)));
        assert_eq!(channels.book(&channel(), "b", at(161)), Ok(()));
    }

    #[test]
    /// An intent in a status counts while its call may be under way; once the status shows
    /// that AWS refused it (no flight, no recent send), the channel is free again.
    fn refused_calls_stop_counting_once_recorded() {
        let channels = Channels::new(LIMITS, []);
        let mut flying = object("a", &[]);
        if let Some(status) = flying.status.as_mut() {
            status.send_in_flight = Some(SendInFlight {
                generation: 1,
                attempt: 1,
                started_time: Time(at(0)),
                holder: "another-process".into(),
                contact_channel_id: Some(ARN.into()),
            });
        }
        channels.observe(&flying, at(0));
        assert_eq!(channels.book(&channel(), "b", at(1)), Err(at(61)));
        channels.release_all("b");
        // The outcome (a 5xx) is recorded: no flight, nothing in recentSends.
        channels.observe(&object("a", &[]), at(2));
        assert_eq!(channels.book(&channel(), "b", at(2)), Ok(()));
    }

    #[test]
    /// Five minutes of refused calls leave the channel free the moment AWS answers again.
    fn refused_calls_never_count() {
        let channels = Channels::new(LIMITS, []);
        for second in (0..300).step_by(10) {
            assert_eq!(channels.book(&channel(), "a", at(second)), Ok(()));
            channels.called(&channel(), "a", at(second), false);
        }
        assert_eq!(channels.book(&channel(), "a", at(300)), Ok(()));
    }

    #[test]
    /// A channel record's calls count like a status's: for objects long deleted too.
    fn recorded_calls_count() {
        let channels = Channels::new(LIMITS, []);
        channels.observe_record(&channel().key(), &[("gone".to_owned(), at(-10))], at(0));
        assert_eq!(channels.book(&channel(), "new", at(0)), Err(at(51)));
        // The same call in a status counts once, not twice.
        channels.observe(&object("gone", &[-10]), at(0));
        assert_eq!(channels.book(&channel(), "new", at(52)), Ok(()));
    }

    #[test]
    /// Limits apply only once every source was read; a source that cannot be read is done.
    fn synced_once_every_source_is_done() {
        let channels = Channels::new(LIMITS, ["records".to_owned(), "objects/a".to_owned()]);
        assert!(!channels.is_synced());
        channels.source_done("records");
        assert!(!channels.is_synced());
        channels.source_done("objects/a");
        assert!(channels.is_synced());
    }

    #[test]
    /// A call made with a booking counts at once, for the same object's next generation too.
    fn own_calls_count_before_the_watch_shows_them() {
        let channels = Channels::new(LIMITS, []);
        assert_eq!(channels.book(&channel(), "a", at(0)), Ok(()));
        channels.called(&channel(), "a", at(0), true);
        // Counted from the end of its second, as a status would show it.
        assert_eq!(channels.book(&channel(), "a", at(10)), Err(at(61)));
        // The watch then shows the same call: it still counts once, not twice.
        channels.observe(&object("a", &[0]), at(11));
        assert_eq!(channels.book(&channel(), "b", at(60)), Err(at(121)));
    }

    #[test]
    /// A call that surely sent nothing (an AWS error) does not hold the channel.
    fn failed_calls_free_the_channel() {
        let channels = Channels::new(LIMITS, []);
        assert_eq!(channels.book(&channel(), "a", at(0)), Ok(()));
        channels.called(&channel(), "a", at(0), false);
        assert_eq!(channels.book(&channel(), "b", at(1)), Ok(()));
    }

    #[test]
    /// What the cluster shows counts after a restart (a new, empty process).
    fn cluster_sends_count_after_a_restart() {
        let channels = Channels::new(LIMITS, []);
        channels.observe(&object("a", &[-10]), at(0));
        assert_eq!(channels.book(&channel(), "b", at(0)), Err(at(51)));
        // Deleting the object that sent does not reset the channel.
        channels.forget("a");
        assert_eq!(channels.book(&channel(), "b", at(1)), Err(at(51)));
    }

    #[test]
    /// Waiters are served in order of arrival, each with its own slot.
    fn waiters_in_order() {
        let channels = Channels::new(LIMITS, []);
        channels.observe(&object("sent", &[0]), at(0));
        assert_eq!(channels.book(&channel(), "first", at(1)), Err(at(61)));
        assert_eq!(channels.book(&channel(), "second", at(2)), Err(at(121)));
        // The second cannot overtake the first when the channel frees up.
        assert_eq!(channels.book(&channel(), "second", at(61)), Err(at(121)));
        assert_eq!(channels.book(&channel(), "first", at(61)), Ok(()));
        channels.called(&channel(), "first", at(61), true);
        assert_eq!(channels.book(&channel(), "second", at(121)), Err(at(122)));
        assert_eq!(channels.book(&channel(), "second", at(122)), Ok(()));
    }

    #[test]
    /// A waiter that never comes back does not block the line for long.
    fn absent_waiters_leave_the_line() {
        let channels = Channels::new(LIMITS, []);
        channels.observe(&object("sent", &[0]), at(0));
        assert_eq!(channels.book(&channel(), "gone", at(1)), Err(at(61)));
        assert_eq!(channels.book(&channel(), "late", at(2)), Err(at(121)));
        assert_eq!(channels.book(&channel(), "late", at(121)), Ok(()));
    }

    #[test]
    /// A call time far ahead (a status from elsewhere) does not block the channel.
    fn calls_from_the_future_do_not_count() {
        let channels = Channels::new(LIMITS, []);
        channels.observe(&object("odd", &[86_400 * 365]), at(0));
        assert_eq!(channels.book(&channel(), "b", at(0)), Ok(()));
    }

    #[test]
    /// A released booking frees the channel at once.
    fn release_frees_the_channel() {
        let channels = Channels::new(LIMITS, []);
        assert_eq!(channels.book(&channel(), "a", at(0)), Ok(()));
        channels.release(&channel(), "a");
        assert_eq!(channels.book(&channel(), "b", at(1)), Ok(()));
    }

    #[test]
    /// Five sends in the hour hold the sixth until the first ages out.
    fn hourly_cap_across_objects() {
        let channels = Channels::new(LIMITS, []);
        for (uid, second) in [("a", -3000), ("b", -2000), ("c", -1000), ("d", -500)] {
            channels.observe(&object(uid, &[second]), at(0));
        }
        channels.observe(&object("e", &[-100]), at(0));
        assert_eq!(channels.book(&channel(), "f", at(0)), Err(at(601)));
    }
}
