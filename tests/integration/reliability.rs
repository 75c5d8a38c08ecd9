//! Reliability scenarios: the crash window between a call and its record, shutdown and call
//! timeouts with a call in flight, replicas without a leader, start-up flag checks, nonsense
//! in status, and control-plane restarts in the middle of a burst.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use ssm_contacts_emulator::faults::Quota;
use ssm_contacts_operator::api::conditions;

use crate::Scenario;
use crate::support::{
    BEYOND_TIME, LONG_FRACTION_TIME, Result, Suite, World, condition, eventually,
};

/// Scenarios that restart the control plane: they run alone.
pub const EXCLUSIVE: [&str; 1] = ["control_plane_restarts_mid_burst_lose_and_repeat_nothing"];

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(crash_mid_call_is_outcome_unknown_then_resent_once),
        scenario!(crash_mid_call_with_hold_never_calls_again),
        scenario!(sigterm_mid_call_records_the_outcome_then_exits),
        scenario!(call_timeout_is_outcome_unknown_then_one_code),
        scenario!(two_processes_without_a_leader_send_one_code_each),
        scenario!(namespace_listed_twice_is_watched_once),
        scenario!(bad_flags_exit_2_naming_the_flag),
        scenario!(nonsense_status_never_stops_the_operator),
        scenario!(control_plane_restarts_mid_burst_lose_and_repeat_nothing),
    ]
}

/// Killed mid-call: the next process waits the grace, records OutcomeUnknown, resends; one code.
async fn crash_mid_call_is_outcome_unknown_then_resent_once(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "crash-resend", &[]).await?;
    let orphan = world.crash_mid_call("pager").await?;
    let restarted = Timestamp::now();
    world.operator = world.another_operator(&[]).await?;
    let object = world.wait_sent("pager").await?;
    // The lost call is on record: an OutcomeUnknown Event naming the dead holder.
    let note = world.wait_event("pager", "OutcomeUnknown").await?;
    let status = object.status.ok_or("no status")?;
    let calls = world.send_calls().await?;
    let context = format!(
        "status: {status:#?}\ncalls: {calls:#?}\nfirst process:\n{}\nsecond process:\n{}",
        world.first_log_tail(),
        world.operator.log_tail()
    );
    assert!(note.contains(&orphan.holder), "{note}\n{context}");
    assert_eq!(
        status.attempts, 2,
        "the lost call and the resend\n{context}"
    );
    assert_eq!(status.sent_generation, Some(1));
    assert!(status.send_in_flight.is_none());
    let outcomes: Vec<&str> = calls.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(outcomes, ["abandoned", "ok"], "{context}");
    assert_eq!(world.sends().await?, 1);
    // The old holder might have been finishing: the new process waited the grace (6 s).
    let waited = calls[1].time.duration_since(restarted);
    assert!(
        waited >= SignedDuration::from_secs(6),
        "resent {waited:?} after the new process started"
    );
    Ok(())
}

/// Killed mid-call under --on-unknown-outcome=hold: Stalled OutcomeUnknown, no call until a spec edit.
async fn crash_mid_call_with_hold_never_calls_again(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "crash-hold", &[]).await?;
    world.crash_mid_call("pager").await?;
    world.operator = world
        .another_operator(&["--on-unknown-outcome", "hold"])
        .await?;
    world
        .wait_condition("pager", "Stalled", "True", "OutcomeUnknown")
        .await?;
    let object = world
        .wait_condition("pager", "CodeSent", "False", "OutcomeUnknown")
        .await?;
    let status = object.status.ok_or("no status")?;
    assert!(status.next_attempt_time.is_none(), "{status:?}");
    assert!(status.send_in_flight.is_none(), "{status:?}");
    assert_eq!(status.attempts, 1);
    world.touch("pager").await?;
    world.operator.restart().await?;
    world.wait_reconciles(0.0, 1.0).await?;
    world.touch("pager").await?;
    assert_eq!(world.calls().await?, 1, "only the abandoned call");
    assert_eq!(world.sends().await?, 0);
    world
        .edit_until_sent("pager", json!({"resendToken": "person-checked"}))
        .await?;
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// SIGTERM with a call held: it finishes, Sent is recorded before exit 0; one code, no OutcomeUnknown.
async fn sigterm_mid_call_records_the_outcome_then_exits(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "sigterm", &[]).await?;
    let fault = world.hold_sends(2_000).await?;
    world.create("pager", world.spec()).await?;
    world.wait_call_held("pager", fault, 1).await?;
    let exit = world.operator.terminate().await?;
    assert!(
        exit.success(),
        "exit status {exit:?}\n{}",
        world.operator.log_tail()
    );
    // Read at once: recorded before the exit, not by whoever comes next.
    let status = world.status("pager").await?;
    let code_sent = conditions::find(&status.conditions, "CodeSent").ok_or("no CodeSent")?;
    assert_eq!(
        (code_sent.status.as_str(), code_sent.reason.as_str()),
        ("True", "Sent"),
        "{status:#?}"
    );
    assert_eq!(status.sent_generation, Some(1));
    assert!(status.send_in_flight.is_none());
    assert_eq!(status.attempts, 1);
    let reasons = world.event_reasons("pager").await?;
    assert!(reasons.iter().any(|r| r == "Sent"), "{reasons:?}");
    let outcomes: Vec<String> = world
        .send_calls()
        .await?
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(outcomes, ["ok"]);
    world.operator = world.another_operator(&[]).await?;
    world.touch("pager").await?;
    let reasons = world.event_reasons("pager").await?;
    assert!(
        !reasons.iter().any(|r| r == "OutcomeUnknown"),
        "{reasons:?}"
    );
    assert_eq!(world.calls().await?, 1);
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// A call held past --call-timeout is OutcomeUnknown (timeout named), abandoned, retried; one code.
async fn call_timeout_is_outcome_unknown_then_one_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "timeout", &[]).await?;
    let fault = world.hold_sends(3_600_000).await?;
    world.create("pager", world.spec()).await?;
    let error = world
        .wait_last_error("pager", "CodeSent", "False", "OutcomeUnknown")
        .await?;
    assert_eq!(error.code, "OutcomeUnknown");
    assert!(error.message.contains("timeout"), "{error:?}");
    world.wait_event("pager", "OutcomeUnknown").await?;
    world.wait_calls("abandoned", 1).await?;
    world.emulator.admin().remove_fault(fault).await?;
    let object = world.wait_sent("pager").await?;
    let calls = world.send_calls().await?;
    let ok = calls.iter().filter(|c| c.outcome == "ok").count();
    let abandoned = calls.iter().filter(|c| c.outcome == "abandoned").count();
    assert_eq!((ok, abandoned + ok), (1, calls.len()), "{calls:?}");
    let attempts = object.status.map(|s| s.attempts).unwrap_or_default();
    assert_eq!(
        usize::try_from(attempts)?,
        calls.len(),
        "every call counted"
    );
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// Two processes, no leader election, 20 objects on 20 channels: all Ready, one code and call each.
async fn two_processes_without_a_leader_send_one_code_each(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "two-procs", &[]).await?;
    let second = world.another_operator(&[]).await?;
    world.hold_sends(300).await?;
    let fleet = world.fleet("pager", 20).await?;
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(90))
        .await?;
    world.assert_one_code_each(&fleet).await?;
    assert_eq!(world.calls().await?, fleet.len(), "one call per object");
    for (which, operator) in [("first", &world.operator), ("second", &second)] {
        let reconciles = operator.metric("ssmcontacts_reconciles_total").await?;
        assert!(reconciles > 0.0, "the {which} process did not reconcile");
    }
    for (name, _) in &fleet {
        let reasons = world.event_reasons(name).await?;
        assert!(!reasons.iter().any(|r| r == "OutcomeUnknown"), "{name}");
    }
    Ok(())
}

/// `--namespace ns,ns` is watched once: one code, and no status write conflicts with a twin.
async fn namespace_listed_twice_is_watched_once(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "dup-ns", &[]).await?;
    let twice = format!("{0},{0}", world.namespace);
    world.replace_operator(&["--namespace", &twice]).await?;
    world.hold_sends(1_000).await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    world.touch("pager").await?;
    assert_eq!(world.calls().await?, 1);
    assert_eq!(world.sends().await?, 1);
    let conflicts = world
        .operator
        .metric_where("ssmcontacts_status_writes_total", "result=\"conflict\"")
        .await?;
    assert_eq!(conflicts, 0.0, "two controllers wrote the same object");
    Ok(())
}

/// A bad flag value stops the binary at start-up with exit code 2, naming the flag on stderr.
async fn bad_flags_exit_2_naming_the_flag(_suite: Arc<Suite>) -> Result {
    let cases: [(&[&str], &str); 9] = [
        (&["--send-rate", "0"], "--send-rate"),
        (&["--in-flight-grace", "1s"], "--in-flight-grace"),
        (&["--call-timeout", "2m"], "--in-flight-grace"),
        (&["--call-timeout", "soon"], "--call-timeout"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--namespace", "Bad_Name"], "--namespace"),
        (&["--allowed-accounts", "1234"], "--allowed-accounts"),
        (
            &["--channel-sends-per-hour", "0"],
            "--channel-sends-per-hour",
        ),
        (
            &["--unready-after-watch-failure", "0s"],
            "--unready-after-watch-failure",
        ),
    ];
    for (args, flag) in cases {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_ssm-contacts-operator"))
            .args(args)
            .env_clear()
            .env("KUBECONFIG", "/nonexistent")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .map_err(|_| format!("{args:?}: still running after 20 s"))??;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?}: {flag} not named: {stderr}"
        );
    }
    Ok(())
}

/// Nonsense in status (9999 times, times past the time type, negative or max attempts, recent sends from the future) ends in a code or a reason, never a stuck or dead operator or a blocked channel.
async fn nonsense_status_never_stops_the_operator(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "poison").await?;
    let names = [
        "future-flight",
        "far-retry",
        "long-fraction",
        "beyond-time",
        "max-attempts",
        "future-sends",
    ];
    let mut arns = Vec::new();
    for name in names {
        let arn = world.seed(name).await?;
        world.create(name, World::spec_for(&arn)).await?;
        arns.push(arn);
    }
    // attempts is int32 in the schema, so the API server itself refuses u32::MAX.
    let refused = world
        .write_status("max-attempts", json!({"attempts": u32::MAX}))
        .await;
    assert!(
        refused.as_ref().is_err_and(|e| {
            // The schema's maximum (every version), or format int32 (1.36 and later).
            let text = e.to_string();
            text.contains("2147483647") || text.contains("int32")
        }),
        "{refused:?}"
    );
    let statuses = [
        json!({"observedGeneration": 1, "attempts": 1, "sendInFlight": {
            "generation": 1, "attempt": 1, "holder": "gone-replica-0badf00d",
            "startedTime": "9999-12-30T00:00:00Z"}}),
        json!({"observedGeneration": 1, "attempts": 1, "nextAttemptTime": "9999-12-30T00:00:00Z",
            "lastError": {"code": "InternalServerException", "message": "from a backup",
                "time": "2024-01-01T00:00:00Z"}}),
        json!({"lastSentTime": LONG_FRACTION_TIME}),
        json!({"observedGeneration": 1, "attempts": 1, "nextAttemptTime": BEYOND_TIME}),
        json!({"observedGeneration": 1, "attempts": i32::MAX}),
        // Sends "in the future" to the channel that `fresh` uses below, and to no channel.
        json!({"recentSends": [
            {"contactChannelId": world.channel.arn, "time": "9999-12-30T00:00:00Z"},
            {"contactChannelId": "not-an-arn", "time": "2024-01-01T00:00:00Z"}]}),
    ];
    for (name, status) in names.iter().zip(statuses) {
        world.write_status(name, status).await?;
    }
    world.operator = world.another_operator(&[]).await?;

    let object = world.wait_sent("future-flight").await?;
    let note = world.wait_event("future-flight", "OutcomeUnknown").await?;
    assert!(note.contains("gone-replica-0badf00d"), "{note}");
    let status = object.status.ok_or("no status")?;
    assert_eq!(status.attempts, 2, "{status:?}");
    // Times past what the time type holds are read leniently: these are sent as usual.
    for name in ["far-retry", "long-fraction", "beyond-time", "future-sends"] {
        world.wait_sent(name).await?;
    }
    // Everything else the schema lets through is readable, so the unreadable-object path is
    // left to unit tests (an object stored under an older schema).
    assert!(world.operator.is_running());
    assert_eq!(world.operator.probe("/livez").await?.0, 200);
    world.create("fresh", world.spec()).await?;
    world.wait_sent("fresh").await?;
    let object = world
        .wait_condition("max-attempts", "Stalled", "True", "InvalidStatus")
        .await?;
    let ready = condition(&object, "Ready")?;
    assert!(ready.message.contains("attempts"), "{}", ready.message);

    let sends = world.emulator.admin().sends_per_channel().await?;
    let codes: Vec<usize> = arns
        .iter()
        .chain([&world.channel.arn])
        .map(|arn| sends.get(arn).copied().unwrap_or(0))
        .collect();
    assert_eq!(
        codes,
        [1, 1, 1, 1, 0, 1, 1],
        "codes per channel of {names:?} and fresh"
    );
    let calls = world.send_calls().await?;
    assert!(
        !calls.iter().any(|c| arns[4..5]
            .iter()
            .any(|arn| c.channel_arn.as_deref() == Some(arn))),
        "a Stalled object was called: {calls:?}"
    );
    Ok(())
}

/// kube-apiserver, then etcd, restarted mid-burst of 30: all Ready, one code each, same operator process.
async fn control_plane_restarts_mid_burst_lose_and_repeat_nothing(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "restarts", &[]).await?;
    world
        .emulator
        .admin()
        .set_quota(&Quota {
            rate_per_second: 3.0,
            burst: 3,
            retry_after_seconds: Some(1),
            region: None,
        })
        .await?;
    let pid = world.operator.pid();
    let fleet = world.fleet("pager", 30).await?;
    for (server, after) in [(testenv::Server::ApiServer, 8), (testenv::Server::Etcd, 16)] {
        let sent = eventually(
            &format!("{after} codes before restarting {server}"),
            Duration::from_secs(60),
            || async {
                let sent: usize = world
                    .emulator
                    .admin()
                    .sends_per_channel()
                    .await?
                    .values()
                    .sum();
                Ok((sent >= after).then_some(sent))
            },
        )
        .await?;
        assert!(sent < fleet.len(), "{server} restarted after the burst");
        suite
            .servers
            .restart(server, testenv::Shutdown::Kill)
            .await?;
    }
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(180))
        .await?;
    world.assert_one_code_each(&fleet).await?;
    assert!(world.operator.is_running(), "{}", world.operator.log_tail());
    assert_eq!(world.operator.pid(), pid, "the operator was restarted");
    let watch_errors = world
        .operator
        .metric("ssmcontacts_watch_errors_total")
        .await?;
    assert!(
        watch_errors >= 1.0,
        "the operator never noticed the restarts"
    );
    Ok(())
}
