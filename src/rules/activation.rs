//! Following a channel to activation, as pure decisions: once a generation's code went out,
//! when to ask AWS whether the person has entered it (GetContactChannel, spaced further
//! apart each time, stopping at ACTIVATED), when to enter a code from the referenced Secret
//! (ActivateContactChannel, once per distinct Secret content), and the status each answer
//! leaves. The code itself never passes through here: only the Secret's version does.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions;
use crate::api::reason::Reason;
use crate::api::resource::ContactChannelActivationStatus as Status;
use crate::rules::note::{Call, EventType, Note};
use crate::rules::outcome::SendFailure;

pub const ACTIVATED: &str = "ACTIVATED";

/// How activation checks are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckPolicy {
    /// Wait before the first check after a send, doubling per check...
    pub first: Duration,
    /// ...up to this.
    pub max: Duration,
    /// How often an ACTIVATED channel is read again, to catch a channel that fell back to
    /// NOT_ACTIVATED (the person replied STOP); zero never reads it again.
    pub recheck: Duration,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            recheck: Duration::from_secs(12 * 3600),
        }
    }
}

impl CheckPolicy {
    /// The wait before check number `checks + 1`.
    pub fn interval(&self, checks: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << checks.min(20))
            .min(self.max)
    }

    /// The wait before the next call after `failures` failed calls in a row, if any failed.
    fn retry_after(&self, failures: u32) -> Option<Duration> {
        failures
            .checked_sub(1)
            .map(|failed_before| self.interval(failed_before))
    }
}

/// What the referenced Secret holds, as far as a decision needs to know. A valid code is
/// known by the Secret's version only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeSecret {
    NotReferenced,
    /// Referenced but not there (yet): the person has not typed the code in.
    Missing,
    /// Missing Secret or key, or a value that is not 6 to 10 digits; says which.
    Invalid(String),
    /// A well-formed code; `version` is "<uid>/<resourceVersion>".
    Ready {
        version: String,
    },
}

/// What to do about activation for a generation whose code was sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Activated, or nothing to do until something changes.
    Idle,
    Wait(Duration),
    /// Ask GetContactChannel.
    Check,
    /// Enter the code of the Secret at this version.
    Enter {
        version: String,
    },
    /// Write this status (and publish the note).
    Record {
        status: Box<Status>,
        note: Note,
    },
}

/// Decides the activation step for a status whose current generation is sent.
pub fn next_step(
    status: &Status,
    generation: i64,
    secret: &CodeSecret,
    policy: &CheckPolicy,
    now: Timestamp,
) -> Step {
    if status.activation_status.as_deref() == Some(ACTIVATED) {
        return recheck(status, policy, now);
    }
    match secret {
        CodeSecret::Ready { version } if status.code_secret_tried.as_deref() != Some(version) => {
            // A failed entry (throttled, denied, 5xx) waits its backoff, like every call.
            return match policy
                .retry_after(status.activation_failures)
                .and_then(|backoff| wait_until(status, backoff, now))
            {
                Some(wait) => Step::Wait(wait),
                None => Step::Enter {
                    version: version.clone(),
                },
            };
        }
        CodeSecret::Invalid(why) => {
            let already =
                conditions::find(&status.conditions, conditions::ACTIVATED).is_some_and(|c| {
                    c.reason == Reason::CodeSecretInvalid.as_str() && c.message == *why
                });
            if !already {
                let mut next = status.clone();
                conditions::set(
                    &mut next.conditions,
                    conditions::ACTIVATED,
                    false,
                    Reason::CodeSecretInvalid,
                    why,
                    generation,
                    now,
                );
                return Step::Record {
                    status: Box::new(next),
                    note: Note {
                        type_: EventType::Warning,
                        reason: Reason::CodeSecretInvalid,
                        call: Call::ActivateContactChannel,
                        message: why.clone(),
                    },
                };
            }
        }
        _ => {}
    }
    match wait_until(status, policy.interval(status.activation_checks), now) {
        Some(wait) => Step::Wait(wait.min(policy.max)),
        None => Step::Check,
    }
}

/// An ACTIVATED channel is read again every `policy.recheck`, timed from the last read so
/// that a restart reads nothing early; a failed read is retried with backoff.
fn recheck(status: &Status, policy: &CheckPolicy, now: Timestamp) -> Step {
    if policy.recheck.is_zero() {
        return Step::Idle;
    }
    let spacing = policy
        .retry_after(status.activation_failures)
        .unwrap_or(policy.recheck);
    match wait_until(status, spacing, now) {
        Some(wait) => Step::Wait(wait),
        None => Step::Check,
    }
}

/// How long until `spacing` has passed since the last activation call (or the send), if
/// it has not yet.
fn wait_until(status: &Status, spacing: Duration, now: Timestamp) -> Option<Duration> {
    let since = status
        .last_activation_check_time
        .as_ref()
        .or(status.last_sent_time.as_ref())
        .map_or(now, |t| t.0)
        // A time ahead of this clock (skew, a hand-edited status) must not postpone forever.
        .min(now);
    let due = since.checked_add(spacing).unwrap_or(Timestamp::MAX);
    Duration::try_from(due.duration_since(now))
        .ok()
        .filter(|wait| !wait.is_zero())
}

/// Sets the Activated condition True.
fn mark_activated(status: &mut Status, generation: i64, message: &str, now: Timestamp) {
    conditions::set(
        &mut status.conditions,
        conditions::ACTIVATED,
        true,
        Reason::Activated,
        message,
        generation,
        now,
    );
}

/// Marks the channel activated; the Event that says so.
fn activated(
    status: &mut Status,
    generation: i64,
    call: Call,
    message: &str,
    now: Timestamp,
) -> Note {
    mark_activated(status, generation, message, now);
    Note {
        type_: EventType::Normal,
        reason: Reason::Activated,
        call,
        message: message.to_owned(),
    }
}

/// The Activated condition right after a code went out: nobody has entered it yet.
pub fn awaiting_code(status: &mut Status, generation: i64, now: Timestamp) {
    conditions::set(
        &mut status.conditions,
        conditions::ACTIVATED,
        false,
        Reason::AwaitingCode,
        "the code was sent; waiting for a person to enter it (in the AWS console, or in the Secret named by spec.activationCodeSecretRef)",
        generation,
        now,
    );
}

/// What GetContactChannel said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelState {
    pub activation_status: String,
    pub channel_type: Option<String>,
    /// AWS's request id of the read, for the log line.
    pub request_id: Option<String>,
}

pub type CheckOutcome = Result<ChannelState, SendFailure>;

/// The status after an activation check, and the note to publish, if any.
pub fn record_check(
    status: &Status,
    generation: i64,
    outcome: &CheckOutcome,
    now: Timestamp,
) -> (Status, Option<Note>) {
    let mut next = status.clone();
    next.last_activation_check_time = Some(Time(now));
    next.activation_checks = bump(next.activation_checks);
    let was_activated = status.activation_status.as_deref() == Some(ACTIVATED);
    let state = match outcome {
        Ok(state) => state,
        Err(failure) => {
            next.activation_failures = bump(next.activation_failures);
            let message = format!(
                "GetContactChannel failed: {}: {}",
                failure.code, failure.message
            );
            // AWS's last word stands: a failed re-read of an activated channel leaves it
            // Activated, and says so in the Event only.
            if !was_activated {
                conditions::set(
                    &mut next.conditions,
                    conditions::ACTIVATED,
                    false,
                    failure.reason,
                    &message,
                    generation,
                    now,
                );
            }
            let note = Note {
                type_: EventType::Warning,
                reason: failure.reason,
                call: Call::GetContactChannel,
                message,
            };
            return (next, Some(note));
        }
    };
    next.activation_failures = 0;
    next.activation_status = Some(state.activation_status.clone());
    if state.channel_type.is_some() {
        next.channel_type = state.channel_type.clone();
    }
    let previous = conditions::find(&status.conditions, conditions::ACTIVATED);
    if state.activation_status == ACTIVATED {
        let already = previous.is_some_and(|c| c.status == "True");
        let note = activated(
            &mut next,
            generation,
            Call::GetContactChannel,
            "AWS reports the channel ACTIVATED",
            now,
        );
        return (next, (!already).then_some(note));
    }
    if was_activated {
        let message = "AWS reports the channel NOT_ACTIVATED after it was activated (the person may have opted out, or the device was deactivated): nobody can be paged on it. No code is sent on the operator's own initiative; change spec.resendToken to send one";
        conditions::set(
            &mut next.conditions,
            conditions::ACTIVATED,
            false,
            Reason::Deactivated,
            message,
            generation,
            now,
        );
        let note = Note {
            type_: EventType::Warning,
            reason: Reason::Deactivated,
            call: Call::GetContactChannel,
            message: message.to_owned(),
        };
        return (next, Some(note));
    }
    // Keep a more specific reason (a rejected or invalid code, a deactivation) until it
    // changes.
    let keep = previous.is_some_and(|c| {
        [
            Reason::CodeRejected,
            Reason::CodeSecretInvalid,
            Reason::Deactivated,
        ]
        .iter()
        .any(|reason| c.reason == reason.as_str())
    });
    if !keep {
        awaiting_code(&mut next, generation, now);
    }
    (next, None)
}

/// One more in a count kept within the status schema's int32.
fn bump(count: u32) -> u32 {
    count.saturating_add(1).min(i32::MAX as u32)
}

/// The status after entering the code of the Secret at `version`.
pub fn record_entry(
    status: &Status,
    generation: i64,
    version: &str,
    outcome: &Result<(), SendFailure>,
    now: Timestamp,
) -> (Status, Note) {
    let mut next = status.clone();
    match outcome {
        Ok(()) => {
            next.code_secret_tried = Some(version.to_owned());
            next.activation_status = Some(ACTIVATED.to_owned());
            next.activation_failures = 0;
            // AWS has just said ACTIVATED: the next re-read is a full recheck away.
            next.last_activation_check_time = Some(Time(now));
            let note = activated(
                &mut next,
                generation,
                Call::ActivateContactChannel,
                "the code from the Secret was accepted; the channel is ACTIVATED",
                now,
            );
            (next, note)
        }
        Err(failure) => {
            // A refused code is tried again only when the Secret changes; any other failure
            // (throttling, 5xx, a lost answer) is retried with the check backoff.
            let rejected = failure.reason == Reason::ValidationFailed;
            let reason = if rejected {
                Reason::CodeRejected
            } else {
                failure.reason
            };
            if rejected {
                next.code_secret_tried = Some(version.to_owned());
                next.activation_failures = 0;
            } else {
                next.activation_failures = bump(next.activation_failures);
            }
            next.last_activation_check_time = Some(Time(now));
            next.activation_checks = bump(next.activation_checks);
            let message = if rejected {
                format!(
                    "AWS refused the code in the Secret ({}); put the latest code the channel received into the Secret",
                    failure.message
                )
            } else {
                format!(
                    "ActivateContactChannel failed: {}: {}",
                    failure.code, failure.message
                )
            };
            conditions::set(
                &mut next.conditions,
                conditions::ACTIVATED,
                false,
                reason,
                &message,
                generation,
                now,
            );
            (
                next,
                Note {
                    type_: EventType::Warning,
                    reason,
                    call: Call::ActivateContactChannel,
                    message,
                },
            )
        }
    }
}

/// The status of a generation that needs no code: AWS already reports the channel ACTIVATED.
pub fn already_activated(
    before: &Status,
    generation: i64,
    state: &ChannelState,
    now: Timestamp,
) -> Status {
    let mut next = before.clone();
    next.observed_generation = Some(generation);
    next.send_in_flight = None;
    next.next_attempt_time = None;
    next.activation_status = Some(state.activation_status.clone());
    next.channel_type = state.channel_type.clone().or(next.channel_type);
    next.last_activation_check_time = Some(Time(now));
    let message = "AWS reports the channel already ACTIVATED: no code sent (spec.skipIfActivated)";
    let summary = conditions::Summary {
        generation,
        reason: Reason::AlreadyActivated,
        message: message.to_owned(),
        reconciling: false,
        stalled: false,
    };
    next.conditions = conditions::conditions(&before.conditions, &summary, now);
    mark_activated(&mut next, generation, message, now);
    next
}

/// Whether `code` is an activation code as SSM Contacts takes it: 6 to 10 digits.
pub fn well_formed(code: &str) -> bool {
    (6..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
