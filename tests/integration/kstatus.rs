//! kstatus, the library Flux computes health with (tools/kstatus), run on the objects as the
//! API server serves them in every state the operator puts them in: waiting in the send line,
//! for a channel's cooldown or for a retry (InProgress), sent (Current), refused for good
//! (Failed), waiting for the person (InProgress until activated). Each check reads the object
//! as it was when its state was seen, so a state that passes quickly is still judged.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::api::resource::ContactChannelActivationSpec;

use crate::Scenario;
use crate::activation::{FAST_CHECKS, FAST_RECHECKS};
use crate::support::{
    Result, SEND, Suite, World, eventually, kstatus_for, kstatus_of, object_json,
};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(kstatus_queued_objects_are_in_progress_until_sent),
        scenario!(kstatus_channel_cooldown_is_in_progress),
        scenario!(kstatus_throttled_and_failing_calls_are_in_progress),
        scenario!(kstatus_sent_code_is_current),
        scenario!(kstatus_refused_objects_are_failed),
        scenario!(kstatus_awaiting_the_person_is_in_progress_until_activated),
        scenario!(kstatus_suspended_object_is_current),
        scenario!(kstatus_unseen_object_is_current_until_the_operator_writes),
        scenario!(kstatus_deactivated_channel_needs_a_person),
    ]
}

/// What kstatus says of an object whose activated channel fell back to NOT_ACTIVATED
/// (readyWhen: Activated): it needs a person again (to opt in anew, or a resendToken for a
/// new code), which the operator shows as Stalled ("cannot progress without a human").
const DEACTIVATED_EXPECTED: &str = "Failed";

/// The condition `type_` of `object` as `(status, reason)`.
fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<(&'a str, &'a str)> {
    object
        .data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default(),
                c["reason"].as_str().unwrap_or_default(),
            )
        })
}

/// The object's conditions, for failure messages.
fn conditions_of(object: &DynamicObject) -> String {
    format!("{:#}", object.data["status"]["conditions"])
}

/// Fails unless kstatus reads `object` (as it was fetched) as `want`.
async fn check(object: &DynamicObject, want: &str) -> Result {
    let (got, message) = kstatus_for(object).await?;
    if got != want {
        return Err(format!(
            "kstatus reads {:?} as {got} ({message:?}), expected {want}; generation {:?}, \
             observedGeneration {}, conditions: {}",
            object.metadata.name,
            object.metadata.generation,
            object.data["status"]["observedGeneration"],
            conditions_of(object)
        )
        .into());
    }
    Ok(())
}

/// Waits until `name`'s condition `type_` is `status`/`reason`, then checks what kstatus
/// reads from the object as it was at that moment; returns that object.
async fn expect(
    world: &World,
    name: &str,
    (type_, status, reason): (&str, &str, &str),
    want: &str,
) -> Result<DynamicObject> {
    let (_, object) = world
        .wait_raw_condition(name, type_, status, reason)
        .await?;
    check(&object, want).await?;
    Ok(object)
}

/// Eight objects behind a send rate of one a second: every status seen before an object's
/// code went out reads InProgress and describes its generation, each reads Current once sent,
/// and the first status the operator writes already says Reconciling (or Sent).
async fn kstatus_queued_objects_are_in_progress_until_sent(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-queued", &["--send-rate", "1"]).await?;
    let fleet = world.fleet("queued", 8).await?;
    let raw = world.raw();
    let mut first_seen = HashSet::new();
    let mut queued_seen = 0;
    let start = tokio::time::Instant::now();
    loop {
        let list = raw.list(&ListParams::default()).await?;
        let items = list
            .items
            .iter()
            .map(object_json)
            .collect::<Result<Vec<Value>>>()?;
        let verdicts =
            kstatus_of(&json!({"apiVersion": "v1", "kind": "List", "items": items})).await?;
        let mut sent = 0;
        for (object, verdict) in list.items.iter().zip(&verdicts) {
            let name = object.metadata.name.clone().unwrap_or_default();
            assert_eq!(
                (verdict.name.as_str(), verdict.namespace.as_str()),
                (name.as_str(), world.namespace.as_str()),
                "the checker's lines follow the List"
            );
            // No status yet: the operator has not seen it, and kstatus reads it as Current
            // (the last scenario shows it); the operator's first write closes that window.
            if object.data["status"].is_null() {
                continue;
            }
            let observed = object.data["status"]["observedGeneration"].as_i64();
            assert_eq!(
                observed,
                object.metadata.generation,
                "{name}: the status must describe the generation; conditions: {}",
                conditions_of(object)
            );
            let code_sent = condition(object, "CodeSent");
            let want = if code_sent.map(|(status, _)| status) == Some("True") {
                sent += 1;
                "Current"
            } else {
                queued_seen += usize::from(code_sent == Some(("False", "Pending")));
                "InProgress"
            };
            if first_seen.insert(name.clone()) {
                let reconciling = condition(object, "Reconciling").map(|(status, _)| status);
                assert!(
                    want == "Current" || reconciling == Some("True"),
                    "{name}: the first status seen is neither sent nor Reconciling: {}",
                    conditions_of(object)
                );
            }
            if verdict.status != want {
                return Err(format!(
                    "kstatus reads {name} as {} ({:?}), expected {want}; conditions: {}",
                    verdict.status,
                    verdict.message,
                    conditions_of(object)
                )
                .into());
            }
        }
        if sent == fleet.len() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "{sent} of {} objects sent after 60 s; operator log:\n{}",
                fleet.len(),
                world.operator.log_tail()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // At one send a second, objects queue for seconds: far more than one 200 ms poll.
    assert!(
        queued_seen > 0,
        "no object was seen waiting in the send line"
    );
    Ok(())
}

/// A second object on a channel in its cooldown waits (ChannelCooldown): InProgress.
async fn kstatus_channel_cooldown_is_in_progress(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-cooldown", &["--channel-cooldown", "60s"]).await?;
    world.create("first", world.spec()).await?;
    expect(&world, "first", ("Ready", "True", "Sent"), "Current").await?;
    world.create("second", world.spec()).await?;
    expect(
        &world,
        "second",
        ("CodeSent", "False", "ChannelCooldown"),
        "InProgress",
    )
    .await?;
    Ok(())
}

/// Calls answered with ThrottlingException or InternalServerException are retried: both
/// objects read InProgress while they retry.
async fn kstatus_throttled_and_failing_calls_are_in_progress(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-retrying", &[]).await?;
    let rows = [
        ("throttled", FaultKind::ThrottlingException, "Throttled"),
        (
            "failing",
            FaultKind::InternalServerException,
            "AwsInternalError",
        ),
    ];
    for (name, kind, _) in &rows {
        let arn = world.seed(name).await?;
        world
            .inject(FaultSpec::error(SEND, *kind).for_channel(&arn))
            .await?;
        world.create(name, World::spec_for(&arn)).await?;
    }
    for (name, _, reason) in &rows {
        let object = expect(&world, name, ("CodeSent", "False", reason), "InProgress").await?;
        assert_eq!(
            condition(&object, "Reconciling"),
            Some(("True", *reason)),
            "{name}: {}",
            conditions_of(&object)
        );
    }
    Ok(())
}

/// With the default readyWhen (CodeSent), a sent code is the end of the work: Current.
async fn kstatus_sent_code_is_current(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-sent", &[]).await?;
    world.create("pager", world.spec()).await?;
    expect(&world, "pager", ("Ready", "True", "Sent"), "Current").await?;
    // The activation checks that follow a send change nothing kstatus reads.
    let (status, message) = world.kstatus("pager").await?;
    assert_eq!(status, "Current", "{message}");
    Ok(())
}

/// A terminal refusal (ValidationException) and a channel outside the allowed accounts
/// (NotAllowed) are Stalled: Failed, so Flux reports them instead of waiting.
async fn kstatus_refused_objects_are_failed(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "ks-refused",
        &["--allowed-accounts", "123456789012"],
    )
    .await?;
    let invalid = world.seed("invalid").await?;
    world
        .inject(FaultSpec::error(SEND, FaultKind::ValidationException).for_channel(&invalid))
        .await?;
    world.create("invalid", World::spec_for(&invalid)).await?;
    let stranger = "arn:aws:ssm-contacts:us-east-1:210987654321:contact-channel/oncall/stranger";
    world.create("stranger", World::spec_for(stranger)).await?;
    expect(
        &world,
        "invalid",
        ("Stalled", "True", "ValidationFailed"),
        "Failed",
    )
    .await?;
    expect(
        &world,
        "stranger",
        ("Stalled", "True", "NotAllowed"),
        "Failed",
    )
    .await?;
    Ok(())
}

/// readyWhen: Activated: after the send the object waits for the person (InProgress), and
/// reads Current once AWS says the channel is activated.
async fn kstatus_awaiting_the_person_is_in_progress_until_activated(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-person", &FAST_CHECKS).await?;
    let spec = world.spec_ready_when_activated();
    world.create("pager", spec).await?;
    let waiting = expect(
        &world,
        "pager",
        ("Ready", "False", "AwaitingCode"),
        "InProgress",
    )
    .await?;
    assert_eq!(
        condition(&waiting, "CodeSent"),
        Some(("True", "Sent")),
        "{}",
        conditions_of(&waiting)
    );
    world.activate_channel().await?;
    expect(&world, "pager", ("Ready", "True", "Activated"), "Current").await?;
    Ok(())
}

/// A suspended object reads Current: Flux must not wait on it.
///
/// `suspend: true` is the desired state, and nothing is left to do for it: no call, no retry
/// (API.md: Reconciling only "while work for the generation is pending or retrying"). An
/// object deliberately settled is what kstatus calls Current; InProgress would hold a Flux
/// Kustomization that waits on health until its timeout and then fail it, for an object that
/// does exactly what its author asked. Status still says Suspended (CodeSent False), so
/// `kubectl get` and `kubectl wait --for=condition=CodeSent` tell the truth.
async fn kstatus_suspended_object_is_current(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-suspend", &[]).await?;
    let spec = ContactChannelActivationSpec {
        suspend: true,
        ..world.spec()
    };
    world.create("pager", spec).await?;
    expect(
        &world,
        "pager",
        ("CodeSent", "False", "Suspended"),
        "Current",
    )
    .await?;
    Ok(())
}

/// An object the operator has not seen (no status) reads Current to kstatus, which is why the
/// operator writes status at once: the first status it writes already reads InProgress or,
/// once sent, Current.
async fn kstatus_unseen_object_is_current_until_the_operator_writes(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "ks-unseen", &[]).await?;
    world.operator.crash().await?;
    world.create("pager", world.spec()).await?;
    let object = world.raw().get("pager").await?;
    assert!(
        object.data["status"].is_null(),
        "{:#}",
        object.data["status"]
    );
    check(&object, "Current").await?;
    world.operator.restart().await?;
    let first = eventually(
        "the operator's first status",
        Duration::from_secs(30),
        || async {
            let object = world.raw().get("pager").await?;
            Ok((!object.data["status"].is_null()).then_some(object))
        },
    )
    .await?;
    let sent = condition(&first, "CodeSent").map(|(status, _)| status) == Some("True");
    check(&first, if sent { "Current" } else { "InProgress" }).await?;
    expect(&world, "pager", ("Ready", "True", "Sent"), "Current").await?;
    Ok(())
}

/// An activated channel that AWS later reports NOT_ACTIVATED (readyWhen: Activated) is
/// Deactivated and needs a person again: DEACTIVATED_EXPECTED.
async fn kstatus_deactivated_channel_needs_a_person(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "ks-deactivated", &FAST_RECHECKS).await?;
    let spec = world.spec_ready_when_activated();
    world.create("pager", spec).await?;
    world.wait_code_sent("pager").await?;
    world.activate_channel().await?;
    expect(&world, "pager", ("Ready", "True", "Activated"), "Current").await?;
    world.deactivate_channel().await?;
    let object = expect(
        &world,
        "pager",
        ("Activated", "False", "Deactivated"),
        DEACTIVATED_EXPECTED,
    )
    .await?;
    // API.md (Activation drift): Ready follows Activated where readyWhen is Activated.
    assert_eq!(
        condition(&object, "Ready").map(|(status, _)| status),
        Some("False"),
        "{}",
        conditions_of(&object)
    );
    Ok(())
}
