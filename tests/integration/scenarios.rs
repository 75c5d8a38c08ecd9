//! The scenarios: each one a behaviour from the contract, in its own namespace.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::api::resource::ContactChannelActivationSpec;

use crate::support::{Operator, Result, SEND, Suite, World, condition, eventually};
use crate::{
    Scenario, activation, admission, day_two, guards, kstatus, pacing, rbac, reliability, sharding,
    tenancy,
};

pub fn all() -> Vec<(&'static str, Scenario)> {
    let mut all = vec![
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
        scenario!(leader_election_one_active_then_failover),
        scenario!(no_credentials_is_stalled_without_a_call),
        scenario!(unreachable_endpoint_sends_nothing_then_one_code),
    ];
    all.extend(reliability::all());
    all.extend(rbac::all());
    all.extend(activation::all());
    all.extend(day_two::all());
    all.extend(tenancy::all());
    all.extend(guards::all());
    all.extend(sharding::all());
    all.extend(pacing::all());
    all.extend(admission::all());
    all.extend(kstatus::all());
    all.extend(crate::chart_values::all());
    all
}

/// A valid object gets CodeSent=True, Ready=True, one send in the emulator, an Event, and
/// two status writes.
async fn valid_object_gets_exactly_one_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "valid", &[]).await?;
    world.create("pager", world.spec()).await?;
    let object = world.wait_sent("pager").await?;
    let status = object.status.clone().ok_or("no status")?;
    assert_eq!(status.sent_generation, object.metadata.generation);
    assert_eq!(status.attempts, 1);
    assert!(status.last_sent_time.is_some());
    assert!(status.send_in_flight.is_none());
    assert_eq!(world.sends().await?, 1);
    world.wait_event("pager", "Sent").await?;
    // Two status writes on the happy path, the intent and the outcome; looking at the
    // object again (a label edit) writes nothing.
    world.touch("pager").await?;
    let writes = world
        .operator
        .metric("ssmcontacts_status_writes_total")
        .await?;
    assert_eq!(writes, 2.0, "status writes for one object and generation");
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

/// The CRD schema refuses malformed ARNs, over-long tokens and role ARNs of the wrong kind
/// or partition at admission, naming the field.
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
            .create_refused("bad", spec, &format!("{arn:?}"))
            .await?;
        assert!(error.contains("spec.contactChannelId"), "{arn:?}: {error}");
    }
    let long_token = ContactChannelActivationSpec {
        resend_token: Some("x".repeat(254)),
        ..world.spec()
    };
    let error = world
        .create_refused("bad", long_token, "a 254-char token")
        .await?;
    assert!(error.contains("spec.resendToken"), "{error}");
    let bad_region = ContactChannelActivationSpec {
        region: Some("Not A Region".into()),
        ..world.spec()
    };
    let error = world
        .create_refused("bad", bad_region, "a malformed region")
        .await?;
    assert!(error.contains("spec.region"), "{error}");
    for (role, why) in [
        (
            "arn:aws:iam::123456789012:user/pager",
            "must be the ARN of an IAM role",
        ),
        (
            "arn:aws-cn:iam::123456789012:role/pager",
            "roleArn must be in the same partition",
        ),
    ] {
        let spec = ContactChannelActivationSpec {
            role_arn: Some(role.into()),
            ..world.spec()
        };
        let text = world
            .create_refused("bad", spec, &format!("roleArn {role}"))
            .await?;
        assert!(
            text.contains("spec.roleArn") && text.contains(why),
            "{role}: {text}"
        );
    }
    assert_eq!(world.calls().await?, 0);
    Ok(())
}

/// Changing the spec (resendToken) sends exactly one more code.
async fn spec_change_sends_exactly_one_more(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "respec", &[]).await?;
    world.create("pager", world.spec()).await?;
    world.wait_code_sent("pager").await?;
    world
        .edit_spec("pager", json!({"resendToken": "again"}))
        .await?;
    let object = world.wait_code_sent("pager").await?;
    assert_eq!(object.metadata.generation, Some(2));
    assert_eq!(object.status.and_then(|s| s.sent_generation), Some(2));
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

/// Label edits, status-only edits (no new generation) and operator restarts never send again.
async fn metadata_change_and_restart_send_nothing(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "nochange", &[]).await?;
    world.create("pager", world.spec()).await?;
    world.wait_code_sent("pager").await?;
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
    world.wait_code_sent("pager").await?;
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
        let ready = ssm_contacts_operator::api::conditions::find(&status.conditions, "Ready")
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
        world.wait_event(&name, reason).await?;
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
            world.wait_sent(&name).await?;
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
    world.wait_sent("pager").await?;
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
    // Both requests are counted under AWS's answer; the process metrics come along.
    for code in ["ThrottlingException", "Success"] {
        let labels = format!(r#"operation="SendActivationCode",code="{code}""#);
        let count = world.operator.aws_requests(&labels).await?;
        assert_eq!(count, 1.0, "{labels}");
    }
    for name in ["process_resident_memory_bytes", "process_open_fds"] {
        let value = world.operator.metric(name).await?;
        assert!(value > 0.0, "{name} is {value}");
    }
    Ok(())
}

/// An HTML 502 from a proxy becomes UnexpectedResponse with the status and body in the message.
async fn unreadable_answer_is_unexpected_response(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "html", &[]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::Html502))
        .await?;
    world.create("pager", world.spec()).await?;
    let error = world
        .wait_last_error("pager", "CodeSent", "False", "UnexpectedResponse")
        .await?;
    assert_eq!(error.http_status, Some(502));
    assert!(
        error.message.contains("502") && error.message.to_lowercase().contains("bad gateway"),
        "{error:?}"
    );
    world.emulator.admin().clear_faults().await?;
    world.wait_sent("pager").await?;
    Ok(())
}

/// A connection cut after AWS acted: OutcomeUnknown is recorded, then (default policy) resent.
async fn cut_connection_is_outcome_unknown_then_resent(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "cut", &[]).await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::DropAfterProcessing).times(1))
        .await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
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
        .edit_until_sent("pager", json!({"resendToken": "person-checked"}))
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
    let ready = condition(&object, "Ready")?;
    assert!(ready.message.contains("no AWS region"), "{}", ready.message);
    assert_eq!(world.calls().await?, 0);
    // spec.region fixes it.
    world
        .edit_until_sent("pager", json!({"region": "eu-west-1"}))
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

/// A deleted object backing off is not called past its scheduled retry; the operator carries on.
async fn deletion_mid_backoff_stops_calls(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "delete", &[]).await?;
    world
        .inject(
            FaultSpec::error(SEND, FaultKind::InternalServerException)
                .for_channel(&world.channel.arn),
        )
        .await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Reconciling", "True", "AwsInternalError")
        .await?;
    let deleted = world
        .api
        .delete("pager", &kube::api::DeleteParams::default())
        .await?;
    let deleted_at = jiff::Timestamp::now();
    // The retry the operator had scheduled when the object went (none while a call was on).
    let scheduled = deleted
        .left()
        .and_then(|o| o.status)
        .and_then(|s| s.next_attempt_time)
        .map_or(deleted_at, |t| t.0.max(deleted_at));
    eventually("the object to be gone", Duration::from_secs(20), || async {
        Ok(world.api.get_opt("pager").await?.is_none().then_some(()))
    })
    .await?;
    // A call under way when the object went is allowed to finish: count from its end.
    eventually(
        "no reconcile in flight",
        Duration::from_secs(20),
        || async {
            let running = world
                .operator
                .metric("ssmcontacts_reconciles_in_flight")
                .await?;
            Ok((running == 0.0).then_some(()))
        },
    )
    .await?;
    let calls_at_delete = world.calls().await?;
    // Past the scheduled retry, and past a whole backoff ceiling (--backoff-max 2s) after it.
    let quiet_until = scheduled.checked_add(Duration::from_secs(3))?;
    eventually(
        &format!("the retry scheduled for {scheduled} to be due and past"),
        Duration::from_secs(30),
        || async { Ok((jiff::Timestamp::now() > quiet_until).then_some(())) },
    )
    .await?;
    // The operator is alive and calling: a new object on another channel gets its code.
    let other = world.seed("delete-other").await?;
    world.create("other", World::spec_for(&other)).await?;
    world.wait_sent("other").await?;
    assert!(world.operator.is_running());
    let pager_calls = world
        .send_calls()
        .await?
        .iter()
        .filter(|e| e.channel_arn.as_deref() == Some(world.channel.arn.as_str()))
        .count();
    assert!(calls_at_delete >= 1);
    assert_eq!(
        pager_calls, calls_at_delete,
        "the deleted object's channel was called after the deletion"
    );
    assert_eq!(world.emulator.admin().sends_for(&other).await?, 1);
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
    world.wait_sent("pager").await?;
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
    let object = world
        .edit_until_sent("pager", json!({"resendToken": "after-failover"}))
        .await?;
    assert_eq!(object.status.and_then(|s| s.sent_generation), Some(2));
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

/// No AWS credentials at all: CredentialsUnavailable, Stalled, and nothing reaches AWS.
async fn no_credentials_is_stalled_without_a_call(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "nocreds").await?;
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

/// A refused endpoint is EndpointUnreachable and retried; once it listens, one code in its only call.
async fn unreachable_endpoint_sends_nothing_then_one_code(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "unreachable").await?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    world.operator = Operator::launch_as(
        &suite.kubeconfig,
        &world.namespace,
        &format!("http://{closed}"),
        &[],
        world.log_dir(),
    )?
    .ready()
    .await?;
    world.create("pager", world.spec()).await?;
    let error = world
        .wait_last_error("pager", "Reconciling", "True", "EndpointUnreachable")
        .await?;
    assert_eq!(error.code, "EndpointUnreachable");
    assert!(error.message.contains("nothing was sent"), "{error:?}");
    // The second attempt's outcome recorded (not merely its intent: its call could still reach
    // the endpoint about to come up).
    eventually("a retry", Duration::from_secs(30), || async {
        let status = world.status("pager").await?;
        Ok((status.attempts >= 2 && status.send_in_flight.is_none()).then_some(()))
    })
    .await?;
    // The endpoint comes up where the operator keeps knocking.
    let listener = tokio::net::TcpListener::bind(closed).await?;
    let late =
        ssm_contacts_emulator::RunningEmulator::start_on(listener, Default::default()).await?;
    late.seed_channel(ssm_contacts_emulator::state::SeedChannel {
        arn: Some(world.channel.arn.clone()),
        name: "unreachable".into(),
        ..Default::default()
    })?;
    world.emulator = late;
    let object = world.wait_sent("pager").await?;
    assert_eq!(world.calls().await?, 1, "{:?}", world.send_calls().await?);
    assert_eq!(world.sends().await?, 1);
    assert!(object.status.is_some_and(|s| s.attempts >= 3));
    Ok(())
}
