//! Chaos mode through the SDK: every call's fate is the seed's decision, visible to the
//! client as the matching error and in the journal, and the journal's `ok`
//! SendActivationCode entries are exactly the codes each channel received.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ssmcontacts::error::SdkError;
use aws_sdk_ssmcontacts::operation::send_activation_code::SendActivationCodeError;
use serde_json::{Value, json};
use ssm_contacts_emulator::EmulatorConfig;
use ssm_contacts_emulator::admin::{
    AdminError, ChaosOutcome, ChaosSpec, FaultKind, FaultSpec, OUTCOME_ABANDONED,
};

use crate::support::{SendResult, client, codes_sent, seeded, send, sends_journal, start};

/// What the client saw of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Success,
    /// ThrottlingException with RetryAfterSeconds 1.
    Throttled,
    InternalError,
    /// No HTTP answer at all (a cut connection).
    NoAnswer,
}

fn seen(result: &SendResult) -> Seen {
    match result {
        Ok(_) => Seen::Success,
        Err(SdkError::DispatchFailure(_)) => Seen::NoAnswer,
        Err(SdkError::ServiceError(service)) => match service.err() {
            SendActivationCodeError::ThrottlingException(e) => {
                assert_eq!(e.retry_after_seconds(), 1, "{e:?}");
                Seen::Throttled
            }
            SendActivationCodeError::InternalServerException(_) => Seen::InternalError,
            other => panic!("unexpected service error {other:?}"),
        },
        Err(other) => panic!("unexpected SDK error {other:?}"),
    }
}

fn mixed(seed: u64) -> ChaosSpec {
    ChaosSpec::new(seed)
        .internal_error(0.15)
        .throttle(0.15)
        .cut_before_processing(0.15)
        .cut_after_processing(0.15)
        .slow(0.1, 20)
        .operations(["SendActivationCode"])
}

/// Under mixed chaos, each call's SDK result and journal entry match the seed's decision
/// for its draw, and per channel the journal's `ok` entries (cut-after included) equal the
/// codes the channel received; errors and cut-before calls send nothing.
#[tokio::test]
async fn journal_accounts_for_every_code_under_chaos() {
    let emulator = start(EmulatorConfig::default()).await;
    let channels = [
        seeded(&emulator).await,
        seeded(&emulator).await,
        seeded(&emulator).await,
    ];
    let client = client(&emulator, Duration::from_secs(10));
    let spec = mixed(2024);
    let status = emulator.start_chaos(spec.clone()).expect("valid spec");
    assert_eq!(status.draws, 0);

    let calls = 150;
    let mut seen_calls = Vec::new();
    for n in 0..calls {
        let channel = &channels[n % channels.len()];
        seen_calls.push((channel.clone(), seen(&send(&client, channel).await)));
    }
    // Chaos is scoped to SendActivationCode: other operations pass untouched.
    for channel in &channels {
        client
            .get_contact_channel()
            .contact_channel_id(channel)
            .send()
            .await
            .expect("not chaos-eligible");
    }

    let entries = sends_journal(&emulator).await;
    assert_eq!(entries.len(), calls);
    let mut expected_codes: BTreeMap<String, usize> = BTreeMap::new();
    for (n, (entry, (channel, seen))) in entries.iter().zip(&seen_calls).enumerate() {
        let draw = n as u64;
        let decision = spec.decide(draw);
        assert_eq!(entry.chaos_draw, Some(draw), "{entry:?}");
        assert_eq!(entry.channel_arn.as_ref(), Some(channel));
        let (outcome, status, dropped, client_saw, sent) = match decision.outcome {
            ChaosOutcome::Pass => ("ok", Some(200), false, Seen::Success, true),
            ChaosOutcome::InternalError => (
                "InternalServerException",
                Some(500),
                false,
                Seen::InternalError,
                false,
            ),
            ChaosOutcome::Throttle => (
                "ThrottlingException",
                Some(429),
                false,
                Seen::Throttled,
                false,
            ),
            ChaosOutcome::CutBeforeProcessing => ("dropped", None, false, Seen::NoAnswer, false),
            ChaosOutcome::CutAfterProcessing => ("ok", None, true, Seen::NoAnswer, true),
        };
        let what = format!("draw {n}: {decision:?} -> {entry:?}");
        assert_eq!(entry.outcome, outcome, "{what}");
        assert_eq!(entry.http_status, status, "{what}");
        assert_eq!(entry.connection_dropped, dropped, "{what}");
        assert_eq!(*seen, client_saw, "{what}");
        assert_eq!(entry.activation_code.is_some(), sent, "{what}");
        if decision.outcome == ChaosOutcome::Pass {
            let fault = decision.slow.map(|_| "latency");
            assert_eq!(entry.fault.as_deref(), fault, "{what}");
        }
        if sent {
            *expected_codes.entry(channel.clone()).or_default() += 1;
        }
    }

    // The count a chaos suite makes: journal `ok` SendActivationCode entries per channel.
    let counted = emulator.admin().sends_per_channel().await.expect("count");
    assert_eq!(counted, expected_codes);
    for channel in &channels {
        let codes = codes_sent(&emulator, channel).await;
        assert_eq!(counted.get(channel).copied().unwrap_or(0) as u64, codes);
    }
    // More codes went out than the client was told of: the cut-after calls.
    let told = seen_calls
        .iter()
        .filter(|(_, s)| *s == Seen::Success)
        .count();
    let total: usize = counted.values().sum();
    assert!(total > told, "{total} codes, {told} successes");

    let last = emulator.stop_chaos().expect("chaos was on");
    assert_eq!(last.draws, calls as u64);
    let tally = last.tally;
    for count in [
        tally.pass,
        tally.internal_error,
        tally.throttle,
        tally.cut_before_processing,
        tally.cut_after_processing,
        tally.slow,
    ] {
        assert!(count > 0, "every kind turned up: {tally:?}");
    }
    assert_eq!(emulator.chaos(), None);
    send(&client, &channels[0]).await.expect("chaos is off");
    emulator.shutdown().await;
}

/// Two runs with the same seed and call order see the same fates; another seed differs.
#[tokio::test]
async fn same_seed_replays_the_same_run() {
    async fn run(seed: u64) -> Vec<(String, bool, Option<String>, Option<u64>)> {
        let emulator = start(EmulatorConfig::default()).await;
        let arn = seeded(&emulator).await;
        let client = client(&emulator, Duration::from_secs(10));
        emulator
            .admin()
            .start_chaos(mixed(seed))
            .await
            .expect("chaos");
        for _ in 0..40 {
            let _ = send(&client, &arn).await;
        }
        let fates = sends_journal(&emulator)
            .await
            .into_iter()
            .map(|e| (e.outcome, e.connection_dropped, e.fault, e.chaos_draw))
            .collect();
        emulator.shutdown().await;
        fates
    }
    let first = run(99).await;
    assert_eq!(first.len(), 40);
    assert_eq!(first, run(99).await);
    assert_ne!(first, run(100).await);
}

/// The admin API takes the documented JSON, shows and stops chaos, refuses nonsense, lets
/// an injected fault win over chaos, and reset turns chaos off.
#[tokio::test]
async fn admin_api_drives_chaos() {
    let emulator = start(EmulatorConfig::default()).await;
    let arn = seeded(&emulator).await;
    let http = reqwest::Client::builder().no_proxy().build().expect("http");
    let url = format!("{}/_emulator/chaos", emulator.endpoint_url());
    let spec = json!({
        "seed": 5, "internalError": 1.0, "throttle": 0.0, "slow": 0.0, "slowMillis": 10,
        "cutBeforeProcessing": 0.0, "cutAfterProcessing": 0.0,
        "operations": ["SendActivationCode"]
    });
    let started = http.post(&url).json(&spec).send().await.expect("post");
    assert_eq!(started.status(), 200);
    let status: Value = started.json().await.expect("json");
    assert_eq!(status["spec"], spec);
    assert_eq!(status["draws"], 0);

    let client = client(&emulator, Duration::from_secs(10));
    let err = send(&client, &arn).await.expect_err("chaos 500");
    assert!(err.into_service_error().is_internal_server_exception());
    // An injected fault applies first and uses no draw.
    emulator
        .admin()
        .inject_fault(FaultSpec::error("SendActivationCode", FaultKind::Html502).times(1))
        .await
        .expect("inject");
    let _ = send(&client, &arn).await.expect_err("502");
    let journal = sends_journal(&emulator).await;
    assert_eq!(journal[1].outcome, "Html502");
    assert_eq!(journal[1].chaos_draw, None);

    let shown = answer(http.get(&url)).await;
    assert_eq!(shown["draws"], 1);
    assert_eq!(shown["tally"]["internalError"], 1);
    let stopped = answer(http.delete(&url)).await;
    assert_eq!(stopped["draws"], 1);
    let again = answer(http.delete(&url)).await;
    assert_eq!(again, Value::Null);
    send(&client, &arn).await.expect("chaos stopped");

    let admin = emulator.admin();
    for bad in [
        ChaosSpec::new(1).throttle(2.0),
        ChaosSpec::new(1).throttle(0.7).internal_error(0.7),
        ChaosSpec::new(1).operations(Vec::<String>::new()),
    ] {
        let refused = admin.start_chaos(&bad).await;
        assert!(
            matches!(&refused, Err(AdminError::Status { status, .. }) if status.as_u16() == 400),
            "{bad:?}: {refused:?}"
        );
    }
    let typo = http
        .post(&url)
        .json(&json!({"seed": 1, "throtle": 0.5}))
        .send()
        .await
        .expect("post");
    assert_eq!(typo.status(), 400);
    assert_eq!(admin.chaos().await.expect("chaos"), None);

    admin
        .start_chaos(ChaosSpec::new(1).throttle(1.0))
        .await
        .expect("chaos");
    admin.reset().await.expect("reset");
    assert_eq!(admin.chaos().await.expect("chaos"), None);
    emulator.shutdown().await;
}

/// A chaos `slow` hold longer than the client waits ends as `abandoned`, with its draw,
/// and sends nothing, even when the decision was to cut after processing.
#[tokio::test]
async fn slow_chaos_past_the_client_timeout_sends_nothing() {
    let emulator = start(EmulatorConfig::default()).await;
    let arn = seeded(&emulator).await;
    let spec = ChaosSpec::new(8)
        .cut_after_processing(1.0)
        .slow(1.0, 60_000);
    emulator.start_chaos(spec).expect("valid");
    let impatient = client(&emulator, Duration::from_millis(200));
    for _ in 0..3 {
        let err = send(&impatient, &arn).await.expect_err("times out");
        assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let entries = loop {
        let entries = sends_journal(&emulator).await;
        if entries.len() == 3 || std::time::Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fates: Vec<(&str, Option<u64>, Option<&str>)> = entries
        .iter()
        .map(|e| (e.outcome.as_str(), e.chaos_draw, e.fault.as_deref()))
        .collect();
    let cut = Some("DropAfterProcessing");
    assert_eq!(
        fates,
        [
            (OUTCOME_ABANDONED, Some(0), cut),
            (OUTCOME_ABANDONED, Some(1), cut),
            (OUTCOME_ABANDONED, Some(2), cut),
        ]
    );
    assert_eq!(codes_sent(&emulator, &arn).await, 0);
    emulator.shutdown().await;
}

/// Sends one admin call and reads its JSON answer (a 2xx status, or it fails the test).
async fn answer(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("admin call")
        .json()
        .await
        .expect("json")
}
