//! The activation decisions, case by case.

use super::*;
use crate::decide::finish;
use crate::resource::{ContactChannelActivationSpec as Spec, ReadyWhen};

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
        reason: crate::outcome::reason_for_code(code),
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
    };
    let (done, note) = record_check(&checked, 1, &Ok(active), t(100));
    assert_eq!(note.unwrap().reason, Reason::Activated);
    assert_eq!(
        reason(&done, "Activated").as_deref(),
        Some("True/Activated")
    );
    assert_eq!(next_step(&done, 1, &none, &policy, t(100_000)), Step::Idle);
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
    };
    let (mut done, _) = record_check(&waiting, 1, &Ok(active), t(60));
    finish(&mut done, &spec, t(60));
    assert_eq!(reason(&done, "Ready").as_deref(), Some("True/Activated"));
}

#[test]
/// Only 6 to 10 digits are a code.
fn code_shape() {
    assert!(well_formed("123456") && well_formed("1234567890"));
    assert!(!well_formed("12345") && !well_formed("12345678901") && !well_formed("12345a"));
}
