//! Day-two scenarios: a channel that falls back to NOT_ACTIVATED, a failing
//! ActivateContactChannel that backs off, a restart over a settled fleet that stays quiet, and
//! Events on an object whose name is as long as Kubernetes allows.

use std::sync::Arc;
use std::time::Duration;

use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};

use crate::Scenario;
use crate::activation::{FAST_CHECKS, FAST_RECHECKS, calls_of, put_code};
use crate::support::{Result, Suite, World, eventually};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(a_deactivated_channel_is_reported_and_gets_no_code),
        scenario!(an_already_activated_channel_is_rechecked_too),
        scenario!(a_failing_activation_backs_off),
        scenario!(a_restart_over_a_settled_fleet_is_quiet),
        scenario!(a_253_character_name_gets_its_events),
    ]
}

/// Activated, then NOT_ACTIVATED at the next re-read: Deactivated, a Warning Event from
/// GetContactChannel, Ready False and Stalled under readyWhen: Activated, the gauge shows it,
/// and no code goes out until the spec asks for one.
async fn a_deactivated_channel_is_reported_and_gets_no_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "drift", &FAST_RECHECKS).await?;
    let spec = world.spec_ready_when_activated();
    world.create("pager", spec).await?;
    world
        .wait_condition("pager", "Activated", "False", "AwaitingCode")
        .await?;
    let admin = world.emulator.admin();
    admin.activate_channel(&world.channel.arn).await?;
    world
        .wait_condition("pager", "Ready", "True", "Activated")
        .await?;
    admin.deactivate_channel(&world.channel.arn).await?;
    world
        .wait_condition("pager", "Activated", "False", "Deactivated")
        .await?;
    world
        .wait_condition("pager", "Ready", "False", "Deactivated")
        .await?;
    world
        .wait_condition("pager", "Stalled", "True", "Deactivated")
        .await?;
    assert_eq!(
        world.event_action("pager", "Deactivated").await?,
        "GetContactChannel"
    );
    let deactivated = eventually("the gauge", Duration::from_secs(10), || async {
        let count = world
            .operator
            .metric_where("ssmcontacts_objects", r#"activation="Deactivated""#)
            .await?;
        Ok((count == 1.0).then_some(count))
    })
    .await?;
    assert_eq!(deactivated, 1.0);
    // Several re-reads later, still no code sent on the operator's own initiative.
    let reads = calls_of(&world, "GetContactChannel").await?;
    eventually("two more re-reads", Duration::from_secs(20), || async {
        Ok((calls_of(&world, "GetContactChannel").await? >= reads + 2).then_some(()))
    })
    .await?;
    assert_eq!(world.sends().await?, 1);
    let deactivated_events = world
        .event_reasons("pager")
        .await?
        .iter()
        .filter(|reason| *reason == "Deactivated")
        .count();
    assert_eq!(deactivated_events, 1, "one Warning, not one per re-read");

    // A spec change asks for a new code.
    world
        .edit_spec("pager", serde_json::json!({"resendToken": "after-opt-out"}))
        .await?;
    eventually("the new code", Duration::from_secs(20), || async {
        Ok((world.sends().await? == 2).then_some(()))
    })
    .await?;
    world
        .wait_condition("pager", "Activated", "False", "AwaitingCode")
        .await?;
    Ok(())
}

/// A channel that needed no code (AlreadyActivated) is re-read like any other, and its fall
/// back is Deactivated, still with no code sent.
async fn an_already_activated_channel_is_rechecked_too(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "drift-adopted", &["--activation-recheck", "2s"]).await?;
    let arn = world.seed_activated("adopted").await?;
    let admin = world.emulator.admin();
    world.create("pager", World::spec_for(&arn)).await?;
    world
        .wait_condition("pager", "CodeSent", "False", "AlreadyActivated")
        .await?;
    admin.deactivate_channel(&arn).await?;
    world
        .wait_condition("pager", "Activated", "False", "Deactivated")
        .await?;
    world.wait_event("pager", "Deactivated").await?;
    assert_eq!(admin.sends_for(&arn).await?, 0);
    Ok(())
}

/// ActivateContactChannel answering 500 is retried with a growing backoff (1s, 2s, 4s...),
/// not at once: a handful of calls in eight seconds, where a loop makes hundreds.
async fn a_failing_activation_backs_off(suite: Arc<Suite>) -> Result {
    let args = [
        "--activation-check-first",
        "1s",
        "--activation-check-max",
        "1m",
    ];
    let world = World::new(&suite, "entry-backoff", &args).await?;
    let spec = world.spec_reading_code("pager-code");
    world.create("pager", spec).await?;
    world.wait_code_sent("pager").await?;
    world
        .inject(FaultSpec::error(
            "ActivateContactChannel",
            FaultKind::InternalServerException,
        ))
        .await?;
    put_code(&world, "pager-code", &world.last_code().await?).await?;
    world
        .wait_condition("pager", "Activated", "False", "AwsInternalError")
        .await?;
    assert_eq!(
        world.event_action("pager", "AwsInternalError").await?,
        "ActivateContactChannel"
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    let entries = calls_of(&world, "ActivateContactChannel").await?;
    assert!(
        (2..=5).contains(&entries),
        "{entries} ActivateContactChannel calls in about eight seconds"
    );
    let status = world.status("pager").await?;
    assert!(status.activation_failures >= 2, "{status:?}");

    world.emulator.admin().clear_faults().await?;
    world
        .wait_condition("pager", "Activated", "True", "Activated")
        .await?;
    assert_eq!(world.status("pager").await?.activation_failures, 0);
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// Two hundred objects sent and activated; a new operator process reconciles every one of
/// them and makes no status write, no AWS call and no Event.
async fn a_restart_over_a_settled_fleet_is_quiet(suite: Arc<Suite>) -> Result {
    const FLEET: usize = 200;
    let args = [
        &FAST_CHECKS[..],
        &["--send-rate", "100", "--activation-check-rate", "100"],
    ]
    .concat();
    let mut world = World::new(&suite, "quiet", &args).await?;
    let fleet = world.fleet("pager", FLEET).await?;
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(300))
        .await?;
    let admin = world.emulator.admin();
    for (_, arn) in &fleet {
        admin.activate_channel(arn).await?;
    }
    eventually(
        "every object Activated",
        Duration::from_secs(300),
        || async {
            let activated = world
                .operator
                .metric_where("ssmcontacts_objects", r#"activation="Activated""#)
                .await?;
            Ok((activated == FLEET as f64).then_some(()))
        },
    )
    .await?;
    let calls = admin.journal_stats().await?.recorded;
    let events = world.events_in_namespace().await?;

    world.replace_operator(&args).await?;
    world.wait_reconciles(0.0, FLEET as f64).await?;
    // Room for anything a reconcile would have started.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        world
            .operator
            .metric("ssmcontacts_status_writes_total")
            .await?,
        0.0,
        "status writes after a restart over a settled fleet"
    );
    assert_eq!(
        admin.journal_stats().await?.recorded,
        calls,
        "AWS calls after the restart"
    );
    assert_eq!(
        world.events_in_namespace().await?,
        events,
        "Events after the restart"
    );
    let sends: usize = admin.sends_per_channel().await?.values().sum();
    assert_eq!(sends, FLEET);
    Ok(())
}

/// An object whose name has the 253 characters Kubernetes allows still gets its Events,
/// each naming the call it reports.
async fn a_253_character_name_gets_its_events(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "long-name", &[]).await?;
    let name = ["a", "b", "c"]
        .iter()
        .map(|part| part.repeat(63))
        .chain([String::from("d").repeat(61)])
        .collect::<Vec<_>>()
        .join(".");
    assert_eq!(name.len(), 253);
    world.create(&name, world.spec()).await?;
    world.wait_code_sent(&name).await?;
    assert_eq!(
        world.event_action(&name, "Sent").await?,
        "SendActivationCode"
    );
    Ok(())
}
