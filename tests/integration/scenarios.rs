//! The scenarios: each one a behaviour from the contract, in its own namespace.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::resource::ContactChannelActivationSpec;

use crate::Scenario;

const SEND: &str = "SendActivationCode";
use crate::support::{Operator, Result, Suite, World, eventually};

macro_rules! scenario {
    ($name:ident) => {
        (
            stringify!($name),
            (|suite| Box::pin($name(suite))) as Scenario,
        )
    };
}

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(valid_object_gets_exactly_one_code),
        scenario!(invalid_objects_are_refused_by_the_api_server),
        scenario!(spec_change_sends_exactly_one_more),
        scenario!(metadata_change_and_restart_send_nothing),
        scenario!(suspend_makes_no_call),
        scenario!(every_aws_error_ends_in_its_reason),
        scenario!(throttling_honours_retry_after),
        scenario!(unreadable_answer_is_unexpected_response),
        scenario!(cut_connection_is_outcome_unknown_then_resent),
        scenario!(hold_policy_never_resends),
        scenario!(missing_region_is_stalled_without_a_call),
        scenario!(region_override_is_used),
        scenario!(deletion_mid_backoff_stops_calls),
        scenario!(sigterm_shuts_down_cleanly),
        scenario!(leader_election_one_active_then_failover),
        scenario!(chart_rbac_is_enough_and_each_verb_is_needed),
        scenario!(no_credentials_is_stalled_without_a_call),
        scenario!(unreachable_endpoint_sends_nothing),
    ]
}

/// A valid object gets CodeSent=True, Ready=True, one send in the emulator, and an Event.
async fn valid_object_gets_exactly_one_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "valid", &[]).await?;
    world.create("pager", world.spec()).await?;
    let object = world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    let status = object.status.clone().ok_or("no status")?;
    assert_eq!(status.sent_generation, object.metadata.generation);
    assert_eq!(status.attempts, 1);
    assert!(status.last_sent_time.is_some());
    assert!(status.send_in_flight.is_none());
    assert_eq!(world.sends().await?, 1);
    let reasons = eventually("a Sent event", Duration::from_secs(20), || async {
        let reasons = world.event_reasons("pager").await?;
        Ok(reasons.iter().any(|r| r == "Sent").then_some(reasons))
    })
    .await?;
    assert!(reasons.contains(&"Sent".to_owned()));
    // `kubectl get cca` shows the printer columns.
    let output = std::process::Command::new(&suite.kubectl)
        .args(["--kubeconfig"])
        .arg(&suite.kubeconfig)
        .args(["get", "cca", "-n", &world.namespace, "-o", "wide"])
        .output()?;
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("CODESENT") && table.contains("REASON") && table.contains("NEXT ATTEMPT"),
        "{table}"
    );
    assert!(
        table.contains("True") && table.contains("Sent") && table.contains(&world.channel.arn),
        "{table}"
    );
    Ok(())
}

/// The CRD schema refuses malformed ARNs and over-long tokens at admission, naming the field.
async fn invalid_objects_are_refused_by_the_api_server(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "invalid", &[]).await?;
    let bad_arns = [
        "",
        "not-an-arn",
        "arn:aws-xx:ssm-contacts:us-east-1:123456789012:contact-channel/a/b",
        "arn:aws:ssm-contacts:us-east-1:12ab:contact-channel/a/b",
    ];
    for arn in bad_arns {
        let spec = ContactChannelActivationSpec {
            contact_channel_id: arn.into(),
            ..Default::default()
        };
        let error = world
            .create("bad", spec)
            .await
            .err()
            .ok_or(format!("{arn:?} was accepted"))?;
        assert!(
            error.to_string().contains("spec.contactChannelId"),
            "{arn:?}: {error}"
        );
    }
    let long_token = ContactChannelActivationSpec {
        resend_token: Some("x".repeat(254)),
        ..world.spec()
    };
    let error = world
        .create("bad", long_token)
        .await
        .err()
        .ok_or("a 254-char token was accepted")?;
    assert!(error.to_string().contains("spec.resendToken"), "{error}");
    let bad_region = ContactChannelActivationSpec {
        region: Some("Not A Region".into()),
        ..world.spec()
    };
    let error = world
        .create("bad", bad_region)
        .await
        .err()
        .ok_or("a malformed region was accepted")?;
    assert!(error.to_string().contains("spec.region"), "{error}");
    assert_eq!(world.calls().await?, 0);
    Ok(())
}

/// Changing the spec (resendToken) sends exactly one more code.
async fn spec_change_sends_exactly_one_more(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "respec", &[]).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "CodeSent", "True", "Sent")
        .await?;
    world
        .edit_spec("pager", json!({"resendToken": "again"}))
        .await?;
    let object = world
        .wait_condition("pager", "CodeSent", "True", "Sent")
        .await?;
    assert_eq!(object.metadata.generation, Some(2));
    assert_eq!(object.status.and_then(|s| s.sent_generation), Some(2));
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

/// Label edits, status-only edits (no new generation) and operator restarts never send again.
async fn metadata_change_and_restart_send_nothing(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "nochange", &[]).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "CodeSent", "True", "Sent")
        .await?;
    world.touch("pager").await?;
    // A status-only edit (say, a person bumping `attempts`) is no new generation either.
    let before = world
        .operator
        .metric("ssmcontacts_reconciles_total")
        .await?;
    world
        .api
        .patch_status(
            "pager",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"attempts": 7}})),
        )
        .await?;
    world.wait_reconciles(before, 1.0).await?;
    for _ in 0..2 {
        world.operator.restart().await?;
        // A fresh process reconciles every object once it has listed them.
        world.wait_reconciles(0.0, 1.0).await?;
    }
    assert_eq!(world.sends().await?, 1);
    assert_eq!(world.calls().await?, 1);
    Ok(())
}

/// While suspended no call is made and the status says Suspended; resuming sends once.
async fn suspend_makes_no_call(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "suspend", &[]).await?;
    world
        .create(
            "pager",
            ContactChannelActivationSpec {
                suspend: true,
                ..world.spec()
            },
        )
        .await?;
    world
        .wait_condition("pager", "CodeSent", "False", "Suspended")
        .await?;
    assert_eq!(world.calls().await?, 0);
    world.edit_spec("pager", json!({"suspend": false})).await?;
    world
        .wait_condition("pager", "CodeSent", "True", "Sent")
        .await?;
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// Each of the seven SendActivationCode errors ends in its reason with the AWS code, message
/// and request id in status and an Event; retried ones retry, ValidationException does not.
async fn every_aws_error_ends_in_its_reason(suite: Arc<Suite>) -> Result {
    let rows = [
        (
            FaultKind::ThrottlingException,
            "ThrottlingException",
            "Throttled",
            true,
            false,
        ),
        (
            FaultKind::InternalServerException,
            "InternalServerException",
            "AwsInternalError",
            true,
            false,
        ),
        (
            FaultKind::ServiceQuotaExceededException,
            "ServiceQuotaExceededException",
            "QuotaExceeded",
            true,
            false,
        ),
        (
            FaultKind::AccessDeniedException,
            "AccessDeniedException",
            "AccessDenied",
            true,
            true,
        ),
        (
            FaultKind::DataEncryptionException,
            "DataEncryptionException",
            "DataEncryptionError",
            true,
            true,
        ),
        (
            FaultKind::ResourceNotFoundException,
            "ResourceNotFoundException",
            "ChannelNotFound",
            true,
            false,
        ),
        (
            FaultKind::ValidationException,
            "ValidationException",
            "ValidationFailed",
            false,
            true,
        ),
    ];
    let world = World::new(&suite, "errors", &[]).await?;
    for (kind, code, reason, retried, stalled) in rows {
        let name = reason.to_lowercase();
        let admin = world.emulator.admin();
        admin.clear_faults().await?;
        admin
            .inject_fault(&FaultSpec {
                message: Some(format!("injected {code}")),
                ..FaultSpec::error(SEND, kind)
            })
            .await?;
        world.create(&name, world.spec()).await?;
        let object = world
            .wait_condition(&name, "CodeSent", "False", reason)
            .await?;
        let status = object.status.clone().ok_or("no status")?;
        let error = status.last_error.clone().ok_or("no lastError")?;
        assert_eq!(error.code, code);
        assert!(
            error.message.contains(&format!("injected {code}")),
            "{error:?}"
        );
        assert!(
            error.request_id.as_deref().is_some_and(|id| !id.is_empty()),
            "{error:?}"
        );
        assert!(error.http_status.is_some(), "{error:?}");
        let ready = ssm_contacts_operator::conditions::find(&status.conditions, "Ready")
            .ok_or("no Ready")?;
        assert!(
            ready
                .message
                .contains(error.request_id.as_deref().unwrap_or("?")),
            "{}",
            ready.message
        );
        let stalled_type = if stalled { "Stalled" } else { "Reconciling" };
        if retried || stalled {
            world
                .wait_condition(&name, stalled_type, "True", reason)
                .await?;
        }
        eventually(
            &format!("a {reason} Event"),
            Duration::from_secs(20),
            || async {
                Ok(world
                    .event_reasons(&name)
                    .await?
                    .iter()
                    .any(|r| r == reason)
                    .then_some(()))
            },
        )
        .await?;
        if retried {
            eventually(
                &format!("{reason} retried"),
                Duration::from_secs(30),
                || async {
                    let object = world.api.get(&name).await?;
                    Ok(object.status.is_some_and(|s| s.attempts >= 2).then_some(()))
                },
            )
            .await?;
            admin.clear_faults().await?;
            world.wait_condition(&name, "Ready", "True", "Sent").await?;
        } else {
            world.touch(&name).await?;
            let object = world.api.get(&name).await?;
            assert_eq!(
                object.status.map(|s| s.attempts),
                Some(1),
                "{reason} must not be retried"
            );
            admin.clear_faults().await?;
        }
        world.delete(&name).await?;
    }
    Ok(())
}

/// ThrottlingException with RetryAfterSeconds: the retry comes no sooner than asked.
async fn throttling_honours_retry_after(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "throttle", &[]).await?;
    world
        .inject(
            FaultSpec::error(SEND, FaultKind::ThrottlingException)
                .times(1)
                .retry_after(3),
        )
        .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    let journal = world.emulator.admin().journal().await?;
    let calls: Vec<_> = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode")
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].outcome, "ThrottlingException");
    let gap = calls[1].time.duration_since(calls[0].time);
    assert!(
        gap >= jiff::SignedDuration::from_secs(3),
        "retried after {gap:?}, RetryAfterSeconds was 3"
    );
    assert!(world.operator.metric("ssmcontacts_throttles_total").await? >= 1.0);
    Ok(())
}

/// An HTML 502 from a proxy becomes UnexpectedResponse with the status and body in the message.
async fn unreadable_answer_is_unexpected_response(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "html", &[]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::Html502))
        .await?;
    world.create("pager", world.spec()).await?;
    let object = world
        .wait_condition("pager", "CodeSent", "False", "UnexpectedResponse")
        .await?;
    let error = object
        .status
        .and_then(|s| s.last_error)
        .ok_or("no lastError")?;
    assert_eq!(error.http_status, Some(502));
    assert!(
        error.message.contains("502") && error.message.to_lowercase().contains("bad gateway"),
        "{error:?}"
    );
    world.emulator.admin().clear_faults().await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    Ok(())
}

/// A connection cut after AWS acted: OutcomeUnknown is recorded, then (default policy) resent.
async fn cut_connection_is_outcome_unknown_then_resent(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "cut", &[]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::DropAfterProcessing).times(1))
        .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    let reasons = world.event_reasons("pager").await?;
    assert!(reasons.iter().any(|r| r == "OutcomeUnknown"), "{reasons:?}");
    // The emulator acted on both calls: the documented cost of resend.
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

/// With --on-unknown-outcome=hold a lost outcome is never resent: Stalled until the spec changes.
async fn hold_policy_never_resends(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "hold", &["--on-unknown-outcome", "hold"]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::DropAfterProcessing).times(1))
        .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Stalled", "True", "OutcomeUnknown")
        .await?;
    world.touch("pager").await?;
    assert_eq!(world.calls().await?, 1);
    world
        .edit_spec("pager", json!({"resendToken": "person-checked"}))
        .await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    assert_eq!(world.calls().await?, 2);
    Ok(())
}

/// An ARN without a region and no default region: RegionUnknown, Stalled, nothing sent.
async fn missing_region_is_stalled_without_a_call(suite: Arc<Suite>) -> Result {
    let arn = "arn:aws:ssm-contacts::123456789012:contact-channel/oncall/noregion";
    let world = World::with_channel(&suite, "noregion", &[], arn).await?;
    world.create("pager", world.spec()).await?;
    let object = world
        .wait_condition("pager", "Stalled", "True", "RegionUnknown")
        .await?;
    let ready = object
        .status
        .as_ref()
        .and_then(|s| ssm_contacts_operator::conditions::find(&s.conditions, "Ready"))
        .ok_or("no Ready")?;
    assert!(ready.message.contains("no AWS region"), "{}", ready.message);
    assert_eq!(world.calls().await?, 0);
    // spec.region fixes it.
    world
        .edit_spec("pager", json!({"region": "eu-west-1"}))
        .await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    let journal = world.emulator.admin().journal().await?;
    assert_eq!(
        journal.last().and_then(|e| e.region.as_deref()),
        Some("eu-west-1")
    );
    Ok(())
}

/// spec.region overrides the ARN's region; the emulator, like AWS, only knows the channel in
/// its own region, so a wrong override ends in ChannelNotFound.
async fn region_override_is_used(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "override", &[]).await?;
    let spec = ContactChannelActivationSpec {
        region: Some("ap-south-1".into()),
        ..world.spec()
    };
    world.create("pager", spec).await?;
    world
        .wait_condition("pager", "CodeSent", "False", "ChannelNotFound")
        .await?;
    let journal = world.emulator.admin().journal().await?;
    assert_eq!(
        journal.first().and_then(|e| e.region.as_deref()),
        Some("ap-south-1")
    );
    assert_eq!(world.sends().await?, 0);
    Ok(())
}

/// Deleting an object while it backs off stops its calls; the operator carries on.
async fn deletion_mid_backoff_stops_calls(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "delete", &[]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::InternalServerException))
        .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Reconciling", "True", "AwsInternalError")
        .await?;
    world.delete("pager").await?;
    eventually("the object to be gone", Duration::from_secs(20), || async {
        Ok(world.api.get_opt("pager").await?.is_none().then_some(()))
    })
    .await?;
    let calls_at_delete = world.calls().await?;
    // Give the operator several backoff periods (max 2 s here) and a fresh object to prove it
    // is alive, then check the deleted one was not called again.
    let other = ContactChannelActivationSpec {
        contact_channel_id: world.channel.arn.clone(),
        resend_token: Some("other".into()),
        ..Default::default()
    };
    world.emulator.admin().clear_faults().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.create("other", other).await?;
    world
        .wait_condition("other", "Ready", "True", "Sent")
        .await?;
    assert!(world.operator.is_running());
    assert_eq!(
        world.calls().await?,
        calls_at_delete + 1,
        "only the new object was called"
    );
    Ok(())
}

/// SIGTERM stops the operator cleanly (exit 0) after finishing in-flight work.
async fn sigterm_shuts_down_cleanly(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "sigterm", &[]).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    let status = world.operator.terminate().await?;
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        world.operator.log_tail()
    );
    Ok(())
}

/// Two replicas with leader election: only the leader reconciles; when it dies the standby
/// takes the Lease and carries on, and each generation still gets exactly one code.
async fn leader_election_one_active_then_failover(suite: Arc<Suite>) -> Result {
    let args = [
        "--leader-election",
        "--lease-duration-seconds",
        "3",
        "--lease-grace-seconds",
        "1",
    ];
    let mut world = World::new(&suite, "leader", &args).await?;
    eventually(
        "the first replica to lead",
        Duration::from_secs(30),
        || async { Ok((world.operator.metric("ssmcontacts_leader").await? == 1.0).then_some(())) },
    )
    .await?;
    let standby = world.another_operator(&args).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    assert_eq!(standby.metric("ssmcontacts_leader").await?, 0.0);
    assert_eq!(
        standby.metric("ssmcontacts_reconciles_total").await?,
        0.0,
        "the standby must not reconcile"
    );

    world.operator.crash().await?;
    eventually(
        "the standby to take the Lease",
        Duration::from_secs(30),
        || async { Ok((standby.metric("ssmcontacts_leader").await? == 1.0).then_some(())) },
    )
    .await?;
    world
        .edit_spec("pager", json!({"resendToken": "after-failover"}))
        .await?;
    let object = world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    assert_eq!(object.status.and_then(|s| s.sent_generation), Some(2));
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

fn run(command: &mut std::process::Command) -> Result<String> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Least privilege, proven: the chart is installed with the real helm, the operator runs with
/// a token of the chart's ServiceAccount (TokenRequest) and does its whole job (watch, status,
/// Events, leader Lease); with the status `update` verb removed it can no longer work, and it
/// makes no AWS call it could not record.
async fn chart_rbac_is_enough_and_each_verb_is_needed(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "rbac", &[]).await?;
    world.operator.terminate().await?;
    let namespace = world.namespace.clone();
    let bin = suite.kubectl.parent().ok_or("no bin dir")?.to_owned();
    let home = world.log_dir().join("helm");
    let chart =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/ssm-contacts-operator");
    run(std::process::Command::new(bin.join("helm"))
        .env("KUBECONFIG", &suite.kubeconfig)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .args(["install", "ssm-contacts-operator"])
        .arg(&chart)
        .args([
            "--namespace",
            &namespace,
            "--skip-crds",
            "--set",
            &format!("watchNamespaces={{{namespace}}}"),
        ]))?;
    let kubectl = || {
        let mut command = std::process::Command::new(&suite.kubectl);
        command
            .arg("--kubeconfig")
            .arg(&suite.kubeconfig)
            .args(["--namespace", &namespace]);
        command
    };
    let token = run(kubectl().args(["create", "token", "ssm-contacts-operator", "--duration=1h"]))?;
    let kubeconfig = world.log_dir().join("sa.kubeconfig");
    std::fs::copy(&suite.kubeconfig, &kubeconfig)?;
    let as_sa = |args: &[&str]| {
        let mut command = std::process::Command::new(&suite.kubectl);
        command.arg("--kubeconfig").arg(&kubeconfig).args(args);
        command
    };
    run(&mut as_sa(&[
        "config",
        "set-credentials",
        "chart-sa",
        &format!("--token={}", token.trim()),
    ]))?;
    run(&mut as_sa(&[
        "config",
        "set-context",
        "--current",
        "--user=chart-sa",
    ]))?;
    let denied = as_sa(&["get", "secrets", "-n", &namespace]).output()?;
    assert!(
        !denied.status.success(),
        "the chart's ServiceAccount must not read secrets"
    );

    let args = [
        "--leader-election",
        "--lease-duration-seconds",
        "3",
        "--lease-grace-seconds",
        "1",
    ];
    world.operator = Operator::start_as(
        &kubeconfig,
        &namespace,
        &world.emulator.endpoint_url(),
        &args,
        world.log_dir(),
    )
    .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Ready", "True", "Sent")
        .await?;
    eventually("a Sent event", Duration::from_secs(20), || async {
        Ok(world
            .event_reasons("pager")
            .await?
            .iter()
            .any(|r| r == "Sent")
            .then_some(()))
    })
    .await?;
    assert_eq!(world.operator.metric("ssmcontacts_leader").await?, 1.0);
    let log = std::fs::read_to_string(&world.operator.log)?;
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");

    // Take away one verb: writing status.
    run(kubectl().args([
        "patch",
        "role",
        "ssm-contacts-operator",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/rules/1"}]"#,
    ]))?;
    let calls_before = world.calls().await?;
    world
        .create(
            "second",
            ContactChannelActivationSpec {
                resend_token: Some("2".into()),
                ..world.spec()
            },
        )
        .await?;
    eventually(
        "the operator to be forbidden",
        Duration::from_secs(30),
        || async {
            let log = std::fs::read_to_string(&world.operator.log)?;
            Ok(log.contains("forbidden").then_some(()))
        },
    )
    .await?;
    let second = world.api.get("second").await?;
    assert!(
        second.status.is_none(),
        "no status can be written: {:?}",
        second.status
    );
    assert_eq!(
        world.calls().await?,
        calls_before,
        "no AWS call without a recorded intent"
    );
    assert!(world.operator.is_running());
    Ok(())
}

/// No AWS credentials at all: CredentialsUnavailable, Stalled, and nothing reaches AWS.
async fn no_credentials_is_stalled_without_a_call(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "nocreds", &[]).await?;
    world.operator.terminate().await?;
    world.operator = Operator::start_without_credentials(
        &suite,
        &world.namespace,
        &world.emulator.endpoint_url(),
        world.log_dir(),
    )
    .await?;
    world.create("pager", world.spec()).await?;
    let object = world
        .wait_condition("pager", "Stalled", "True", "CredentialsUnavailable")
        .await?;
    assert!(
        object.status.and_then(|s| s.next_attempt_time).is_some(),
        "credentials may appear later: retried slowly"
    );
    assert_eq!(world.calls().await?, 0);
    Ok(())
}

/// An endpoint that refuses connections: EndpointUnreachable (nothing was sent), retried.
async fn unreachable_endpoint_sends_nothing(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "unreachable", &[]).await?;
    world.operator.terminate().await?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    world.operator = Operator::start(
        &suite,
        &world.namespace,
        &format!("http://{closed}"),
        &[],
        world.log_dir(),
    )
    .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Reconciling", "True", "EndpointUnreachable")
        .await?;
    assert_eq!(world.calls().await?, 0);
    Ok(())
}
