//! The decision table, row by row, and a model check that no sequence of events sends a
//! second code for a generation already marked sent.

use super::*;
use crate::api::reason::ALL_REASONS;
use crate::rules::note::EventType;
use crate::rules::outcome::{Sent, reason_for_code};
use proptest::prelude::*;

const ARN: &str = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/abc";
const ARN_NO_REGION: &str = "arn:aws:ssm-contacts::111122223333:contact-channel/oncall/abc";
const ME: &str = "operator-a";

fn settings() -> Settings {
    Settings {
        default_region: Some("eu-central-1".into()),
        on_unknown_outcome: UnknownOutcomePolicy::Resend,
        backoff: BackoffPolicy::default(),
        in_flight_grace: Duration::from_secs(60),
        instance: ME.into(),
    }
}

fn spec(arn: &str) -> Spec {
    Spec {
        contact_channel_id: arn.into(),
        ..Spec::default()
    }
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn run(spec: &Spec, status: &Status, generation: i64, now: Timestamp) -> Decision {
    decide(
        Observed {
            generation,
            spec,
            status,
        },
        &settings(),
        now,
        Local::default(),
        0.5,
    )
}

/// What this process knows when it has watched another instance's intent for `seen` seconds.
fn seen(seconds: u64) -> Local<'static> {
    Local {
        flight_seen_for: Duration::from_secs(seconds),
        ..Local::default()
    }
}

/// The intent of the first attempt, as another operator instance wrote it.
fn foreign_intent() -> Status {
    let (_, _, mut intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    intent.send_in_flight.as_mut().unwrap().holder = "operator-b".into();
    intent
}

fn decide_with(status: &Status, settings: &Settings, now: Timestamp, local: Local<'_>) -> Decision {
    decide(
        Observed {
            generation: 1,
            spec: &spec(ARN),
            status,
        },
        settings,
        now,
        local,
        0.5,
    )
}

fn expect_send(decision: Decision) -> (ChannelArn, String, Status) {
    match decision {
        Decision::Send {
            channel,
            region,
            intent,
            ..
        } => (channel, region, intent),
        other => panic!("expected a send, got {other:?}"),
    }
}

fn expect_record(decision: Decision) -> (Status, Option<Duration>, Option<Note>) {
    match decision {
        Decision::Record {
            status,
            requeue,
            note,
        } => (status, requeue, note),
        other => panic!("expected a status record, got {other:?}"),
    }
}

fn reason_of(status: &Status, type_: &str) -> Option<String> {
    conditions::find(&status.conditions, type_).map(|c| format!("{}/{}", c.status, c.reason))
}

fn aws_error(code: &str, retry_after: Option<u64>) -> SendFailure {
    SendFailure {
        reason: reason_for_code(code),
        code: code.into(),
        message: format!("{code} from AWS"),
        http_status: Some(400),
        request_id: Some("req-1".into()),
        retry_after: retry_after.map(Duration::from_secs),
    }
}

/// Sends generation `generation` and records `outcome`, returning the recorded status.
fn attempt(
    spec: &Spec,
    status: &Status,
    generation: i64,
    now: Timestamp,
    outcome: SendOutcome,
) -> (Status, Option<Duration>, Note) {
    let (_, _, intent) = expect_send(run(spec, status, generation, now));
    record_outcome(&intent, &outcome, &settings(), now, 0.5)
}

#[test]
/// A new object is sent at once, with a written-ahead intent naming this instance.
fn new_object_sends_with_intent() {
    let (channel, region, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    assert_eq!(channel.as_str(), ARN);
    assert_eq!(region, "us-east-1");
    let flight = intent.send_in_flight.clone().unwrap();
    assert_eq!(
        (flight.generation, flight.attempt, flight.holder.as_str()),
        (1, 1, ME)
    );
    assert_eq!(intent.attempts, 1);
    assert_eq!(intent.observed_generation, Some(1));
    assert_eq!(
        reason_of(&intent, "CodeSent").as_deref(),
        Some("False/Pending")
    );
    assert_eq!(
        reason_of(&intent, "Reconciling").as_deref(),
        Some("True/Pending")
    );
}

#[test]
/// Success marks the generation sent and Ready; afterwards nothing is ever sent again.
fn success_is_final_for_the_generation() {
    let (status, requeue, note) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Ok(Sent {
            request_id: Some("r".into()),
        }),
    );
    assert_eq!(status.sent_generation, Some(1));
    assert_eq!(status.send_in_flight, None);
    assert_eq!(status.last_sent_time, Some(Time(t(0))));
    assert_eq!(requeue, None);
    assert_eq!((note.type_, note.reason), (EventType::Normal, Reason::Sent));
    assert_eq!(reason_of(&status, "Ready").as_deref(), Some("True/Sent"));
    assert_eq!(reason_of(&status, "Reconciling"), None);
    for later in [t(1), t(86_400), t(10_000_000)] {
        assert_eq!(run(&spec(ARN), &status, 1, later), Decision::Idle);
    }
}

#[test]
/// A spec change (new generation) asks for exactly one new code.
fn generation_bump_sends_again() {
    let (sent, _, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Ok(Sent { request_id: None }),
    );
    let mut changed = spec(ARN);
    changed.resend_token = Some("again".into());
    let (_, _, intent) = expect_send(run(&changed, &sent, 2, t(5)));
    assert_eq!(intent.attempts, 1);
    let (sent2, _, _) = record_outcome(
        &intent,
        &Ok(Sent { request_id: None }),
        &settings(),
        t(5),
        0.5,
    );
    assert_eq!(sent2.sent_generation, Some(2));
    assert_eq!(run(&changed, &sent2, 2, t(6)), Decision::Idle);
}

#[test]
/// Each AWS error of the contract ends in its reason, with the right retry and kstatus shape.
fn error_table_rows() {
    // (code, reason, retried?, earliest retry in seconds, stalled?)
    let rows = [
        ("ThrottlingException", "Throttled", true, 0, false),
        (
            "InternalServerException",
            "AwsInternalError",
            true,
            0,
            false,
        ),
        (
            "ServiceQuotaExceededException",
            "QuotaExceeded",
            true,
            30,
            false,
        ),
        ("AccessDeniedException", "AccessDenied", true, 30, true),
        (
            "DataEncryptionException",
            "DataEncryptionError",
            true,
            30,
            true,
        ),
        (
            "ResourceNotFoundException",
            "ChannelNotFound",
            true,
            30,
            false,
        ),
        ("ValidationException", "ValidationFailed", false, 0, true),
    ];
    for (code, reason, retried, min_delay, stalled) in rows {
        let (status, requeue, note) = attempt(
            &spec(ARN),
            &Status::default(),
            1,
            t(0),
            Err(aws_error(code, None)),
        );
        assert_eq!(
            reason_of(&status, "CodeSent"),
            Some(format!("False/{reason}")),
            "{code}"
        );
        assert_eq!(
            reason_of(&status, "Ready"),
            Some(format!("False/{reason}")),
            "{code}"
        );
        assert_eq!(requeue.is_some(), retried, "{code}");
        assert_eq!(status.next_attempt_time.is_some(), retried, "{code}");
        assert!(
            requeue.unwrap_or_default() >= Duration::from_secs(min_delay),
            "{code}"
        );
        assert_eq!(reason_of(&status, "Stalled").is_some(), stalled, "{code}");
        assert_eq!(
            reason_of(&status, "Reconciling").is_some(),
            retried && !stalled,
            "{code}"
        );
        let error = status.last_error.clone().unwrap();
        assert_eq!(
            (
                error.code.as_str(),
                error.request_id.as_deref(),
                error.http_status
            ),
            (code, Some("req-1"), Some(400))
        );
        let message = &conditions::find(&status.conditions, "CodeSent")
            .unwrap()
            .message;
        assert!(
            message.contains(&format!("{code} from AWS")) && message.contains("req-1"),
            "{message}"
        );
        assert_eq!(
            (note.type_, note.reason.as_str()),
            (EventType::Warning, reason)
        );
        assert_eq!(status.sent_generation, None);
    }
}

#[test]
/// ValidationException is terminal: no call until the spec changes, then one.
fn validation_failure_waits_for_spec_change() {
    let (failed, _, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Err(aws_error("ValidationException", None)),
    );
    assert_eq!(run(&spec(ARN), &failed, 1, t(100_000)), Decision::Idle);
    expect_send(run(&spec(ARN), &failed, 2, t(100_001)));
}

#[test]
/// Throttling waits at least RetryAfterSeconds, and nothing is sent before then.
fn throttle_honours_retry_after() {
    let (throttled, requeue, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Err(aws_error("ThrottlingException", Some(30))),
    );
    assert!(requeue.unwrap() >= Duration::from_secs(30));
    let due = throttled.next_attempt_time.clone().unwrap().0;
    assert!(due >= t(30));
    match run(&spec(ARN), &throttled, 1, t(10)) {
        Decision::Wait(wait) => assert_eq!(
            Timestamp::from_second(t(10).as_second()).unwrap() + wait,
            due
        ),
        other => panic!("expected a wait, got {other:?}"),
    }
    let (_, _, intent) = expect_send(run(&spec(ARN), &throttled, 1, due));
    assert_eq!(intent.attempts, 2);
    assert_eq!(
        reason_of(&intent, "CodeSent").as_deref(),
        Some("False/Throttled")
    );
}

#[test]
/// Repeated transient failures back off exponentially, counting attempts.
fn repeated_failures_back_off() {
    let mut status = Status::default();
    let mut now = t(0);
    let mut delays = vec![];
    for _ in 0..5 {
        let (next, requeue, _) = attempt(
            &spec(ARN),
            &status,
            1,
            now,
            Err(aws_error("InternalServerException", None)),
        );
        delays.push(requeue.unwrap());
        now = next.next_attempt_time.clone().unwrap().0;
        status = next;
    }
    assert_eq!(status.attempts, 5);
    assert!(delays.windows(2).all(|w| w[1] > w[0]), "{delays:?}");
}

#[test]
/// Suspended objects make no call and say so, settled on purpose (Ready, neither
/// Reconciling nor Stalled, whatever readyWhen); unsuspending (a new generation) sends.
fn suspend() {
    let mut suspended = spec(ARN);
    suspended.suspend = true;
    let (status, requeue, _) = expect_record(run(&suspended, &Status::default(), 1, t(0)));
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/Suspended")
    );
    assert_eq!(
        reason_of(&status, "Ready").as_deref(),
        Some("True/Suspended")
    );
    assert_eq!(reason_of(&status, "Reconciling"), None);
    assert_eq!(reason_of(&status, "Stalled"), None);
    let mut waiting_for_a_person = suspended.clone();
    waiting_for_a_person.ready_when = crate::api::resource::ReadyWhen::Activated;
    let (status_activated, _, _) =
        expect_record(run(&waiting_for_a_person, &Status::default(), 1, t(0)));
    assert_eq!(
        reason_of(&status_activated, "Ready").as_deref(),
        Some("True/Suspended")
    );
    assert_eq!(status.send_in_flight, None);
    assert_eq!(run(&suspended, &status, 1, t(10)), Decision::Idle);
    expect_send(run(&spec(ARN), &status, 2, t(20)));
}

#[test]
/// Region precedence reaches the call: spec override, ARN, operator default.
fn region_resolution() {
    let mut overridden = spec(ARN);
    overridden.region = Some("us-west-2".into());
    assert_eq!(
        expect_send(run(&overridden, &Status::default(), 1, t(0))).1,
        "us-west-2"
    );
    assert_eq!(
        expect_send(run(&spec(ARN), &Status::default(), 1, t(0))).1,
        "us-east-1"
    );
    assert_eq!(
        expect_send(run(&spec(ARN_NO_REGION), &Status::default(), 1, t(0))).1,
        "eu-central-1"
    );
}

#[test]
/// No region anywhere: RegionUnknown, Stalled, no call, and the decision stays put.
fn missing_region_is_stalled() {
    let mut no_default = settings();
    no_default.default_region = None;
    let spec = spec(ARN_NO_REGION);
    let decision = decide(
        Observed {
            generation: 1,
            spec: &spec,
            status: &Status::default(),
        },
        &no_default,
        t(0),
        Local::default(),
        0.5,
    );
    let (status, requeue, note) = expect_record(decision);
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/RegionUnknown")
    );
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/RegionUnknown")
    );
    assert_eq!(note.unwrap().reason, Reason::RegionUnknown);
    let again = decide(
        Observed {
            generation: 1,
            spec: &spec,
            status: &status,
        },
        &no_default,
        t(50),
        Local::default(),
        0.5,
    );
    assert_eq!(again, Decision::Idle);
    // A default region configured later (an operator restart) unblocks it.
    expect_send(decide(
        Observed {
            generation: 1,
            spec: &spec,
            status: &status,
        },
        &settings(),
        t(60),
        Local::default(),
        0.5,
    ));
}

#[test]
/// A spec the schema should have refused still ends in a reason, not a crash.
fn invalid_arn_is_a_status() {
    let (status, _, _) = expect_record(run(
        &spec("arn:aws:ssm:us-east-1:1:x"),
        &Status::default(),
        1,
        t(0),
    ));
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/InvalidSpec")
    );
}

#[test]
/// Another instance's intent, watched past the grace, means the outcome is unknown:
/// recorded, then (default policy) sent again after a backoff.
fn lost_outcome_resends_after_backoff() {
    let intent = foreign_intent();
    let (status, requeue, note) = expect_record(decide_with(&intent, &settings(), t(5), seen(60)));
    assert_eq!(note.unwrap().reason, Reason::OutcomeUnknown);
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/OutcomeUnknown")
    );
    assert_eq!(status.send_in_flight, None);
    let due = status.next_attempt_time.clone().unwrap().0;
    assert!(requeue.is_some());
    let (_, _, retry) = expect_send(run(&spec(ARN), &status, 1, due));
    assert_eq!(retry.attempts, 2);
}

#[test]
/// An intent of this very process that no task runs and no memory holds was never followed
/// by a call (its write timed out but committed): sent again, not called OutcomeUnknown.
fn own_intent_without_a_call_is_not_a_lost_outcome() {
    let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let (_, _, again) = expect_send(run(&spec(ARN), &intent, 1, t(5)));
    assert_eq!(again.attempts, 2);
    assert_eq!(
        reason_of(&again, "CodeSent").as_deref(),
        Some("False/Pending")
    );
}

#[test]
/// A call this process is making right now is never taken for lost, however long it runs.
fn own_running_call_is_waited_for() {
    let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let running = Local {
        running_here: true,
        flight_seen_for: Duration::from_secs(1_000_000),
        ..Local::default()
    };
    assert!(matches!(
        decide_with(&intent, &settings(), t(100_000), running),
        Decision::Wait(_)
    ));
}

#[test]
/// With --on-unknown-outcome=hold the object stays OutcomeUnknown and Stalled.
fn lost_outcome_held() {
    let mut hold = settings();
    hold.on_unknown_outcome = UnknownOutcomePolicy::Hold;
    let (status, requeue, _) = expect_record(decide_with(&foreign_intent(), &hold, t(5), seen(60)));
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/OutcomeUnknown")
    );
    let later = decide_with(&status, &hold, t(100_000), Local::default());
    assert_eq!(later, Decision::Idle);
}

#[test]
/// Another instance's intent is waited out for the grace, counted on this process's own
/// clock from when it first saw the intent: the writer's clock does not shorten it.
fn foreign_intent_gets_a_grace_period() {
    let intent = foreign_intent();
    assert_eq!(
        decide_with(&intent, &settings(), t(10), seen(10)),
        Decision::Wait(Duration::from_secs(50))
    );
    // The writer's clock ran an hour behind: still the full grace from first sight.
    assert_eq!(
        decide_with(&intent, &settings(), t(3600), seen(0)),
        Decision::Wait(Duration::from_secs(60))
    );
    let (status, _, _) = expect_record(decide_with(&intent, &settings(), t(61), seen(61)));
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/OutcomeUnknown")
    );
}

#[test]
/// An in-flight start time at the end of representable time (a restored or hand-written
/// status) is waited out like any other, then recorded: no panic, no wait forever.
fn far_future_intent_time_is_handled() {
    let mut intent = foreign_intent();
    intent.send_in_flight.as_mut().unwrap().started_time = Time(Timestamp::MAX);
    assert!(matches!(
        decide_with(&intent, &settings(), t(0), seen(0)),
        Decision::Wait(_)
    ));
    let (status, _, _) = expect_record(decide_with(&intent, &settings(), t(0), seen(60)));
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/OutcomeUnknown")
    );
}

#[test]
/// A retry time further out than any backoff could set (year 9999) does not park the object.
fn far_future_retry_time_is_not_waited_for() {
    let (mut status, _, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Err(aws_error("ThrottlingException", None)),
    );
    status.next_attempt_time = Some(Time(Timestamp::MAX));
    let (_, _, retry) = expect_send(run(&spec(ARN), &status, 1, t(1)));
    assert_eq!(retry.attempts, 2);
}

#[test]
/// An attempt count at its maximum ends in a clear reason, not an overflow.
fn attempts_at_maximum_is_invalid_status() {
    let (mut status, _, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Err(aws_error("ThrottlingException", None)),
    );
    // The CRD's int32 maximum: one more could not be stored.
    status.attempts = i32::MAX as u32;
    status.next_attempt_time = None;
    let (status, requeue, note) = expect_record(run(&spec(ARN), &status, 1, t(10)));
    assert_eq!(requeue, None);
    assert_eq!(note.unwrap().reason, Reason::InvalidStatus);
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/InvalidStatus")
    );
}

#[test]
/// RegionUnknown after earlier attempts is not terminal: once the operator has a default
/// region (a restart with --default-region), the generation is sent.
fn region_unknown_after_attempts_recovers() {
    let mut no_default = settings();
    no_default.default_region = None;
    let no_region = spec(ARN_NO_REGION);
    let (failed, _, _) = {
        let (_, _, intent) = expect_send(run(&no_region, &Status::default(), 1, t(0)));
        record_outcome(
            &intent,
            &Err(aws_error("InternalServerException", None)),
            &settings(),
            t(0),
            0.5,
        )
    };
    let observed = Observed {
        generation: 1,
        spec: &no_region,
        status: &failed,
    };
    let (refused, _, _) = expect_record(decide(observed, &no_default, t(5), Local::default(), 0.5));
    assert_eq!(
        reason_of(&refused, "CodeSent").as_deref(),
        Some("False/RegionUnknown")
    );
    assert!(refused.attempts > 0 && refused.next_attempt_time.is_none());
    let (_, region, _) = expect_send(run(&no_region, &refused, 1, t(6)));
    assert_eq!(region, "eu-central-1");
}

#[test]
/// An outcome this process kept in memory (its status write failed) is recorded, not lost.
fn remembered_outcome_is_recorded() {
    let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let memory = Remembered {
        flight: intent.send_in_flight.clone().unwrap(),
        outcome: Ok(Sent { request_id: None }),
    };
    let local = Local {
        unrecorded: Some(&memory),
        ..Local::default()
    };
    let (status, _, _) = expect_record(decide_with(&intent, &settings(), t(9), local));
    assert_eq!(status.sent_generation, Some(1));
}

#[test]
/// A status that says "sent" but lacks conditions (written by hand) is repaired, not resent.
fn sent_status_is_repaired_without_a_call() {
    let status = Status {
        sent_generation: Some(4),
        observed_generation: Some(4),
        ..Status::default()
    };
    let (repaired, _, _) = expect_record(run(&spec(ARN), &status, 4, t(0)));
    assert_eq!(reason_of(&repaired, "Ready").as_deref(), Some("True/Sent"));
    assert_eq!(run(&spec(ARN), &repaired, 4, t(1)), Decision::Idle);
}

#[test]
/// Every failure reason with a retry schedules one; the others never do.
fn every_reason_has_a_retry_rule() {
    for reason in ALL_REASONS {
        let failure = SendFailure::local(reason, "x");
        let (_, intent_status) = {
            let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
            ((), intent)
        };
        let (status, requeue, _) =
            record_outcome(&intent_status, &Err(failure), &settings(), t(0), 0.5);
        assert_eq!(
            requeue.is_some(),
            reason.retry() != Retry::Never,
            "{reason:?}"
        );
        assert_eq!(
            status.next_attempt_time.is_some(),
            requeue.is_some(),
            "{reason:?}"
        );
    }
}

/// Events that can happen to one object, in any order.
#[derive(Clone, Debug)]
enum Step {
    /// The controller reconciles; a send it decides on ends in this AWS answer.
    Reconcile(Answer),
    /// AWS accepted the call, then the process died before recording it.
    CrashAfterAccept,
    /// The object's spec changes.
    SpecChange,
    /// The operator restarts (memory lost, a new instance identity).
    Restart,
    /// Time passes.
    Sleep(u32),
    /// The status write of an outcome fails; this process remembers the outcome.
    OutcomeWriteFails(Answer),
    /// The intent write timed out on the client but committed; no call was made.
    IntentCommittedWithoutCall,
}

#[derive(Clone, Copy, Debug)]
enum Answer {
    Accept,
    Reject(usize),
}

const CODES: [&str; 8] = [
    "ThrottlingException",
    "InternalServerException",
    "ServiceQuotaExceededException",
    "AccessDeniedException",
    "DataEncryptionException",
    "ResourceNotFoundException",
    "ValidationException",
    "Garbage",
];

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        Just(Answer::Accept),
        (0..CODES.len()).prop_map(Answer::Reject)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => answer().prop_map(Step::Reconcile),
        1 => Just(Step::CrashAfterAccept),
        1 => Just(Step::SpecChange),
        1 => Just(Step::Restart),
        2 => (0u32..4000).prop_map(Step::Sleep),
        1 => answer().prop_map(Step::OutcomeWriteFails),
        1 => Just(Step::IntentCommittedWithoutCall),
    ]
}

fn outcome_of(answer: Answer) -> SendOutcome {
    match answer {
        Answer::Accept => Ok(Sent { request_id: None }),
        Answer::Reject(i) => Err(aws_error(CODES[i], Some(1))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    /// Whatever happens, AWS accepts at most one send per generation, plus one for each
    /// crash that lost an accepted send; and a generation marked sent is never sent again.
    fn at_most_one_accepted_send_per_generation(steps in proptest::collection::vec(step(), 1..60), hold in any::<bool>()) {
        let spec_for = |generation: i64| Spec { resend_token: Some(generation.to_string()), ..spec(ARN) };
        let mut settings = settings();
        if hold { settings.on_unknown_outcome = UnknownOutcomePolicy::Hold; }
        let mut generation = 1i64;
        let mut status = Status::default();
        let mut memory: Option<Remembered> = None;
        let mut now = t(0);
        let mut accepted = std::collections::HashMap::<i64, u32>::new();
        let mut lost = std::collections::HashMap::<i64, u32>::new();
        let mut restarts = 0;

        for step in steps {
            now += Duration::from_secs(1);
            let spec = spec_for(generation);
            let observed = Observed { generation, spec: &spec, status: &status };
            // The worst case for guarantee 1: another instance's intent counts as lost at once.
            let local = Local { unrecorded: memory.as_ref(), flight_seen_for: Duration::MAX, ..Local::default() };
            match step {
                Step::SpecChange => { generation += 1; continue; }
                Step::Restart => {
                    if let Some(lost_send) = memory.take().filter(|m| m.outcome.is_ok()) {
                        *lost.entry(lost_send.flight.generation).or_default() += 1;
                    }
                    restarts += 1; settings.instance = format!("operator-{restarts}"); continue; }
                Step::Sleep(s) => { now += Duration::from_secs(u64::from(s)); continue; }
                Step::Reconcile(answer) | Step::OutcomeWriteFails(answer) => {
                    match decide(observed, &settings, now, local, 0.5) {
                        Decision::Send { intent, .. } => {
                            prop_assert_ne!(status.sent_generation, Some(generation), "send for a generation already sent");
                            let outcome = outcome_of(answer);
                            if outcome.is_ok() { *accepted.entry(generation).or_default() += 1; }
                            if matches!(step, Step::OutcomeWriteFails(_)) {
                                memory = Some(Remembered { flight: intent.send_in_flight.clone().unwrap(), outcome });
                                status = intent;
                            } else {
                                status = record_outcome(&intent, &outcome, &settings, now, 0.5).0;
                                memory = None;
                            }
                        }
                        Decision::Record { status: next, .. } => { status = next; memory = None; }
                        Decision::Wait(_) | Decision::Idle => {}
                    }
                }
                Step::IntentCommittedWithoutCall => {
                    if let Decision::Send { intent, .. } = decide(observed, &settings, now, local, 0.5) {
                        status = intent;
                    }
                }
                Step::CrashAfterAccept => {
                    if let Decision::Send { intent, .. } = decide(observed, &settings, now, local, 0.5) {
                        prop_assert_ne!(status.sent_generation, Some(generation));
                        *accepted.entry(generation).or_default() += 1;
                        *lost.entry(generation).or_default() += 1;
                        status = intent;
                        memory = None;
                        restarts += 1;
                        settings.instance = format!("operator-{restarts}");
                    }
                }
            }
        }
        for (generation, count) in accepted {
            let allowance = 1 + lost.get(&generation).copied().unwrap_or(0);
            prop_assert!(count <= allowance, "generation {generation}: {count} accepted sends, allowance {allowance}");
        }
    }
}

fn any_time() -> impl Strategy<Value = Timestamp> {
    (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
        .prop_map(|s| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100_000).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_secs),
        Just(Duration::MAX),
        Just(Duration::ZERO),
    ]
}

fn any_condition()
-> impl Strategy<Value = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    (
        prop_oneof![
            Just("CodeSent"),
            Just("Ready"),
            Just("Stalled"),
            Just("Activated"),
            Just("x")
        ],
        prop_oneof![Just("True"), Just("False"), Just("Unknown")],
        prop_oneof![
            Just("ValidationFailed".to_owned()),
            Just("OutcomeUnknown".to_owned()),
            ".{0,20}"
        ],
        any::<Option<i64>>(),
        any_time(),
    )
        .prop_map(|(type_, status, reason, generation, at)| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: type_.into(),
                status: status.into(),
                reason,
                message: String::new(),
                observed_generation: generation,
                last_transition_time: Time(at),
            }
        })
}

fn any_status() -> impl Strategy<Value = Status> {
    let flight = (
        any::<i64>(),
        any::<u32>(),
        prop_oneof![Just(ME.to_owned()), ".{0,10}", ".{2000,3000}"],
        any_time(),
    )
        .prop_map(|(generation, attempt, holder, at)| SendInFlight {
            generation,
            attempt,
            holder,
            started_time: Time(at),
            contact_channel_id: Some(ARN.to_owned()),
        });
    (
        any::<Option<i64>>(),
        proptest::collection::vec(any_condition(), 0..6),
        any::<Option<i64>>(),
        proptest::option::of(any_time()),
        prop_oneof![any::<u32>(), Just(u32::MAX), Just(0)],
        proptest::option::of(any_time()),
        proptest::option::of(flight),
    )
        .prop_map(
            |(observed, conditions, sent, last_sent, attempts, next, flight)| Status {
                observed_generation: observed,
                channel_id: None,
                conditions,
                sent_generation: sent,
                last_sent_time: last_sent.map(Time),
                attempts,
                next_attempt_time: next.map(Time),
                last_error: None,
                send_in_flight: flight,
                ..Status::default()
            },
        )
}

fn any_settings() -> impl Strategy<Value = Settings> {
    (
        any_duration(),
        any_duration(),
        any_duration(),
        any_duration(),
        any_duration(),
        any::<bool>(),
    )
        .prop_map(
            |(fast_base, fast_max, slow_base, slow_max, grace, hold)| Settings {
                default_region: Some("eu-central-1".into()),
                on_unknown_outcome: if hold {
                    UnknownOutcomePolicy::Hold
                } else {
                    UnknownOutcomePolicy::Resend
                },
                backoff: BackoffPolicy {
                    fast_base,
                    fast_max,
                    slow_base,
                    slow_max,
                },
                in_flight_grace: grace,
                instance: ME.into(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    /// decide() and record_outcome() return for any status, settings, clock and jitter: a
    /// value written by anyone with status rights cannot crash the operator.
    fn decide_is_total(
        status in any_status(),
        settings in any_settings(),
        generation in any::<i64>(),
        now in any_time(),
        seen in any_duration(),
        running in any::<bool>(),
        jitter in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), 0.0f64..1.0],
        retry_after in proptest::option::of(any_duration()),
        suspend in any::<bool>(),
    ) {
        let spec = Spec { suspend, ..spec(ARN) };
        let local = Local { running_here: running, flight_seen_for: seen, ..Local::default() };
        let observed = Observed { generation, spec: &spec, status: &status };
        let _ = decide(observed, &settings, now, local, jitter);
        let mut failure = aws_error("ThrottlingException", None);
        failure.retry_after = retry_after;
        let _ = record_outcome(&status, &Err(failure), &settings, now, jitter);
        let _ = record_outcome(&status, &Ok(Sent { request_id: None }), &settings, now, jitter);
    }
}

#[test]
/// lastError describes the current generation only: cleared once its code is sent, and when
/// a new generation starts; the channel's id is recorded for kubectl get.
fn last_error_clears_when_sent_and_on_a_new_generation() {
    let (failed, _, _) = attempt(
        &spec(ARN),
        &Status::default(),
        1,
        t(0),
        Err(aws_error("ThrottlingException", None)),
    );
    assert!(failed.last_error.is_some());
    assert_eq!(failed.channel_id.as_deref(), Some("abc"));
    let due = failed.next_attempt_time.clone().unwrap().0;
    let (sent, _, _) = attempt(&spec(ARN), &failed, 1, due, Ok(Sent { request_id: None }));
    assert_eq!(sent.last_error, None);

    let mut changed = spec(ARN);
    changed.resend_token = Some("again".into());
    let (_, _, intent) = expect_send(run(&changed, &failed, 2, t(5)));
    assert_eq!(intent.last_error, None);
}

#[test]
/// A default region of another partition than the ARN's (which the CRD cannot see) is
/// InvalidSpec, with no call.
fn default_region_of_another_partition_is_invalid_spec() {
    let mut china = settings();
    china.default_region = Some("cn-north-1".into());
    let no_region = spec(ARN_NO_REGION);
    let observed = Observed {
        generation: 1,
        spec: &no_region,
        status: &Status::default(),
    };
    let (status, requeue, _) = expect_record(decide(observed, &china, t(0), Local::default(), 0.5));
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/InvalidSpec")
    );
}

#[test]
/// An object the tenancy guards refuse: NotAllowed, Stalled, a Warning, no call; the same
/// answer again writes nothing; once admitted, the send goes.
fn refused_objects_are_stalled_without_a_call() {
    let refused = Local {
        not_allowed: Some("account 111122223333 is not allowed"),
        ..Local::default()
    };
    let (status, requeue, note) =
        expect_record(decide_with(&Status::default(), &settings(), t(0), refused));
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/NotAllowed")
    );
    assert_eq!(
        reason_of(&status, "Stalled").as_deref(),
        Some("True/NotAllowed")
    );
    let note = note.unwrap();
    assert_eq!(
        (note.type_, note.reason),
        (EventType::Warning, Reason::NotAllowed)
    );
    assert!(note.message.contains("not allowed"), "{}", note.message);
    assert_eq!(status.attempts, 0);
    assert!(status.send_in_flight.is_none());
    assert_eq!(
        decide_with(&status, &settings(), t(30), refused),
        Decision::Idle
    );
    expect_send(decide_with(&status, &settings(), t(60), Local::default()));
}

#[test]
/// A send held by its channel's limits is deferred, not dropped: ChannelCooldown,
/// Reconciling, the time it goes, the attempt not counted, one Event.
fn channel_cooldown_defers_the_send() {
    let previous = Status::default();
    let (_, _, intent) = expect_send(run(&spec(ARN), &previous, 1, t(0)));
    let until = t(59).checked_add(Duration::from_millis(300)).unwrap();
    let decision = defer_for_channel(
        &previous,
        &spec(ARN),
        intent.clone(),
        until,
        "one code a minute".into(),
        t(0),
    );
    let (status, requeue, note) = expect_record(decision);
    assert_eq!(requeue, Some(Duration::from_secs(60)));
    assert_eq!(status.next_attempt_time, Some(Time(t(60))));
    assert_eq!(status.attempts, 0);
    assert!(status.send_in_flight.is_none());
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/ChannelCooldown")
    );
    assert!(reason_of(&status, "Reconciling").is_some());
    assert_eq!(reason_of(&status, "Stalled"), None);
    assert_eq!(note.unwrap().reason, Reason::ChannelCooldown);

    // Decided again before its time: the same deferral, nothing to write.
    let (_, _, again) = expect_send(run(&spec(ARN), &status, 1, t(10)));
    assert_eq!(again.attempts, 1);
    assert_eq!(
        defer_for_channel(
            &status,
            &spec(ARN),
            again.clone(),
            until,
            "one code a minute".into(),
            t(10)
        ),
        Decision::Wait(Duration::from_secs(50))
    );
    // Pushed further out (another object went first): a new time, but no second Event.
    let later = t(120);
    let (moved, _, note) = expect_record(defer_for_channel(
        &status,
        &spec(ARN),
        again,
        later,
        "one code a minute".into(),
        t(10),
    ));
    assert_eq!(moved.next_attempt_time, Some(Time(t(120))));
    assert!(note.is_none());
}

#[test]
/// Calls that sent or may have sent a code are remembered for an hour, with their channel.
fn recent_sends_are_remembered_for_an_hour() {
    let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let sent = Ok(Sent {
        request_id: Some("r".into()),
    });
    let (after, _, _) = record_outcome(&intent, &sent, &settings(), t(1), 0.5);
    assert_eq!(after.recent_sends.len(), 1);
    assert_eq!(after.recent_sends[0].contact_channel_id, ARN);
    assert_eq!(after.recent_sends[0].time, Time(t(0)));

    let unknown = Err(SendFailure::local(Reason::OutcomeUnknown, "cut"));
    let throttled = Err(aws_error("ThrottlingException", None));
    let (_, _, second) = expect_send(run(&spec(ARN), &Status::default(), 1, t(1800)));
    let mut second = second;
    second.recent_sends = after.recent_sends.clone();
    let (kept, _, _) = record_outcome(&second, &unknown, &settings(), t(1801), 0.5);
    assert_eq!(kept.recent_sends.len(), 2);
    let (not_sent, _, _) = record_outcome(&second, &throttled, &settings(), t(1801), 0.5);
    assert_eq!(not_sent.recent_sends.len(), 1);
    // An hour after the first call it is forgotten.
    let (aged, _, _) = record_outcome(&second, &throttled, &settings(), t(3601), 0.5);
    assert!(aged.recent_sends.is_empty());
}

#[test]
/// A lost call whose recorded start lies far ahead counts from now, and recent sends from
/// far ahead are dropped: a status from elsewhere cannot block its channel for years.
fn future_times_never_block_a_channel() {
    let (_, _, mut intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let far = Timestamp::MAX
        .checked_sub(Duration::from_secs(86_400))
        .unwrap();
    intent.send_in_flight.as_mut().unwrap().started_time = Time(far);
    intent.recent_sends = vec![RecentSend {
        contact_channel_id: ARN.into(),
        time: Time(far),
    }];
    let unknown = Err(SendFailure::local(Reason::OutcomeUnknown, "lost"));
    let (after, _, _) = record_outcome(&intent, &unknown, &settings(), t(5), 0.5);
    assert_eq!(after.recent_sends.len(), 1, "{:?}", after.recent_sends);
    assert_eq!(after.recent_sends[0].time, Time(t(5)));
}

#[test]
/// A region that cannot be one (an ARN's `us_east_1`, a malformed default) is refused before
/// any call: InvalidSpec or RegionUnknown, never a send that could end as OutcomeUnknown.
fn malformed_regions_are_refused_without_a_call() {
    let bad_arn = spec("arn:aws:ssm-contacts:us_east_1:111122223333:contact-channel/a/b");
    let (status, requeue, _) = expect_record(run(&bad_arn, &Status::default(), 1, t(0)));
    assert_eq!(requeue, None);
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/InvalidSpec")
    );
    let mut bad_default = settings();
    bad_default.default_region = Some("eu_central_1".into());
    let no_region = spec(ARN_NO_REGION);
    let (status, _, _) = expect_record(decide(
        Observed {
            generation: 1,
            spec: &no_region,
            status: &Status::default(),
        },
        &bad_default,
        t(0),
        Local::default(),
        0.5,
    ));
    assert_eq!(
        reason_of(&status, "CodeSent").as_deref(),
        Some("False/RegionUnknown")
    );
    assert_eq!(status.attempts, 0);
}

#[test]
/// An object waiting for its turn says so from the first moment: the generation observed,
/// Reconciling True, CodeSent Pending; written once, not again while it waits.
fn queued_objects_show_their_generation_in_progress() {
    let (_, _, intent) = expect_send(run(&spec(ARN), &Status::default(), 1, t(0)));
    let waiting = queued(
        &Status::default(),
        &spec(ARN),
        &intent,
        "waiting for its turn",
        t(0),
    )
    .expect("a first status");
    assert_eq!(waiting.observed_generation, Some(1));
    assert_eq!(waiting.attempts, 0);
    assert!(waiting.send_in_flight.is_none());
    assert_eq!(
        reason_of(&waiting, "CodeSent").as_deref(),
        Some("False/Pending")
    );
    assert_eq!(
        reason_of(&waiting, "Reconciling").as_deref(),
        Some("True/Pending")
    );
    assert_eq!(
        reason_of(&waiting, "Ready").as_deref(),
        Some("False/Pending")
    );
    assert_eq!(
        queued(&waiting, &spec(ARN), &intent, "waiting for its turn", t(5)),
        None
    );
    // A new generation waits anew: written once more.
    let (_, _, second) = expect_send(run(&spec(ARN), &waiting, 2, t(10)));
    let again = queued(&waiting, &spec(ARN), &second, "waiting", t(10)).expect("generation 2");
    assert_eq!(again.observed_generation, Some(2));
}
