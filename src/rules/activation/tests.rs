//! The activation decisions, case by case.

use super::*;
use crate::api::resource::{ContactChannelActivationSpec as Spec, ReadyWhen};
use crate::rules::decide::finish;

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// A status whose generation 1 code was sent at t(0).
fn sent() -> Status {
    let summary = conditions::Summary {
        generation: 1,
        reason: Reason::Sent,
        message: "sent".into(),
        reconciling: false,
        stalled: false,
    };
    Status {
        observed_generation: Some(1),
        sent_generation: Some(1),
        last_sent_time: Some(Time(t(0))),
        conditions: conditions::conditions(&[], &summary, t(0)),
        ..Status::default()
    }
}

fn reason(status: &Status, type_: &str) -> Option<String> {
    conditions::find(&status.conditions, type_).map(|c| format!("{}/{}", c.status, c.reason))
}

fn failure(code: &str) -> SendFailure {
    SendFailure {
        reason: crate::rules::outcome::reason_for_code(code),
        code: code.into(),
        message: format!("{code} from AWS"),
        http_status: Some(400),
        request_id: None,
        retry_after: None,
    }
}

#[test]
/// Checks are spaced from the send, doubling up to the cap; none once ACTIVATED.
fn checks_back_off_and_stop_at_activated() {
    let policy = CheckPolicy::default();
    let none = CodeSecret::NotReferenced;
    assert_eq!(
        next_step(&sent(), 1, &none, &policy, t(10)),
        Step::Wait(Duration::from_secs(20))
    );
    assert_eq!(next_step(&sent(), 1, &none, &policy, t(30)), Step::Check);
    let state = ChannelState {
        activation_status: "NOT_ACTIVATED".into(),
        channel_type: Some("SMS".into()),
        request_id: None,
    };
    let (checked, note) = record_check(&sent(), 1, &Ok(state), t(30));
    assert!(note.is_none());
    assert_eq!(
        reason(&checked, "Activated").as_deref(),
        Some("False/AwaitingCode")
    );
    assert_eq!(checked.channel_type.as_deref(), Some("SMS"));
    assert_eq!(
        next_step(&checked, 1, &none, &policy, t(31)),
        Step::Wait(Duration::from_secs(59))
    );
    assert_eq!(policy.interval(40), policy.max);
    let active = ChannelState {
        activation_status: ACTIVATED.into(),
        channel_type: None,
        request_id: None,
    };
    let (done, note) = record_check(&checked, 1, &Ok(active), t(100));
    assert_eq!(note.unwrap().reason, Reason::Activated);
    assert_eq!(
        reason(&done, "Activated").as_deref(),
        Some("True/Activated")
    );
    let never = CheckPolicy {
        recheck: Duration::ZERO,
        ..policy
    };
    assert_eq!(next_step(&done, 1, &none, &never, t(100_000)), Step::Idle);
}

const HOUR: i64 = 3600;

/// A status whose channel AWS reported ACTIVATED at t(100).
fn activated_at_100() -> Status {
    let active = ChannelState {
        activation_status: ACTIVATED.into(),
        channel_type: Some("SMS".into()),
        request_id: None,
    };
    record_check(&sent(), 1, &Ok(active), t(100)).0
}

#[test]
/// An activated channel is read again every recheck, timed from the last read, and a
/// confirmation publishes nothing.
fn activated_channels_are_rechecked() {
    let policy = CheckPolicy::default();
    let none = CodeSecret::NotReferenced;
    let done = activated_at_100();
    assert_eq!(
        next_step(&done, 1, &none, &policy, t(100 + HOUR)),
        Step::Wait(Duration::from_secs(11 * 3600))
    );
    assert_eq!(
        next_step(&done, 1, &none, &policy, t(100 + 12 * HOUR)),
        Step::Check
    );
    let active = ChannelState {
        activation_status: ACTIVATED.into(),
        channel_type: None,
        request_id: None,
    };
    let (again, note) = record_check(&done, 1, &Ok(active), t(100 + 12 * HOUR));
    assert_eq!(note, None);
    assert_eq!(
        reason(&again, "Activated").as_deref(),
        Some("True/Activated")
    );
    assert_eq!(
        next_step(&again, 1, &none, &policy, t(101 + 12 * HOUR)),
        Step::Wait(Duration::from_secs(12 * 3600 - 1))
    );
}

#[test]
/// A channel that falls back to NOT_ACTIVATED is Deactivated, with one Warning, no code, and
/// Ready False / Stalled under readyWhen: Activated.
fn a_channel_that_falls_back_is_deactivated() {
    let policy = CheckPolicy::default();
    let none = CodeSecret::NotReferenced;
    let not_activated = ChannelState {
        activation_status: "NOT_ACTIVATED".into(),
        channel_type: None,
        request_id: None,
    };
    let (dropped, note) = record_check(&activated_at_100(), 1, &Ok(not_activated.clone()), t(HOUR));
    let note = note.expect("a Warning Event");
    assert_eq!(
        (note.type_, note.reason, note.call),
        (
            EventType::Warning,
            Reason::Deactivated,
            Call::GetContactChannel
        )
    );
    assert_eq!(
        reason(&dropped, "Activated").as_deref(),
        Some("False/Deactivated")
    );
    assert!(matches!(
        next_step(&dropped, 1, &none, &policy, t(HOUR + 1)),
        Step::Wait(_)
    ));
    let (still, note) = record_check(&dropped, 1, &Ok(not_activated), t(3 * HOUR));
    assert_eq!(note, None);
    assert_eq!(
        reason(&still, "Activated").as_deref(),
        Some("False/Deactivated")
    );

    let mut by_default = still.clone();
    finish(&mut by_default, &Spec::default(), t(3 * HOUR));
    assert_eq!(reason(&by_default, "Ready").as_deref(), Some("True/Sent"));
    let spec = Spec {
        ready_when: ReadyWhen::Activated,
        ..Spec::default()
    };
    let mut waiting = still;
    finish(&mut waiting, &spec, t(3 * HOUR));
    assert_eq!(
        reason(&waiting, "Ready").as_deref(),
        Some("False/Deactivated")
    );
    assert_eq!(
        reason(&waiting, "Stalled").as_deref(),
        Some("True/Deactivated")
    );
    assert_eq!(reason(&waiting, "Reconciling"), None);
}

#[test]
/// A failed re-read leaves the channel Activated and is retried with backoff, not after a
/// whole recheck.
fn a_failed_recheck_keeps_activated_and_backs_off() {
    let policy = CheckPolicy::default();
    let none = CodeSecret::NotReferenced;
    let at = 100 + 12 * HOUR;
    let (failed, note) = record_check(
        &activated_at_100(),
        1,
        &Err(failure("ThrottlingException")),
        t(at),
    );
    assert_eq!(note.expect("a Warning").reason, Reason::Throttled);
    assert_eq!(
        reason(&failed, "Activated").as_deref(),
        Some("True/Activated")
    );
    assert_eq!(
        next_step(&failed, 1, &none, &policy, t(at + 10)),
        Step::Wait(Duration::from_secs(20))
    );
    let (twice, _) = record_check(&failed, 1, &Err(failure("ThrottlingException")), t(at + 30));
    assert_eq!(
        next_step(&twice, 1, &none, &policy, t(at + 30)),
        Step::Wait(Duration::from_secs(60))
    );
}

#[test]
/// A failed ActivateContactChannel (throttled, denied, 5xx) is retried with a growing
/// backoff, never at once.
fn a_failed_entry_backs_off() {
    let policy = CheckPolicy::default();
    let v1 = CodeSecret::Ready {
        version: "u/1".into(),
    };
    let (once, note) = record_entry(
        &sent(),
        1,
        "u/1",
        &Err(failure("InternalServerException")),
        t(1),
    );
    assert_eq!(note.call, Call::ActivateContactChannel);
    assert_eq!(
        next_step(&once, 1, &v1, &policy, t(2)),
        Step::Wait(Duration::from_secs(29))
    );
    assert_eq!(
        next_step(&once, 1, &v1, &policy, t(31)),
        Step::Enter {
            version: "u/1".into()
        }
    );
    let (twice, _) = record_entry(
        &once,
        1,
        "u/1",
        &Err(failure("AccessDeniedException")),
        t(31),
    );
    assert_eq!(
        next_step(&twice, 1, &v1, &policy, t(32)),
        Step::Wait(Duration::from_secs(59))
    );
    let (accepted, _) = record_entry(&twice, 1, "u/1", &Ok(()), t(91));
    assert_eq!(accepted.activation_failures, 0);
    assert_eq!(
        accepted.last_activation_check_time.map(|time| time.0),
        Some(t(91))
    );
}

#[test]
/// A failed check says why in the Activated condition and keeps backing off.
fn failed_check_is_a_reason() {
    let (status, note) = record_check(&sent(), 1, &Err(failure("AccessDeniedException")), t(30));
    assert_eq!(note.unwrap().reason, Reason::AccessDenied);
    assert_eq!(
        reason(&status, "Activated").as_deref(),
        Some("False/AccessDenied")
    );
    assert_eq!(status.activation_checks, 1);
}

#[test]
/// A code in the Secret is entered once per Secret version: a rejected one is not retried
/// until the Secret changes; other failures are retried.
fn secret_codes_are_entered_once_per_version() {
    let policy = CheckPolicy::default();
    let v1 = CodeSecret::Ready {
        version: "u/1".into(),
    };
    assert_eq!(
        next_step(&sent(), 1, &v1, &policy, t(1)),
        Step::Enter {
            version: "u/1".into()
        }
    );
    let (rejected, note) = record_entry(
        &sent(),
        1,
        "u/1",
        &Err(failure("ValidationException")),
        t(1),
    );
    assert_eq!(note.reason, Reason::CodeRejected);
    assert_eq!(
        reason(&rejected, "Activated").as_deref(),
        Some("False/CodeRejected")
    );
    assert!(!matches!(
        next_step(&rejected, 1, &v1, &policy, t(2)),
        Step::Enter { .. }
    ));
    let v2 = CodeSecret::Ready {
        version: "u/2".into(),
    };
    assert_eq!(
        next_step(&rejected, 1, &v2, &policy, t(2)),
        Step::Enter {
            version: "u/2".into()
        }
    );
    let (throttled, _) = record_entry(
        &sent(),
        1,
        "u/1",
        &Err(failure("ThrottlingException")),
        t(1),
    );
    assert_eq!(throttled.code_secret_tried, None);
    let (accepted, note) = record_entry(&rejected, 1, "u/2", &Ok(()), t(3));
    assert_eq!(note.reason, Reason::Activated);
    assert_eq!(accepted.activation_status.as_deref(), Some(ACTIVATED));
}

#[test]
/// A missing or malformed Secret is reported once, not on every reconcile.
fn invalid_secret_is_reported_once() {
    let policy = CheckPolicy::default();
    let bad = CodeSecret::Invalid("Secret \"code\" has no key \"code\"".into());
    let Step::Record { status, note } = next_step(&sent(), 1, &bad, &policy, t(1)) else {
        panic!("expected a record");
    };
    assert_eq!(note.reason, Reason::CodeSecretInvalid);
    assert_eq!(
        reason(&status, "Activated").as_deref(),
        Some("False/CodeSecretInvalid")
    );
    assert!(!matches!(
        next_step(&status, 1, &bad, &policy, t(2)),
        Step::Record { .. }
    ));
}

#[test]
/// An already ACTIVATED channel: no code, CodeSent False/AlreadyActivated, Ready True.
fn already_activated_is_ready_without_a_code() {
    let state = ChannelState {
        activation_status: ACTIVATED.into(),
        channel_type: Some("EMAIL".into()),
        request_id: None,
    };
    let status = already_activated(&Status::default(), 1, &state, t(0));
    assert_eq!(
        reason(&status, "CodeSent").as_deref(),
        Some("False/AlreadyActivated")
    );
    assert_eq!(
        reason(&status, "Ready").as_deref(),
        Some("True/AlreadyActivated")
    );
    assert_eq!(
        reason(&status, "Activated").as_deref(),
        Some("True/Activated")
    );
    assert_eq!(status.sent_generation, None);
}

#[test]
/// readyWhen: Activated makes Ready wait for the person; the default does not.
fn ready_when_activated_waits_for_the_person() {
    let state = ChannelState {
        activation_status: "NOT_ACTIVATED".into(),
        channel_type: None,
        request_id: None,
    };
    let (mut waiting, _) = record_check(&sent(), 1, &Ok(state), t(30));
    let mut by_default = waiting.clone();
    finish(&mut by_default, &Spec::default(), t(30));
    assert_eq!(reason(&by_default, "Ready").as_deref(), Some("True/Sent"));
    let spec = Spec {
        ready_when: ReadyWhen::Activated,
        ..Spec::default()
    };
    finish(&mut waiting, &spec, t(30));
    assert_eq!(
        reason(&waiting, "Ready").as_deref(),
        Some("False/AwaitingCode")
    );
    let active = ChannelState {
        activation_status: ACTIVATED.into(),
        channel_type: None,
        request_id: None,
    };
    assert_eq!(
        reason(&waiting, "Reconciling").as_deref(),
        Some("True/AwaitingCode")
    );
    let mut later = waiting.clone();
    finish(&mut later, &spec, t(45));
    assert_eq!(later, waiting, "an unchanged status reads the same later");
    let (mut done, _) = record_check(&waiting, 1, &Ok(active), t(60));
    finish(&mut done, &spec, t(60));
    assert_eq!(reason(&done, "Ready").as_deref(), Some("True/Activated"));
    assert_eq!(reason(&done, "Reconciling"), None);
}

#[test]
/// Only 6 to 10 digits are a code.
fn code_shape() {
    assert!(well_formed("123456") && well_formed("1234567890"));
    assert!(!well_formed("12345") && !well_formed("12345678901") && !well_formed("12345a"));
}
