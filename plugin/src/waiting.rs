//! Pure: what an object waits for and until when, read from its status conditions.
//!
//! The `CodeSent` reason says where the current generation's send stands (the send line,
//! a channel's cooldown, a backed-off retry, a fix only a person can make); once the code
//! went out, the `Activated` condition says whether the person still has to enter it.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use ssm_contacts_operator::api::conditions::{ACTIVATED, CODE_SENT, STALLED};
use ssm_contacts_operator::api::reason::{Reason, Retry};
use ssm_contacts_operator::api::resource::ContactChannelActivation;

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub namespace: String,
    pub name: String,
    pub channel: String,
    pub waiting: String,
    pub until: String,
    pub attempts: String,
    pub last_error: String,
}

/// Longest LAST ERROR message shown; `kubectl describe` has the whole of it.
const MAX_ERROR_CHARS: usize = 60;

pub fn row(object: &ContactChannelActivation, now: Timestamp) -> Row {
    let status = object.status.as_ref();
    let channel = status
        .and_then(|s| s.channel_id.clone())
        .unwrap_or_else(|| last_part(&object.spec.contact_channel_id).to_owned());
    let last_error = status.and_then(|s| s.last_error.as_ref()).map_or_else(
        || "-".to_owned(),
        |e| shorten(&format!("{}: {}", e.code, e.message), MAX_ERROR_CHARS),
    );
    Row {
        namespace: object.metadata.namespace.clone().unwrap_or_default(),
        name: object.metadata.name.clone().unwrap_or_default(),
        channel,
        waiting: waiting_for(object),
        until: until(status.and_then(|s| s.next_attempt_time.as_ref()), now),
        attempts: status.map_or(0, |s| s.attempts).to_string(),
        last_error,
    }
}

/// The last path part of a channel ARN (its id).
pub fn last_part(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What the object waits for, with the reason it was read from in parentheses.
pub fn waiting_for(object: &ContactChannelActivation) -> String {
    let Some(status) = &object.status else {
        return "operator (not seen yet)".to_owned();
    };
    if object.metadata.generation.is_some()
        && status.observed_generation != object.metadata.generation
    {
        return "operator (new generation not seen yet)".to_owned();
    }
    let Some(code_sent) = find(&status.conditions, CODE_SENT) else {
        return "operator (no CodeSent condition yet)".to_owned();
    };
    let stalled = find(&status.conditions, STALLED).is_some_and(|c| c.status == "True");
    let reason = code_sent.reason.as_str();
    let what = match Reason::parse(reason) {
        Some(Reason::Pending) => "send line",
        Some(Reason::ChannelCooldown) => "channel cooldown",
        Some(Reason::Suspended) => "spec.suspend to be lifted",
        Some(Reason::Sent | Reason::AlreadyActivated) => return after_send(status, reason),
        Some(_) if stalled => "a fix by a person",
        Some(known) if known.retry() != Retry::Never => "retry",
        Some(_) => "a spec change",
        None => "operator",
    };
    format!("{what} ({reason})")
}

/// Once the code went out (or none was needed): the person, or nothing.
fn after_send(
    status: &ssm_contacts_operator::api::resource::ContactChannelActivationStatus,
    sent_reason: &str,
) -> String {
    let Some(activated) = find(&status.conditions, ACTIVATED) else {
        return format!("nothing ({sent_reason})");
    };
    let reason = activated.reason.as_str();
    if activated.status == "True" {
        return format!("nothing ({reason})");
    }
    let what = match Reason::parse(reason) {
        Some(Reason::AwaitingCode) => "the person to enter the code",
        Some(Reason::CodeRejected) => "the person: a new code in the Secret",
        Some(Reason::CodeSecretInvalid) => "a fix of the code Secret",
        Some(Reason::Deactivated) => "a resend (channel deactivated)",
        Some(known) if known.retry() != Retry::Never => "retry",
        _ => "the person",
    };
    format!("{what} ({reason})")
}

fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `in 42s (2026-12-06T08:00:00Z)`, `5s ago (...)`, or `-` when nothing is scheduled.
pub fn until(next: Option<&Time>, now: Timestamp) -> String {
    let Some(Time(at)) = next else {
        return "-".to_owned();
    };
    let ahead = at.duration_since(now);
    let absolute = at.strftime("%Y-%m-%dT%H:%M:%SZ");
    if ahead.is_negative() {
        format!("{} ago ({absolute})", human(ahead.abs()))
    } else {
        format!("in {} ({absolute})", human(ahead))
    }
}

/// kubectl-style short durations: `42s`, `3m12s`, `2h5m`, `3d4h`.
pub fn human(duration: SignedDuration) -> String {
    let secs = duration.as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// One line of at most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

#[cfg(test)]
mod tests;
