//! The reconcile decision, as a pure function: given the spec, the status, the clock and the
//! outcome of this process's last call, what to do for the current generation and which
//! status to write. Nothing here does I/O, so every row of the contract is a plain unit test.
//!
//! The guard against a second code lives in the status, not in memory: `sentGeneration`
//! says a generation is done, and `sendInFlight` (written before every call) makes a crash
//! between the call and its record visible as `OutcomeUnknown` instead of a silent resend.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::arn::{ChannelArn, looks_like_region, region_in_partition, resolve_region};
use crate::api::conditions::{self, Summary};
use crate::api::reason::{Reason, Retry};
use crate::api::resource::{
    ContactChannelActivationSpec as Spec, ContactChannelActivationStatus as Status, LastError,
    MAX_RECENT_SENDS, ReadyWhen, RecentSend, SendInFlight,
};
use crate::rules::backoff::BackoffPolicy;
use crate::rules::cooldown;
use crate::rules::note::{Call, EventType, Note};
use crate::rules::outcome::{SendFailure, SendOutcome, may_have_sent};

/// The largest attempt count the CRD can store (int32).
const MAX_ATTEMPTS: u32 = i32::MAX as u32;

/// How often an object whose call is being made by this very process is looked at again:
/// the call's own outcome write wakes it sooner; this is only the safety net.
const RUNNING_HERE_RECHECK: Duration = Duration::from_secs(2);

/// What to do when a call's outcome was lost (see guarantee 1 in the API contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnknownOutcomePolicy {
    /// Send again: a second code is a nuisance, a channel that never gets one cannot be paged.
    #[default]
    Resend,
    /// Never risk a second code: stay `OutcomeUnknown` and Stalled until the spec changes.
    Hold,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub default_region: Option<String>,
    pub on_unknown_outcome: UnknownOutcomePolicy,
    pub backoff: BackoffPolicy,
    /// How long another process's in-flight call is waited for, counted from when this
    /// process first saw it, before its outcome is taken as lost (replica failover: the old
    /// leader may still be mid-call).
    pub in_flight_grace: Duration,
    /// This process's identity, recorded as the holder of its in-flight calls.
    pub instance: String,
}

/// The inputs read from the object.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub generation: i64,
    pub spec: &'a Spec,
    pub status: &'a Status,
}

/// The outcome of a call this process made but has not recorded yet (the status write failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    pub flight: SendInFlight,
    pub outcome: SendOutcome,
}

/// What this process knows about the object beyond its status: its own calls, and how long
/// it has watched somebody else's. Times here are this process's monotonic clock, so clock
/// skew between nodes cannot shorten the in-flight grace.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local<'a> {
    /// The outcome of a call this process made and could not record yet.
    pub unrecorded: Option<&'a Remembered>,
    /// A task of this process is making the call that the status's `sendInFlight` names.
    pub running_here: bool,
    /// How long this process has seen the status's current `sendInFlight` record.
    pub flight_seen_for: Duration,
    /// Why the operator's tenancy guards refuse the object (account or role not allowed),
    /// if they do.
    pub not_allowed: Option<&'a str>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The status already says everything; nothing to do until the object changes.
    Idle,
    /// Come back later; nothing to write now.
    Wait(Duration),
    /// Write this status, publish the note, and come back after `requeue` if given.
    Record {
        status: Status,
        requeue: Option<Duration>,
        note: Option<Note>,
    },
    /// Write `intent` (which holds `sendInFlight`), and only if that write succeeds, call AWS.
    /// With `check_first`, ask GetContactChannel before the intent: an ACTIVATED channel
    /// gets no code.
    Send {
        channel: ChannelArn,
        region: String,
        intent: Status,
        check_first: bool,
    },
}

/// Decides what to do for the object's current generation.
///
/// Total over its inputs: any status a person or a backup could have written yields a
/// decision, never a panic (time arithmetic is checked; nonsense ends in a reason).
pub fn decide(
    observed: Observed<'_>,
    settings: &Settings,
    now: Timestamp,
    local: Local<'_>,
    jitter: f64,
) -> Decision {
    let Observed {
        generation,
        spec,
        status,
    } = observed;

    let mut flight = status.send_in_flight.as_ref();
    if let Some(current) = flight {
        if let Some(memory) = local.unrecorded.filter(|m| m.flight.same_call(current)) {
            let (mut status, requeue, note) =
                record_outcome(status, &memory.outcome, settings, now, jitter);
            finish(&mut status, spec, now);
            return Decision::Record {
                status,
                requeue,
                note: Some(note),
            };
        }
        if current.holder == settings.instance {
            if local.running_here {
                return Decision::Wait(RUNNING_HERE_RECHECK);
            }
            // Every call this process makes is either recorded or remembered, and instance
            // names are fresh per process: an intent of ours with neither was never followed
            // by a call (its write timed out but committed, or a stop came first).
            flight = None;
        }
    }

    let channel_id = ChannelArn::parse(&spec.contact_channel_id)
        .ok()
        .map(|channel| channel.id().to_owned());
    if status.sent_generation == Some(generation) {
        let mut sent = sent_status(status, generation);
        sent.channel_id = channel_id;
        finish(&mut sent, spec, now);
        return record_if_changed(status, sent, None);
    }

    let current = status.observed_generation == Some(generation);
    let mut fresh = status.clone();
    fresh.observed_generation = Some(generation);
    fresh.channel_id = channel_id;
    if flight.is_none() {
        fresh.send_in_flight = None;
    }
    if !current {
        fresh.attempts = 0;
        fresh.next_attempt_time = None;
        fresh.last_error = None;
    }

    if spec.suspend {
        fresh.send_in_flight = None;
        fresh.next_attempt_time = None;
        let summary = summary(
            generation,
            Reason::Suspended,
            "suspend is true: no call to AWS is made".into(),
            false,
            false,
        );
        fresh.conditions = conditions::conditions(&status.conditions, &summary, now);
        finish(&mut fresh, spec, now);
        return record_if_changed(status, fresh, None);
    }

    let channel = match ChannelArn::parse(&spec.contact_channel_id) {
        Ok(channel) => channel,
        Err(error) => {
            return refuse(
                status,
                spec,
                fresh,
                Reason::InvalidSpec,
                error.to_string(),
                now,
            );
        }
    };
    let Some(region) = resolve_region(
        spec.region.as_deref(),
        &channel,
        settings.default_region.as_deref(),
    ) else {
        let message = format!(
            "no AWS region: spec.region is unset, {channel} has no region part, and the operator has no default region (--default-region or AWS_REGION)"
        );
        return refuse(status, spec, fresh, Reason::RegionUnknown, message, now);
    };
    // Only the operator's default can still be malformed here (the CRD checks spec.region and
    // the ARN's part); a malformed region fails before anything is sent, so it is refused now.
    if !looks_like_region(&region) {
        let message = format!(
            "region {region:?} (the operator's default region) does not look like a region, such as us-east-1; set spec.region or fix --default-region / AWS_REGION"
        );
        return refuse(status, spec, fresh, Reason::RegionUnknown, message, now);
    }
    if !region_in_partition(channel.partition(), &region) {
        let message = format!(
            "region {region} is not in the partition of {channel} ({}); set spec.region to a region of that partition",
            channel.partition()
        );
        return refuse(status, spec, fresh, Reason::InvalidSpec, message, now);
    }

    if let Some(flight) = flight.filter(|f| f.generation == generation) {
        if let Some(left) = settings.in_flight_grace.checked_sub(local.flight_seen_for)
            && !left.is_zero()
        {
            return Decision::Wait(left);
        }
        let failure = SendFailure::local(
            Reason::OutcomeUnknown,
            format!(
                "the operator instance {} stopped after calling SendActivationCode (attempt {}, started {}) and before recording its outcome; AWS may or may not have sent a code",
                shorten(&flight.holder, 80),
                flight.attempt,
                flight.started_time.0
            ),
        );
        let (mut status, requeue, note) =
            record_outcome(status, &Err(failure), settings, now, jitter);
        finish(&mut status, spec, now);
        return Decision::Record {
            status,
            requeue,
            note: Some(note),
        };
    }

    if let Some(why) = local.not_allowed {
        return refuse(status, spec, fresh, Reason::NotAllowed, why.to_owned(), now);
    }

    if current && flight.is_none() && is_terminal(status, generation) {
        return Decision::Idle;
    }
    if current && flight.is_none() && status.attempts > 0 {
        // A retry time further out than any backoff could have set is not ours (a restored
        // or hand-edited status): retry now rather than wait for it.
        if let Some(next) = &status.next_attempt_time
            && next.0 > now
            && let Some(wait) = until(now, next.0).filter(|w| *w <= settings.backoff.ceiling())
        {
            return Decision::Wait(wait);
        }
    }

    // The CRD stores attempt counts as int32: a count past it would be refused by the API
    // server on every write, leaving the object retrying with no reason shown.
    let Some(attempt) = fresh.attempts.checked_add(1).filter(|a| *a <= MAX_ATTEMPTS) else {
        let message = format!(
            "status.attempts is {}, the largest count there is; change the spec (for example spec.resendToken) to start a new generation",
            fresh.attempts
        );
        return refuse(status, spec, fresh, Reason::InvalidStatus, message, now);
    };
    fresh.attempts = attempt;
    fresh.next_attempt_time = None;
    fresh.send_in_flight = Some(SendInFlight {
        generation,
        attempt,
        holder: settings.instance.clone(),
        started_time: Time(now),
        contact_channel_id: Some(spec.contact_channel_id.clone()),
    });
    let (reason, message) = match (&status.last_error, current && attempt > 1) {
        (Some(error), true) => (
            conditions::find(&status.conditions, conditions::CODE_SENT)
                .and_then(|c| Reason::parse(&c.reason))
                .unwrap_or(Reason::Pending),
            format!(
                "retrying (attempt {attempt}) after {}: {}",
                error.code, error.message
            ),
        ),
        _ => (
            Reason::Pending,
            format!("sending the activation code (attempt {attempt})"),
        ),
    };
    let summary = summary(generation, reason, message, true, false);
    fresh.conditions = conditions::conditions(&status.conditions, &summary, now);
    finish(&mut fresh, spec, now);
    Decision::Send {
        channel,
        region,
        intent: fresh,
        check_first: spec.skip_if_activated && attempt == 1,
    }
}

/// Applies `spec.readyWhen` to the conditions: with `Activated`, Ready mirrors the Activated
/// condition. Every status this module hands out has been through here, so comparing a
/// written status with a fresh decision never sees a difference that is not there.
pub fn finish(status: &mut Status, spec: &Spec, now: Timestamp) {
    if spec.ready_when == ReadyWhen::Activated
        && let Some(generation) = status.observed_generation
    {
        conditions::ready_when_activated(&mut status.conditions, generation, now);
    }
}

/// Whether the recorded failure of this generation waits for a spec change: a terminal AWS
/// answer, or a lost outcome held under `--on-unknown-outcome=hold`. Refusals decided from
/// the inputs alone (no region, suspended) are not terminal: they are decided afresh.
fn is_terminal(status: &Status, generation: i64) -> bool {
    let Some(reason) = conditions::find(&status.conditions, conditions::CODE_SENT)
        .filter(|c| c.observed_generation == Some(generation))
        .and_then(|c| Reason::parse(&c.reason))
    else {
        return false;
    };
    match reason {
        Reason::ValidationFailed | Reason::AlreadyActivated => true,
        Reason::OutcomeUnknown => status.next_attempt_time.is_none(),
        _ => false,
    }
}

/// The status after a call's outcome, when to come back, and the Event to publish.
pub fn record_outcome(
    status: &Status,
    outcome: &SendOutcome,
    settings: &Settings,
    now: Timestamp,
    jitter: f64,
) -> (Status, Option<Duration>, Note) {
    let (generation, attempt) = match &status.send_in_flight {
        Some(flight) => (flight.generation, flight.attempt),
        None => (
            status.observed_generation.unwrap_or_default(),
            status.attempts,
        ),
    };
    let mut next = status.clone();
    next.send_in_flight = None;
    next.observed_generation = Some(generation);
    next.attempts = attempt;
    next.recent_sends = recent_sends(status, may_have_sent(outcome), now);

    let failure = match outcome {
        Ok(sent) => {
            next.last_sent_time = Some(Time(now));
            next.last_error = None;
            let mut next = sent_status(&next, generation);
            next.next_attempt_time = None;
            // A new code restarts the activation checks; the person needs a moment.
            next.activation_checks = 0;
            next.last_activation_check_time = None;
            let request = sent
                .request_id
                .as_deref()
                .map(|id| format!(", request id {id}"))
                .unwrap_or_default();
            let message = format!("activation code sent (attempt {attempt}{request})");
            let summary = summary(generation, Reason::Sent, message.clone(), false, false);
            next.conditions = conditions::conditions(&status.conditions, &summary, now);
            if next.activation_status.as_deref() != Some(crate::rules::activation::ACTIVATED) {
                crate::rules::activation::awaiting_code(&mut next, generation, now);
            }
            return (
                next,
                None,
                Note {
                    type_: EventType::Normal,
                    reason: Reason::Sent,
                    call: Call::SendActivationCode,
                    message,
                },
            );
        }
        Err(failure) => failure,
    };

    let hold = failure.reason == Reason::OutcomeUnknown
        && settings.on_unknown_outcome == UnknownOutcomePolicy::Hold;
    let retry = if hold {
        Retry::Never
    } else {
        failure.reason.retry()
    };
    let delay = settings
        .backoff
        .delay(retry, attempt, failure.retry_after, jitter);
    next.next_attempt_time =
        delay.map(|d| Time(ceil_to_second(now.checked_add(d).unwrap_or(Timestamp::MAX))));
    next.last_error = Some(LastError {
        code: failure.code.clone(),
        message: failure.message.clone(),
        http_status: failure.http_status,
        request_id: failure.request_id.clone(),
        time: Time(now),
    });
    let mut message = describe(failure);
    match &next.next_attempt_time {
        Some(at) => message.push_str(&format!(
            "; attempt {attempt} failed, next attempt at {}",
            at.0
        )),
        None if hold => {
            message.push_str("; not sent again (--on-unknown-outcome=hold) until the spec changes")
        }
        None => message.push_str("; not retried until the spec changes"),
    }
    let stalled = hold || failure.reason.needs_a_person();
    let summary = summary(
        generation,
        failure.reason,
        message.clone(),
        delay.is_some(),
        stalled,
    );
    next.conditions = conditions::conditions(&status.conditions, &summary, now);
    (
        next,
        delay,
        Note {
            type_: EventType::Warning,
            reason: failure.reason,
            call: if failure.reason == Reason::AssumeRoleFailed {
                Call::AssumeRole
            } else {
                Call::SendActivationCode
            },
            message,
        },
    )
}

/// The status's recent sends, with the in-flight call added when it sent or may have sent a
/// code, and without those older than the per-channel window.
fn recent_sends(status: &Status, may_have_sent: bool, now: Timestamp) -> Vec<RecentSend> {
    let mut sends: Vec<RecentSend> = status
        .recent_sends
        .iter()
        .filter(|send| cooldown::counts(send.time.0, now, cooldown::WINDOW))
        .cloned()
        .collect();
    if may_have_sent
        && let Some(flight) = &status.send_in_flight
        && let Some(channel) = &flight.contact_channel_id
    {
        // A start time ahead of now is not one a call wrote (a status from elsewhere): the
        // call counts from now instead.
        sends.push(RecentSend {
            contact_channel_id: channel.clone(),
            time: Time(flight.started_time.0.min(now)),
        });
    }
    let excess = sends.len().saturating_sub(MAX_RECENT_SENDS);
    sends.drain(..excess);
    sends
}

/// A send that must wait for its channel's cooldown or hourly cap: recorded as
/// `ChannelCooldown` (Reconciling), with the time it may go, and no call now. `intent` is the
/// status the send would have written.
pub fn defer_for_channel(
    previous: &Status,
    spec: &Spec,
    intent: Status,
    until: Timestamp,
    why: String,
    now: Timestamp,
) -> Decision {
    let mut deferred = intent;
    let generation = deferred.observed_generation.unwrap_or_default();
    deferred.attempts = deferred.attempts.saturating_sub(1);
    deferred.send_in_flight = None;
    let due = ceil_to_second(until);
    deferred.next_attempt_time = Some(Time(due));
    let message = format!("{why}; the code goes at {due}");
    let summary = summary(
        generation,
        Reason::ChannelCooldown,
        message.clone(),
        true,
        false,
    );
    deferred.conditions = conditions::conditions(&previous.conditions, &summary, now);
    finish(&mut deferred, spec, now);
    let wait = self::until(now, due).unwrap_or(Duration::ZERO);
    if *previous == deferred {
        return Decision::Wait(wait);
    }
    let already_reported = conditions::find(&previous.conditions, conditions::CODE_SENT)
        .is_some_and(|c| c.reason == Reason::ChannelCooldown.as_str());
    Decision::Record {
        status: deferred,
        requeue: Some(wait),
        note: (!already_reported).then_some(Note {
            type_: EventType::Normal,
            reason: Reason::ChannelCooldown,
            call: Call::SendActivationCode,
            message,
        }),
    }
}

fn describe(failure: &SendFailure) -> String {
    let mut text = format!("{}: {}", failure.code, failure.message);
    let details: Vec<String> = [
        failure.http_status.map(|s| format!("HTTP {s}")),
        failure
            .request_id
            .as_ref()
            .map(|id| format!("request id {id}")),
        failure
            .retry_after
            .map(|d| format!("retry after {}s", d.as_secs())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join(", ")));
    }
    text
}

/// The status of a generation whose code was sent.
fn sent_status(status: &Status, generation: i64) -> Status {
    let mut next = status.clone();
    next.observed_generation = Some(generation);
    next.sent_generation = Some(generation);
    next.send_in_flight = None;
    next.next_attempt_time = None;
    next.last_error = None;
    let already = conditions::find(&status.conditions, conditions::CODE_SENT)
        .filter(|c| c.status == "True" && c.observed_generation == Some(generation));
    if already.is_none() {
        let message = "activation code sent".to_owned();
        let when = next
            .last_sent_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
        next.conditions = conditions::conditions(
            &status.conditions,
            &summary(generation, Reason::Sent, message, false, false),
            when,
        );
    }
    next
}

/// A spec the operator cannot act on: recorded, Stalled, no call, no retry.
fn refuse(
    previous: &Status,
    spec: &Spec,
    mut fresh: Status,
    reason: Reason,
    message: String,
    now: Timestamp,
) -> Decision {
    let generation = fresh.observed_generation.unwrap_or_default();
    fresh.send_in_flight = None;
    fresh.next_attempt_time = None;
    let summary = summary(generation, reason, message.clone(), false, true);
    fresh.conditions = conditions::conditions(&previous.conditions, &summary, now);
    finish(&mut fresh, spec, now);
    let already_reported = conditions::find(&previous.conditions, conditions::CODE_SENT)
        .is_some_and(|c| c.reason == reason.as_str());
    let note = (!already_reported).then_some(Note {
        type_: EventType::Warning,
        reason,
        call: Call::SendActivationCode,
        message,
    });
    record_if_changed(previous, fresh, note)
}

fn record_if_changed(previous: &Status, next: Status, note: Option<Note>) -> Decision {
    if *previous == next {
        Decision::Idle
    } else {
        Decision::Record {
            status: next,
            requeue: None,
            note,
        }
    }
}

fn summary(
    generation: i64,
    reason: Reason,
    message: String,
    reconciling: bool,
    stalled: bool,
) -> Summary {
    Summary {
        generation,
        reason,
        message,
        reconciling,
        stalled,
    }
}

/// The status of an object whose send waits for its turn (the send line, the channel limits
/// being read): the generation is seen and in progress, so that kstatus (Flux) and
/// `kubectl get` never read it as done before its code went out. `None` when the written
/// status already says so for this generation (a retry waiting, an earlier write), so that
/// waiting costs one status write at most.
pub fn queued(
    previous: &Status,
    spec: &Spec,
    intent: &Status,
    why: &str,
    now: Timestamp,
) -> Option<Status> {
    let generation = intent.observed_generation?;
    let already = previous.observed_generation == Some(generation)
        && conditions::find(&previous.conditions, conditions::RECONCILING)
            .is_some_and(|c| c.status == "True" && c.observed_generation == Some(generation));
    if already {
        return None;
    }
    let mut queued = intent.clone();
    queued.attempts = queued.attempts.saturating_sub(1);
    queued.send_in_flight = None;
    let reason = conditions::find(&intent.conditions, conditions::CODE_SENT)
        .and_then(|c| Reason::parse(&c.reason))
        .unwrap_or(Reason::Pending);
    let summary = summary(generation, reason, why.to_owned(), true, false);
    queued.conditions = conditions::conditions(&previous.conditions, &summary, now);
    finish(&mut queued, spec, now);
    Some(queued)
}

/// Status times are kept to the second by the API server; rounding down would let a retry
/// come before the RetryAfterSeconds that AWS asked for.
fn ceil_to_second(at: Timestamp) -> Timestamp {
    let whole = Timestamp::from_second(at.as_second()).unwrap_or(at);
    if whole < at {
        whole.checked_add(Duration::from_secs(1)).unwrap_or(whole)
    } else {
        whole
    }
}

/// The time from `now` until `at`, if `at` is in the future.
fn until(now: Timestamp, at: Timestamp) -> Option<Duration> {
    Duration::try_from(at.duration_since(now)).ok()
}

/// At most `max` characters of `text`, for values copied from a status into a message.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
