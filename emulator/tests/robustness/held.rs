//! Calls held by a latency fault longer than the client waits: the client times out, and
//! the journal says the call was abandoned and nothing was sent.
//!
//! The rule: a held call is processed only after its delay; a client that disconnects
//! first leaves an `abandoned` entry (no status, no code), and the operation never runs.

use std::time::{Duration, Instant};

use aws_sdk_ssmcontacts::error::SdkError;
use ssm_contacts_emulator::EmulatorConfig;
use ssm_contacts_emulator::admin::{FaultSpec, JournalEntry, OUTCOME_ABANDONED};

use crate::support::{client, codes_sent, seeded, send, sends_journal, start};

/// Waits until the journal holds `count` SendActivationCode entries.
async fn journal_reaches(
    emulator: &ssm_contacts_emulator::RunningEmulator,
    count: usize,
) -> Vec<JournalEntry> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries = sends_journal(emulator).await;
        if entries.len() >= count || Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An hour-long hold outlasts a 300 ms client timeout: the SDK reports a timeout, the
/// journal records `abandoned` promptly, no code is generated, and the emulator goes on.
#[tokio::test]
async fn held_call_past_the_client_timeout_is_abandoned() {
    let emulator = start(EmulatorConfig::default()).await;
    let arn = seeded(&emulator).await;
    let impatient = client(&emulator, Duration::from_millis(300));
    let admin = emulator.admin();
    let hour = FaultSpec {
        operation: Some("SendActivationCode".into()),
        latency_ms: Some(3_600_000),
        times: Some(1),
        ..FaultSpec::default()
    };
    admin.inject_fault(&hour).await.expect("inject");

    let started = Instant::now();
    let err = send(&impatient, &arn).await.expect_err("times out");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let entries = journal_reaches(&emulator, 1).await;
    let [entry] = entries.as_slice() else {
        panic!("one entry expected: {entries:?}");
    };
    assert_eq!(entry.outcome, OUTCOME_ABANDONED);
    assert_eq!(entry.fault.as_deref(), Some("latency"));
    assert_eq!(entry.http_status, None);
    assert!(!entry.connection_dropped);
    assert_eq!(entry.activation_code, None);
    assert_eq!(entry.channel_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(codes_sent(&emulator, &arn).await, 0);
    assert_eq!(admin.sends_for(&arn).await.expect("count"), 0);

    // The fault was used up; the next call is served at once.
    send(&impatient, &arn).await.expect("served");
    assert_eq!(codes_sent(&emulator, &arn).await, 1);
    emulator.shutdown().await;
}

/// An abandoned call does not run later when its delay ends; a client that waits the
/// delay out gets its call processed.
#[tokio::test]
async fn abandoned_call_never_runs_and_a_patient_one_does() {
    let emulator = start(EmulatorConfig::default()).await;
    let arn = seeded(&emulator).await;
    let admin = emulator.admin();
    let slow = FaultSpec {
        channel_arn: Some(arn.clone()),
        latency_ms: Some(700),
        ..FaultSpec::default()
    };
    admin.inject_fault(&slow).await.expect("inject");

    let impatient = client(&emulator, Duration::from_millis(150));
    let err = send(&impatient, &arn).await.expect_err("times out");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    // Well past the end of the delay the call would have had.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let entries = sends_journal(&emulator).await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, [OUTCOME_ABANDONED]);
    assert_eq!(codes_sent(&emulator, &arn).await, 0);

    let patient = client(&emulator, Duration::from_secs(10));
    let started = Instant::now();
    send(&patient, &arn).await.expect("served after the delay");
    assert!(started.elapsed() >= Duration::from_millis(700));
    let entries = sends_journal(&emulator).await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, [OUTCOME_ABANDONED, "ok"]);
    assert_eq!(codes_sent(&emulator, &arn).await, 1);
    emulator.shutdown().await;
}
