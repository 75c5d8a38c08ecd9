//! The status conditions: `CodeSent`, `Ready`, and the kstatus pair `Reconciling` / `Stalled`
//! that Flux and Argo CD read without a custom health script.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::reason::Reason;

pub const CODE_SENT: &str = "CodeSent";
pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const ACTIVATED: &str = "Activated";

/// Where one generation stands, as the conditions will tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub generation: i64,
    pub reason: Reason,
    pub message: String,
    /// Work for the generation is pending or being retried.
    pub reconciling: bool,
    /// Progress needs a person (kstatus `Stalled`); wins over `reconciling`.
    pub stalled: bool,
}

impl Summary {
    pub fn code_sent(&self) -> bool {
        self.reason == Reason::Sent
    }

    /// Ready in the default sense (readyWhen CodeSent): the code went out, none was needed
    /// because the channel is already activated, or none is wanted while suspended. A
    /// suspended object is settled on purpose: Flux (kstatus) reads it as Current, Argo CD's
    /// health check as Suspended, rather than waiting on it until a timeout.
    pub fn ready(&self) -> bool {
        matches!(
            self.reason,
            Reason::Sent | Reason::AlreadyActivated | Reason::Suspended
        )
    }
}

/// The API server refuses a condition message longer than this (metav1.Condition).
const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// The full condition list for `summary`. A condition keeps its lastTransitionTime while its
/// status is unchanged, as the Kubernetes API conventions ask. `Reconciling` and `Stalled`
/// follow the kstatus "abnormal-true" convention: present only while true. Conditions of
/// other types (written by another tool, or by a later version of this one) are kept as
/// they are.
pub fn conditions(previous: &[Condition], summary: &Summary, now: Timestamp) -> Vec<Condition> {
    let status = |on: bool| if on { "True" } else { "False" };
    let sent = summary.code_sent();
    let stalled = summary.stalled;
    let reconciling = summary.reconciling && !stalled;
    let mut wanted = vec![(CODE_SENT, status(sent)), (READY, status(summary.ready()))];
    if reconciling {
        wanted.push((RECONCILING, "True"));
    }
    if stalled {
        wanted.push((STALLED, "True"));
    }
    let ours = [CODE_SENT, READY, RECONCILING, STALLED];
    let message = truncate_bytes(&summary.message, MAX_MESSAGE_BYTES);
    let mut list: Vec<Condition> = wanted
        .into_iter()
        .map(|(type_, status)| {
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: summary.reason.as_str().to_owned(),
                message: message.clone(),
                observed_generation: Some(summary.generation),
                last_transition_time: since,
            }
        })
        .collect();
    list.extend(
        previous
            .iter()
            .filter(|c| !ours.contains(&c.type_.as_str()))
            .cloned(),
    );
    list
}

/// Sets the condition `type_`, keeping its lastTransitionTime while its status is unchanged.
pub fn set(
    list: &mut Vec<Condition>,
    type_: &str,
    on: bool,
    reason: Reason,
    message: &str,
    generation: i64,
    now: Timestamp,
) {
    let status = if on { "True" } else { "False" };
    let since = find(list, type_)
        .filter(|c| c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    let condition = condition(type_, on, reason, message, generation, since);
    match list.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
}

/// For `readyWhen: Activated`: Ready mirrors the Activated condition, and is False with the
/// CodeSent reason while there is none yet. Once the code went out, the kstatus pair follows
/// the person too: Reconciling while the channel waits to be activated, Stalled where only a
/// person can move it on, so that Flux reads such an object as InProgress (or Failed), never
/// as Current.
pub fn ready_when_activated(list: &mut Vec<Condition>, generation: i64, now: Timestamp) {
    if find(list, CODE_SENT).is_some_and(|c| c.reason == Reason::Suspended.as_str()) {
        // Suspended is settled whatever the person does: Ready as `conditions` made it.
        return;
    }
    let (on, reason, message) = match find(list, ACTIVATED).or_else(|| find(list, CODE_SENT)) {
        Some(c) if c.type_ == ACTIVATED => (
            c.status == "True",
            Reason::parse(&c.reason).unwrap_or(Reason::AwaitingCode),
            c.message.clone(),
        ),
        Some(c) => (
            false,
            Reason::parse(&c.reason).unwrap_or(Reason::Pending),
            c.message.clone(),
        ),
        None => (false, Reason::Pending, String::new()),
    };
    set(list, READY, on, reason, &message, generation, now);

    let code_settled = find(list, CODE_SENT)
        .is_some_and(|c| c.status == "True" || c.reason == Reason::AlreadyActivated.as_str());
    if !code_settled {
        // The send's own Reconciling / Stalled stand.
        return;
    }
    list.retain(|c| c.type_ != RECONCILING && c.type_ != STALLED);
    if on {
        return;
    }
    // Since the Activated condition last changed: stable across reconciles, so an unchanged
    // status is never rewritten.
    let since = find(list, ACTIVATED).map_or(Time(now), |c| c.last_transition_time.clone());
    let type_ = if reason.needs_a_person() || reason == Reason::CodeSecretInvalid {
        STALLED
    } else {
        RECONCILING
    };
    list.push(condition(type_, true, reason, &message, generation, since));
}

fn condition(
    type_: &str,
    on: bool,
    reason: Reason,
    message: &str,
    generation: i64,
    since: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if on { "True" } else { "False" }.to_owned(),
        reason: reason.as_str().to_owned(),
        message: truncate_bytes(message, MAX_MESSAGE_BYTES),
        observed_generation: Some(generation),
        last_transition_time: since,
    }
}

/// The longest prefix of `text` within `max` bytes, cut at a character boundary.
fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_owned()
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(reason: Reason, reconciling: bool, stalled: bool) -> Summary {
        Summary {
            generation: 3,
            reason,
            message: "m".into(),
            reconciling,
            stalled,
        }
    }

    fn types(list: &[Condition]) -> Vec<(&str, &str)> {
        list.iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect()
    }

    #[test]
    /// A sent code makes CodeSent and Ready true and drops Reconciling and Stalled.
    fn sent_is_ready() {
        let list = conditions(
            &[],
            &summary(Reason::Sent, false, false),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(types(&list), [("CodeSent", "True"), ("Ready", "True")]);
        assert!(
            list.iter()
                .all(|c| c.reason == "Sent" && c.observed_generation == Some(3))
        );
    }

    #[test]
    /// Retrying shows Reconciling; needing a person shows Stalled and hides Reconciling.
    fn kstatus_pair() {
        let retrying = conditions(
            &[],
            &summary(Reason::Throttled, true, false),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            types(&retrying),
            [
                ("CodeSent", "False"),
                ("Ready", "False"),
                ("Reconciling", "True")
            ]
        );
        let stalled = conditions(
            &[],
            &summary(Reason::AccessDenied, true, true),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            types(&stalled),
            [
                ("CodeSent", "False"),
                ("Ready", "False"),
                ("Stalled", "True")
            ]
        );
    }

    #[test]
    /// A condition type this module does not own survives every rebuild.
    fn foreign_condition_types_are_kept() {
        let mut previous = conditions(
            &[],
            &summary(Reason::Pending, true, false),
            Timestamp::UNIX_EPOCH,
        );
        let activated = Condition {
            type_: "Activated".into(),
            status: "False".into(),
            reason: "AwaitingCode".into(),
            message: "m".into(),
            observed_generation: Some(3),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        };
        previous.push(activated.clone());
        let next = conditions(
            &previous,
            &summary(Reason::Sent, false, false),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(find(&next, "Activated"), Some(&activated));
        assert_eq!(next.len(), 3);
    }

    #[test]
    /// A message of any length is cut to what the API server accepts, on a char boundary.
    fn long_messages_are_cut() {
        let mut long = summary(Reason::Throttled, true, false);
        long.message = "é".repeat(40_000);
        let list = conditions(&[], &long, Timestamp::UNIX_EPOCH);
        assert!(list.iter().all(|c| c.message.len() <= MAX_MESSAGE_BYTES));
    }

    #[test]
    /// lastTransitionTime moves only when a condition's status changes.
    fn transition_time_kept_while_status_holds() {
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        let first = conditions(&[], &summary(Reason::Pending, true, false), t1);
        let second = conditions(&first, &summary(Reason::Throttled, true, false), t2);
        assert!(second.iter().all(|c| c.last_transition_time.0 == t1));
        let third = conditions(&second, &summary(Reason::Sent, false, false), t2);
        assert!(third.iter().all(|c| c.last_transition_time.0 == t2));
    }
}
