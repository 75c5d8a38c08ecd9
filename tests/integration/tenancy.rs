//! Tenancy and abuse guards: objects outside the allowed accounts or roles are refused with
//! no AWS call, a Namespace annotation narrows the accounts at run time, a channel gets at
//! most one code per cooldown and a few an hour, whichever objects ask and across a restart
//! of the operator, and an allowed spec.roleArn is assumed through STS for the calls.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use ssm_contacts_emulator::journal::{JournalEntry, JournalFilter};
use ssm_contacts_emulator::sessions::StsSettingsUpdate;
use ssm_contacts_operator::api::resource::ContactChannelActivationSpec;
use ssm_contacts_operator::rules::tenancy::ALLOWED_ACCOUNTS_ANNOTATION;

use crate::Scenario;
use crate::support::{Result, SEND, Suite, World};

/// An account with no channel in the emulator: whatever names it must never reach AWS.
const STRANGER: &str = "444455556666";

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(account_outside_the_allowlist_is_refused_without_a_call),
        scenario!(namespace_annotation_takes_effect_at_run_time),
        scenario!(role_outside_the_allowlist_is_refused_without_a_call),
        scenario!(second_object_on_a_channel_waits_the_cooldown_across_a_restart),
        scenario!(hourly_cap_defers_the_next_code),
        scenario!(assumed_role_signs_the_calls_and_is_refreshed_before_expiry),
        scenario!(role_that_cannot_be_assumed_is_assume_role_failed),
    ]
}

fn stranger_channel() -> String {
    format!("arn:aws:ssm-contacts:us-east-1:{STRANGER}:contact-channel/oncall/stranger")
}

/// Waits until `name` is refused as NotAllowed (Stalled, a Warning Event) and returns the
/// condition's message.
async fn wait_not_allowed(world: &World, name: &str) -> Result<String> {
    let object = world
        .wait_condition(name, "CodeSent", "False", "NotAllowed")
        .await?;
    world
        .wait_condition(name, "Stalled", "True", "NotAllowed")
        .await?;
    let note = world.wait_event(name, "NotAllowed").await?;
    let status = object.status.unwrap_or_default();
    assert_eq!(status.attempts, 0, "{status:?}");
    assert!(status.send_in_flight.is_none(), "{status:?}");
    Ok(note)
}

/// A channel of an account outside --allowed-accounts: NotAllowed, Stalled, a Warning, and
/// no call; a channel of an allowed account in the same namespace gets its code.
async fn account_outside_the_allowlist_is_refused_without_a_call(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "allow-acct",
        &["--allowed-accounts", "123456789012,210987654321"],
    )
    .await?;
    world
        .create("stranger", World::spec_for(&stranger_channel()))
        .await?;
    world.create("own", world.spec()).await?;
    let note = wait_not_allowed(&world, "stranger").await?;
    assert!(
        note.contains(STRANGER) && note.contains("--allowed-accounts"),
        "{note}"
    );
    world.wait_sent("own").await?;
    // Only the allowed channel was called, once.
    let calls = world.send_calls().await?;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].channel_arn.as_deref(),
        Some(world.channel.arn.as_str())
    );
    Ok(())
}

/// The Namespace annotation narrows the operator's accounts; a change of it takes effect in
/// the running operator: a refused object gets its code once its account is allowed, and a
/// narrowed namespace refuses new objects.
async fn namespace_annotation_takes_effect_at_run_time(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "allow-ns", &[]).await?;
    let pid = world.operator.pid();
    world.annotate_namespace(Some(STRANGER)).await?;
    world.create("pager", world.spec()).await?;
    let note = wait_not_allowed(&world, "pager").await?;
    assert!(note.contains(ALLOWED_ACCOUNTS_ANNOTATION), "{note}");
    assert_eq!(world.calls().await?, 0);

    world
        .annotate_namespace(Some(&format!("{STRANGER}, 123456789012")))
        .await?;
    world.wait_sent("pager").await?;
    assert_eq!(world.sends().await?, 1);

    world.annotate_namespace(Some("999999999999")).await?;
    world.create("late", world.spec()).await?;
    wait_not_allowed(&world, "late").await?;
    // Narrowing after the code went out leaves the sent object as it was.
    world.wait_sent("pager").await?;
    assert_eq!(world.sends().await?, 1);
    assert_eq!(world.operator.pid(), pid, "the operator restarted");
    Ok(())
}

/// A spec.roleArn that no --allowed-role-arns pattern admits: NotAllowed, with no STS and
/// no SSM Contacts call.
async fn role_outside_the_allowlist_is_refused_without_a_call(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "allow-role",
        &[
            "--allowed-role-arns",
            "arn:aws:iam::123456789012:role/pager-*",
        ],
    )
    .await?;
    let spec = ContactChannelActivationSpec {
        role_arn: Some("arn:aws:iam::123456789012:role/admin".into()),
        ..world.spec()
    };
    world.create("admin-role", spec).await?;
    let note = wait_not_allowed(&world, "admin-role").await?;
    assert!(note.contains("--allowed-role-arns"), "{note}");
    let journal = world.emulator.admin().journal().await?;
    assert!(
        journal.is_empty(),
        "calls reached the emulator: {journal:?}"
    );
    Ok(())
}

/// Two objects on one channel: the second waits the cooldown (ChannelCooldown, Reconciling,
/// nextAttemptTime), counted from the first one's call even by an operator started after it,
/// then gets its code.
async fn second_object_on_a_channel_waits_the_cooldown_across_a_restart(
    suite: Arc<Suite>,
) -> Result {
    const COOLDOWN: &[&str] = &["--channel-cooldown", "12s"];
    let mut world = World::new(&suite, "cooldown", COOLDOWN).await?;
    world.create("first", world.spec()).await?;
    world.wait_sent("first").await?;
    // A new process knows nothing but what the cluster shows.
    world.replace_operator(COOLDOWN).await?;
    world.create("second", world.spec()).await?;
    let deferred = world
        .wait_condition("second", "CodeSent", "False", "ChannelCooldown")
        .await?;
    world
        .wait_condition("second", "Reconciling", "True", "ChannelCooldown")
        .await?;
    let status = deferred.status.unwrap_or_default();
    let due = status
        .next_attempt_time
        .ok_or("no nextAttemptTime while deferred")?;
    assert!(due.0 > Timestamp::now(), "due {} is not ahead", due.0);
    world.wait_event("second", "ChannelCooldown").await?;

    world.wait_sent("second").await?;
    let calls = world.send_calls().await?;
    assert_eq!(calls.len(), 2, "{calls:?}");
    let gap = calls[1].time.duration_since(calls[0].time);
    assert!(
        gap >= jiff::SignedDuration::from_secs(11),
        "the second code went {gap:#} after the first"
    );
    Ok(())
}

/// The hourly cap holds a channel's codes across generations: with two an hour, the third
/// generation is deferred by most of an hour, not dropped.
async fn hourly_cap_defers_the_next_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "hourly", &["--channel-sends-per-hour", "2"]).await?;
    world.create("pager", world.spec()).await?;
    world.wait_code_sent("pager").await?;
    world
        .edit_spec("pager", json!({"resendToken": "2"}))
        .await?;
    world.wait_code_sent("pager").await?;
    world
        .edit_spec("pager", json!({"resendToken": "3"}))
        .await?;
    let deferred = world
        .wait_condition("pager", "CodeSent", "False", "ChannelCooldown")
        .await?;
    let status = deferred.status.unwrap_or_default();
    let due = status
        .next_attempt_time
        .clone()
        .ok_or("no nextAttemptTime")?;
    let ahead = due.0.duration_since(Timestamp::now());
    assert!(
        ahead > jiff::SignedDuration::from_mins(50),
        "the third code is due in {ahead:#}"
    );
    assert_eq!(status.recent_sends.len(), 2, "{status:?}");
    assert_eq!(world.sends().await?, 2);
    // Still deferred, not retried, a while later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.calls().await?, 2);
    Ok(())
}

/// The other account of the cross-account scenarios: its channel, and its role.
const TENANT: &str = "210987654321";
const TENANT_ROLE: &str = "arn:aws:iam::210987654321:role/ssm-contacts-activation";
/// What the operator may assume in the role scenarios.
const ROLE_ALLOWLIST: [&str; 2] = [
    "--allowed-role-arns",
    "arn:aws:iam::210987654321:role/ssm-contacts-*",
];

/// A world whose channel is in the tenant's account and whose emulator knows the tenant's
/// role; the operator's own keys may not touch that account (strict accounts), so only the
/// assumed role can reach the channel.
async fn tenant_world(suite: &Suite, name: &str) -> Result<World> {
    let arn = format!("arn:aws:ssm-contacts:us-east-1:{TENANT}:contact-channel/oncall/{name}");
    let world = World::with_channel(suite, name, &ROLE_ALLOWLIST, &arn).await?;
    let admin = world.emulator.admin();
    admin.add_role(TENANT_ROLE).await?;
    admin
        .set_sts_settings(StsSettingsUpdate {
            strict_accounts: Some(true),
            ..StsSettingsUpdate::default()
        })
        .await?;
    Ok(world)
}

async fn journal_of(world: &World, operation: &str) -> Result<Vec<JournalEntry>> {
    let filter = JournalFilter {
        operation: Some(operation.to_owned()),
        ..JournalFilter::default()
    };
    Ok(world.emulator.admin().journal_filtered(&filter).await?)
}

/// spec.roleArn is assumed with a session naming the object; the channel's calls are signed
/// with the temporary credentials (not the operator's own keys); the session is reused while
/// fresh and assumed anew before it expires.
async fn assumed_role_signs_the_calls_and_is_refreshed_before_expiry(suite: Arc<Suite>) -> Result {
    let world = tenant_world(&suite, "assume").await?;
    world
        .emulator
        .admin()
        .set_sts_settings(StsSettingsUpdate {
            credential_lifetime_seconds: Some(4),
            ..StsSettingsUpdate::default()
        })
        .await?;
    let spec = ContactChannelActivationSpec {
        role_arn: Some(TENANT_ROLE.into()),
        ..world.spec()
    };
    world.create("pager", spec).await?;
    world.wait_sent("pager").await?;

    let session = format!("{}.pager", world.namespace);
    let assumed = journal_of(&world, "AssumeRole").await?;
    assert_eq!(
        assumed.len(),
        1,
        "one session for the read and the send: {assumed:?}"
    );
    assert_eq!(assumed[0].role_arn.as_deref(), Some(TENANT_ROLE));
    assert_eq!(
        assumed[0].role_session_name.as_deref(),
        Some(session.as_str())
    );
    let issued = assumed[0]
        .issued_access_key_id
        .clone()
        .ok_or("no key issued")?;
    let caller = format!("arn:aws:sts::{TENANT}:assumed-role/ssm-contacts-activation/{session}");
    for operation in ["GetContactChannel", SEND] {
        let calls = journal_of(&world, operation).await?;
        assert_eq!(calls.len(), 1, "{operation}: {calls:?}");
        assert_eq!(
            calls[0].access_key_id.as_deref(),
            Some(issued.as_str()),
            "{operation}"
        );
        assert_eq!(
            calls[0].caller_arn.as_deref(),
            Some(caller.as_str()),
            "{operation}"
        );
    }

    // Past the credentials' lifetime a new generation is sent with a new session.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let object = world
        .edit_until_sent("pager", json!({"resendToken": "again"}))
        .await?;
    assert_eq!(object.metadata.generation, Some(2));
    let assumed = journal_of(&world, "AssumeRole").await?;
    assert_eq!(assumed.len(), 2, "{assumed:?}");
    let renewed = assumed[1]
        .issued_access_key_id
        .clone()
        .ok_or("no key issued")?;
    let sends = journal_of(&world, SEND).await?;
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!(sends[1].access_key_id.as_deref(), Some(renewed.as_str()));
    assert_eq!(sends[1].outcome, sends[0].outcome);
    let counted = world
        .operator
        .aws_requests(r#"operation="AssumeRole",code="Success""#)
        .await?;
    assert_eq!(counted, 2.0, "AssumeRole requests counted");
    Ok(())
}

/// An allowed role that STS refuses: AssumeRoleFailed with STS's code, Stalled, and no call
/// to SSM Contacts.
async fn role_that_cannot_be_assumed_is_assume_role_failed(suite: Arc<Suite>) -> Result {
    let world = tenant_world(&suite, "no-assume").await?;
    let spec = ContactChannelActivationSpec {
        role_arn: Some("arn:aws:iam::210987654321:role/ssm-contacts-unknown".into()),
        ..world.spec()
    };
    world.create("pager", spec).await?;
    let error = world
        .wait_last_error("pager", "CodeSent", "False", "AssumeRoleFailed")
        .await?;
    world
        .wait_condition("pager", "Stalled", "True", "AssumeRoleFailed")
        .await?;
    assert_eq!(error.code, "AccessDenied", "{error:?}");
    assert!(error.message.contains("sts:AssumeRole"), "{error:?}");
    assert!(!journal_of(&world, "AssumeRole").await?.is_empty());
    assert_eq!(world.calls().await?, 0);
    // Counted as refused AssumeRole requests only: nothing reached SSM Contacts.
    let refused = world
        .operator
        .aws_requests(r#"operation="AssumeRole",code="AccessDenied""#)
        .await?;
    assert!(
        refused >= 1.0,
        "{refused} refused AssumeRole requests counted"
    );
    for operation in ["GetContactChannel", SEND, "ActivateContactChannel"] {
        let labels = format!(r#"operation="{operation}""#);
        let counted = world.operator.aws_requests(&labels).await?;
        assert_eq!(counted, 0.0, "{operation} requests counted");
    }
    Ok(())
}
