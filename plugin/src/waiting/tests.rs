use super::*;
use serde_json::{Value, json};

const ARN: &str = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a";

fn condition(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "m",
           "observedGeneration": 2, "lastTransitionTime": "2026-12-06T08:00:00Z"})
}

fn object(status: Option<Value>) -> ContactChannelActivation {
    let mut object = json!({
        "apiVersion": "ssmcontacts.oncall.dev/v1alpha1",
        "kind": "ContactChannelActivation",
        "metadata": {"name": "phone", "namespace": "team", "generation": 2},
        "spec": {"contactChannelId": ARN},
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).expect("object")
}

fn with(conditions: Vec<Value>) -> ContactChannelActivation {
    object(Some(
        json!({"observedGeneration": 2, "conditions": conditions}),
    ))
}

/// Each CodeSent / Activated reason reads as what the object waits for.
#[test]
fn waiting_follows_the_conditions() {
    let cases = [
        (object(None), "operator (not seen yet)"),
        (
            object(Some(json!({"observedGeneration": 1}))),
            "operator (new generation not seen yet)",
        ),
        (
            with(vec![condition("CodeSent", "False", "Pending")]),
            "send line (Pending)",
        ),
        (
            with(vec![condition("CodeSent", "False", "ChannelCooldown")]),
            "channel cooldown (ChannelCooldown)",
        ),
        (
            with(vec![condition("CodeSent", "False", "Throttled")]),
            "retry (Throttled)",
        ),
        (
            with(vec![condition("CodeSent", "False", "Suspended")]),
            "spec.suspend to be lifted (Suspended)",
        ),
        (
            with(vec![
                condition("CodeSent", "False", "NotAllowed"),
                condition("Stalled", "True", "NotAllowed"),
            ]),
            "a fix by a person (NotAllowed)",
        ),
        (
            with(vec![
                condition("CodeSent", "False", "AccessDenied"),
                condition("Stalled", "True", "AccessDenied"),
            ]),
            "a fix by a person (AccessDenied)",
        ),
        (
            with(vec![condition("CodeSent", "True", "Sent")]),
            "nothing (Sent)",
        ),
        (
            with(vec![
                condition("CodeSent", "True", "Sent"),
                condition("Activated", "False", "AwaitingCode"),
            ]),
            "the person to enter the code (AwaitingCode)",
        ),
        (
            with(vec![
                condition("CodeSent", "True", "Sent"),
                condition("Activated", "False", "CodeRejected"),
            ]),
            "the person: a new code in the Secret (CodeRejected)",
        ),
        (
            with(vec![
                condition("CodeSent", "True", "Sent"),
                condition("Activated", "False", "Deactivated"),
            ]),
            "a resend (channel deactivated) (Deactivated)",
        ),
        (
            with(vec![
                condition("CodeSent", "True", "Sent"),
                condition("Activated", "False", "Throttled"),
            ]),
            "retry (Throttled)",
        ),
        (
            with(vec![
                condition("CodeSent", "False", "AlreadyActivated"),
                condition("Activated", "True", "Activated"),
            ]),
            "nothing (Activated)",
        ),
    ];
    for (object, wanted) in cases {
        assert_eq!(waiting_for(&object), wanted, "{:?}", object.status);
    }
}

/// UNTIL is relative and absolute; a time passed reads as "ago"; none is "-".
#[test]
fn until_reads_relative_and_absolute() {
    let now: Timestamp = "2026-12-06T08:00:00Z".parse().expect("now");
    let at = |s: &str| Time(s.parse().expect("time"));
    assert_eq!(
        until(Some(&at("2026-12-06T08:00:42Z")), now),
        "in 42s (2026-12-06T08:00:42Z)"
    );
    assert_eq!(
        until(Some(&at("2026-12-06T09:05:00Z")), now),
        "in 1h5m (2026-12-06T09:05:00Z)"
    );
    assert_eq!(
        until(Some(&at("2026-12-06T07:59:55Z")), now),
        "5s ago (2026-12-06T07:59:55Z)"
    );
    assert_eq!(until(None, now), "-");
    assert_eq!(human(SignedDuration::from_secs(200_000)), "2d7h");
}

/// The row names the channel by its id and shortens the last error to one line.
#[test]
fn row_columns() {
    let object = object(Some(json!({
        "observedGeneration": 2,
        "attempts": 3,
        "nextAttemptTime": "2026-12-06T08:01:00Z",
        "lastError": {"code": "ThrottlingException", "message": "Rate exceeded\nslow down ".repeat(10),
                      "time": "2026-12-06T08:00:00Z"},
        "conditions": [condition("CodeSent", "False", "Throttled")],
    })));
    let now: Timestamp = "2026-12-06T08:00:00Z".parse().expect("now");
    let row = row(&object, now);
    assert_eq!(row.channel, "0c4e1a");
    assert_eq!(row.attempts, "3");
    assert_eq!(row.until, "in 1m0s (2026-12-06T08:01:00Z)");
    assert!(
        row.last_error
            .starts_with("ThrottlingException: Rate exceeded slow down")
    );
    assert_eq!(row.last_error.chars().count(), MAX_ERROR_CHARS);
}
