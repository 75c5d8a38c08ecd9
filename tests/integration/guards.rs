//! Guards that hold whatever a tenant does with its objects: a channel's limits survive
//! deleting and re-creating objects, restarts and shards (the channel records), and calls that
//! AWS refused never hold a channel.

use std::sync::Arc;
use std::time::Duration;

use kube::api::PostParams;
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::api::resource::ContactChannelActivation;

use crate::Scenario;
use crate::support::{Chart, Result, SEND, Suite, World, eventually};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(delete_and_reapply_waits_the_cooldown_across_a_restart),
        scenario!(create_delete_loop_meets_the_hourly_cap),
        scenario!(shards_share_a_channels_limits),
        scenario!(refused_calls_leave_the_channel_free),
        scenario!(a_namespace_that_cannot_be_listed_stops_only_itself),
    ]
}

/// The first code's time, and whether a second one went out no sooner than `cooldown` after.
async fn assert_gap(world: &World, at_least: Duration) -> Result {
    let calls = world.send_calls().await?;
    assert_eq!(calls.len(), 2, "{calls:?}");
    let gap = calls[1].time.duration_since(calls[0].time);
    let floor = jiff::SignedDuration::try_from(at_least)?;
    assert!(gap >= floor, "the second code went {gap:#} after the first");
    Ok(())
}

/// Delete the object that sent, restart the operator, re-apply it (same name) and another
/// (new name): both wait out the cooldown as ChannelCooldown, then one code goes out.
async fn delete_and_reapply_waits_the_cooldown_across_a_restart(suite: Arc<Suite>) -> Result {
    const COOLDOWN: &[&str] = &["--channel-cooldown", "15s"];
    let mut world = World::new(&suite, "reapply", COOLDOWN).await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    world.delete("pager").await?;
    // The new process knows only the cluster: no object shows the send any more.
    world.replace_operator(COOLDOWN).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "CodeSent", "False", "ChannelCooldown")
        .await?;
    world
        .wait_condition("pager", "Reconciling", "True", "ChannelCooldown")
        .await?;
    world.create("renamed", world.spec()).await?;
    world
        .wait_condition("renamed", "CodeSent", "False", "ChannelCooldown")
        .await?;
    assert_eq!(world.sends().await?, 1);
    world.wait_sent("pager").await?;
    assert_gap(&world, Duration::from_secs(14)).await?;
    Ok(())
}

/// With two codes an hour, a loop of create, wait, delete (with a restart halfway) texts the
/// phone twice; every later object waits for most of an hour.
async fn create_delete_loop_meets_the_hourly_cap(suite: Arc<Suite>) -> Result {
    const CAP: &[&str] = &["--channel-cooldown", "0s", "--channel-sends-per-hour", "2"];
    let mut world = World::new(&suite, "loop", CAP).await?;
    for round in 0..5 {
        if round == 2 {
            world.replace_operator(CAP).await?;
        }
        let name = format!("loop-{round}");
        world.create(&name, world.spec()).await?;
        if round < 2 {
            // (A ChannelCooldown of under a second may come first: a status keeps whole
            // seconds, so a send in the same second as the last waits for the next.)
            world.wait_code_sent(&name).await?;
        } else {
            let deferred = world
                .wait_condition(&name, "CodeSent", "False", "ChannelCooldown")
                .await?;
            let due = deferred
                .status
                .and_then(|s| s.next_attempt_time)
                .ok_or("no nextAttemptTime while deferred")?;
            let ahead = due.0.duration_since(jiff::Timestamp::now());
            assert!(
                ahead > jiff::SignedDuration::from_mins(50),
                "round {round}: the next code is due in {ahead:#}"
            );
        }
        world.delete(&name).await?;
    }
    assert_eq!(world.sends().await?, 2);
    Ok(())
}

/// Two shards that never see each other's objects: the second shard's object on the same
/// channel waits the cooldown that the first shard's send started.
async fn shards_share_a_channels_limits(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "shared-channel",
        &["--selector", "shard=a", "--channel-cooldown", "15s"],
    )
    .await?;
    let other = world
        .another_operator(&["--selector", "shard notin (a)", "--channel-cooldown", "15s"])
        .await?;
    let labelled = |name: &str, shard: &str| {
        let mut object = ContactChannelActivation::new(name, world.spec());
        object.metadata.labels = Some([("shard".to_owned(), shard.to_owned())].into());
        object
    };
    world
        .api
        .create(&PostParams::default(), &labelled("on-a", "a"))
        .await?;
    world.wait_sent("on-a").await?;
    world
        .api
        .create(&PostParams::default(), &labelled("on-b", "b"))
        .await?;
    world
        .wait_condition("on-b", "CodeSent", "False", "ChannelCooldown")
        .await?;
    world.wait_sent("on-b").await?;
    assert_gap(&world, Duration::from_secs(14)).await?;
    let sent_by_other = other
        .metric_where("ssmcontacts_sends_total", "outcome=\"Sent\"")
        .await?;
    assert_eq!(sent_by_other, 1.0, "the second shard sent on-b's code");
    Ok(())
}

/// AWS answers 5xx for a while under the default limits (60 s cooldown, 5 an hour): the
/// refused calls send nothing, so the code goes out the moment AWS recovers, with no
/// ChannelCooldown on the way.
async fn refused_calls_leave_the_channel_free(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "refused",
        &["--channel-cooldown", "60s", "--channel-sends-per-hour", "5"],
    )
    .await?;
    let failures = 12;
    world
        .inject(FaultSpec::error(SEND, FaultKind::InternalServerException).times(failures))
        .await?;
    world.create("pager", world.spec()).await?;
    let object = world.wait_sent("pager").await?;
    let status = object.status.unwrap_or_default();
    assert_eq!(status.attempts, failures + 1, "{status:?}");
    let reasons = world.event_reasons("pager").await?;
    assert!(
        !reasons.iter().any(|r| r == "ChannelCooldown"),
        "a refused call held the channel: {reasons:?}"
    );
    let calls = world.send_calls().await?;
    let (first, last) = (
        calls.first().ok_or("no call")?.time,
        calls.last().ok_or("no call")?.time,
    );
    // Twelve refusals took longer than nothing, yet far less than the cooldown they
    // would have caused each.
    assert!(
        last.duration_since(first) < jiff::SignedDuration::from_secs(60),
        "{calls:?}"
    );
    Ok(())
}

/// The chart watching two namespaces; the Role in the second is deleted and the operator
/// restarted: the first namespace's objects still get their codes, and readiness names the
/// namespace that cannot be listed.
async fn a_namespace_that_cannot_be_listed_stops_only_itself(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "listable").await?;
    let other = testenv::create_namespace(&suite.client, "unlistable").await?;
    let chart = Chart::install_watching(&suite, &world, false, &[&other]).await?;
    let watch_both = ["--namespace", other.as_str()];
    let operator = chart.launch(&world, &watch_both, world.log_dir())?;
    world.operator = operator;
    world.operator.wait_ready().await?;
    world.create("before", world.spec()).await?;
    world.wait_sent("before").await?;

    // The chart's Role in the other namespace goes (a tenant namespace torn down badly).
    let roles: kube::Api<k8s_openapi::api::rbac::v1::Role> =
        kube::Api::namespaced(suite.client.clone(), &other);
    for role in roles.list(&Default::default()).await?.items {
        if let Some(name) = role.metadata.name {
            roles.delete(&name, &Default::default()).await?;
        }
    }
    world.operator.crash().await?;
    world.operator = chart.launch(&world, &watch_both, world.log_dir())?;
    let arn = world.seed("after").await?;
    world.create("after", World::spec_for(&arn)).await?;
    world
        .wait_sent("after")
        .await
        .map_err(|e| format!("{e}; log:\n{}", world.operator.log_tail()))?;
    let body = eventually(
        "/readyz to name the namespace",
        Duration::from_secs(30),
        || async {
            let (status, body) = world.operator.probe("/readyz").await?;
            Ok((status == 503 && body.contains(&other)).then_some(body))
        },
    )
    .await?;
    assert!(body.contains("namespace"), "{body}");
    Ok(())
}
