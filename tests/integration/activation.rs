//! Activation scenarios: a channel followed from its code to ACTIVATED, through a code Secret
//! or the console; channels already active get no code; a denied read still sends; the code
//! never reaches the operator's output, even at trace level.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::api::resource::{ContactChannelActivationSpec, ReadyWhen};
use ssm_contacts_operator::reconcile::secret::CODE_SECRET_LABEL;

use crate::Scenario;
use crate::support::{Result, SEND, Suite, World, eventually};

/// Checks come quickly in tests.
pub const FAST_CHECKS: [&str; 4] = [
    "--activation-check-first",
    "1s",
    "--activation-check-max",
    "2s",
];

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(code_from_a_secret_activates_the_channel),
        scenario!(already_active_channel_gets_no_code),
        scenario!(console_activation_is_noticed_and_polling_stops),
        scenario!(denied_read_still_sends),
        scenario!(due_checks_wait_for_their_slots_without_a_herd),
        scenario!(unlabelled_secret_is_not_read),
        scenario!(default_log_level_writes_no_debug_line),
    ]
}

/// Quick checks, and activated channels read again every two seconds (drift).
pub const FAST_RECHECKS: [&str; 6] = [
    "--activation-check-first",
    "1s",
    "--activation-check-max",
    "2s",
    "--activation-recheck",
    "2s",
];

/// Writes the code Secret (labelled, so its changes are noticed at once).
pub async fn put_code(world: &World, name: &str, code: &str) -> Result {
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.namespace);
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.to_owned());
    secret.metadata.labels = Some([(CODE_SECRET_LABEL.to_owned(), "true".to_owned())].into());
    secret.string_data = Some([("code".to_owned(), code.to_owned())].into());
    match secrets.get_opt(name).await? {
        Some(existing) => {
            secret.metadata.resource_version = existing.metadata.resource_version;
            secrets
                .replace(name, &PostParams::default(), &secret)
                .await?;
        }
        None => {
            secrets.create(&PostParams::default(), &secret).await?;
        }
    }
    Ok(())
}

pub async fn calls_of(world: &World, operation: &str) -> Result<usize> {
    let journal = world.emulator.admin().journal().await?;
    Ok(journal.iter().filter(|e| e.operation == operation).count())
}

/// Send, a wrong code (CodeRejected), the right code (Activated), Ready only then
/// (readyWhen: Activated); at trace level the code never appears in the operator's log.
async fn code_from_a_secret_activates_the_channel(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "lifecycle", &FAST_CHECKS).await?;
    world
        .relaunch_logging(&suite, &FAST_CHECKS, "trace")
        .await?;
    let spec = ContactChannelActivationSpec {
        ready_when: ReadyWhen::Activated,
        ..world.spec_reading_code("pager-code")
    };
    world.create("pager", spec).await?;
    world.wait_code_sent("pager").await?;
    // No Secret yet is the normal wait for the person, not an error.
    world
        .wait_condition("pager", "Ready", "False", "AwaitingCode")
        .await?;
    let code = world.last_code().await?;
    // Seven digits: a different length from the drawn six, and unlikely in any other text.
    let wrong = "4721936";
    put_code(&world, "pager-code", wrong).await?;
    world
        .wait_condition("pager", "Activated", "False", "CodeRejected")
        .await?;
    put_code(&world, "pager-code", &code).await?;
    world
        .wait_condition("pager", "Activated", "True", "Activated")
        .await?;
    let object = world
        .wait_condition("pager", "Ready", "True", "Activated")
        .await?;
    let status = object.status.ok_or("no status")?;
    assert_eq!(status.activation_status.as_deref(), Some("ACTIVATED"));
    assert_eq!(world.sends().await?, 1);
    assert_eq!(calls_of(&world, "ActivateContactChannel").await?, 2);
    let log = world.operator.log_text();
    assert!(log.contains("TRACE"), "not a trace-level log");
    // Each line without its timestamp, whose fraction digits could match by chance.
    let lines: Vec<&str> = log
        .lines()
        .map(|line| line.split_once(' ').map_or(line, |(_, rest)| rest))
        .collect();
    for secret in [code.as_str(), wrong] {
        let leaks: Vec<&&str> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "the code {secret} is in the operator's log: {leaks:?}"
        );
        // Nor anything that gives the code away in a million guesses: the SHA-256 of the
        // request body (a SigV4 canonical request's payload hash), however it is written.
        for digest in body_digests(&world.channel.arn, secret) {
            let leaks: Vec<&&str> = lines.iter().filter(|l| l.contains(&digest)).collect();
            assert!(
                leaks.is_empty(),
                "the SHA-256 of a request body with {secret} is in the operator's log: {leaks:?}"
            );
        }
    }
    let status_text = serde_json::to_string(&status)?;
    assert!(!status_text.contains(&code));
    for (_, note) in world.events("pager").await? {
        assert!(!note.contains(&code), "{note}");
    }
    Ok(())
}

/// The hex SHA-256 of every way an ActivateContactChannel body with `code` can be written
/// (either member first, compact or spaced).
fn body_digests(arn: &str, code: &str) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let channel = format!("\"ContactChannelId\":\"{arn}\"");
    let entered = format!("\"ActivationCode\":\"{code}\"");
    let spaced = |text: &str| text.replace("\":\"", "\": \"");
    let bodies = [
        format!("{{{channel},{entered}}}"),
        format!("{{{entered},{channel}}}"),
        format!("{{{}, {}}}", spaced(&channel), spaced(&entered)),
        format!("{{{}, {}}}", spaced(&entered), spaced(&channel)),
    ];
    bodies
        .iter()
        .map(|body| hex::encode(Sha256::digest(body.as_bytes())))
        .collect()
}

/// A Secret without the code label is refused by name, with no ActivateContactChannel; once
/// labelled, its code is entered.
async fn unlabelled_secret_is_not_read(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "unlabelled", &FAST_CHECKS).await?;
    let secrets: Api<Secret> = Api::namespaced(world.client.clone(), &world.namespace);
    let mut other = Secret::default();
    other.metadata.name = Some("database".to_owned());
    other.string_data = Some([("code".to_owned(), "123456".to_owned())].into());
    secrets.create(&PostParams::default(), &other).await?;
    let spec = world.spec_reading_code("database");
    world.create("pager", spec).await?;
    let object = world
        .wait_condition("pager", "Activated", "False", "CodeSecretInvalid")
        .await?;
    let message = object
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Activated")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains(CODE_SECRET_LABEL) && message.contains("database"),
        "{message}"
    );
    assert_eq!(calls_of(&world, "ActivateContactChannel").await?, 0);
    let code = world.last_code().await?;
    put_code(&world, "database", &code).await?;
    world
        .wait_condition("pager", "Activated", "True", "Activated")
        .await?;
    Ok(())
}

/// RUST_LOG unset is info for everything: the caps on chatty crates never raise them.
async fn default_log_level_writes_no_debug_line(suite: Arc<Suite>) -> Result {
    let mut world = World::new(&suite, "quiet-log", &[]).await?;
    world.relaunch_logging(&suite, &[], "").await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    let log = world.operator.log_text();
    // Only this process's lines: the first operator of the world wrote to the same file.
    let started = log.rfind("starting").unwrap_or(0);
    let ours = &log[started..];
    assert!(ours.contains("INFO"), "no INFO line: {ours}");
    let debug: Vec<&str> = ours
        .lines()
        .filter(|l| l.contains("DEBUG") || l.contains("TRACE"))
        .collect();
    assert!(
        debug.is_empty(),
        "below info with RUST_LOG unset: {debug:?}"
    );
    Ok(())
}

/// A channel AWS already reports ACTIVATED gets no code: AlreadyActivated, Ready.
async fn already_active_channel_gets_no_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "active", &[]).await?;
    let arn = world.seed_activated("already-active").await?;
    world.create("pager", World::spec_for(&arn)).await?;
    world
        .wait_condition("pager", "Ready", "True", "AlreadyActivated")
        .await?;
    world
        .wait_condition("pager", "CodeSent", "False", "AlreadyActivated")
        .await?;
    world.wait_event("pager", "AlreadyActivated").await?;
    assert_eq!(world.emulator.admin().sends_for(&arn).await?, 0);
    assert_eq!(world.calls().await?, 0);
    Ok(())
}

/// Activation done in the console is noticed, and checks stop once AWS says ACTIVATED.
async fn console_activation_is_noticed_and_polling_stops(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "console", &FAST_CHECKS).await?;
    world.create("pager", world.spec()).await?;
    world
        .wait_condition("pager", "Activated", "False", "AwaitingCode")
        .await?;
    world.activate_channel().await?;
    world
        .wait_condition("pager", "Activated", "True", "Activated")
        .await?;
    let checks = calls_of(&world, "GetContactChannel").await?;
    // Well past two check intervals: no further check.
    tokio::time::sleep(Duration::from_secs(5)).await;
    world.touch("pager").await?;
    assert_eq!(calls_of(&world, "GetContactChannel").await?, checks);
    assert_eq!(world.sends().await?, 1);
    Ok(())
}

/// Thirty codes sent at once make thirty activation checks due together, against a budget
/// of 2 checks a second. Each object waits for a slot of its own: a check costs a few
/// reconciles (due, slot, own write), not one for every token the others take.
async fn due_checks_wait_for_their_slots_without_a_herd(suite: Arc<Suite>) -> Result {
    let args = [
        "--activation-check-rate",
        "2",
        "--activation-check-first",
        "1s",
        "--activation-check-max",
        "1h",
        "--send-rate",
        "50",
        "--send-burst",
        "50",
    ];
    let world = World::new(&suite, "check-herd", &args).await?;
    let fleet = world.fleet("herd", 30).await?;
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(30))
        .await?;
    let checked = || async {
        let mut checked = Vec::new();
        for (name, _) in &fleet {
            checked.push(world.status(name).await?.activation_checks);
        }
        Result::<Vec<u32>>::Ok(checked)
    };
    let at_ready = checked().await?;
    let reconciles = world
        .operator
        .metric("ssmcontacts_reconciles_total")
        .await?;
    eventually(
        "every channel checked once more",
        Duration::from_secs(60),
        || async {
            let now = checked().await?;
            Ok(now
                .iter()
                .zip(&at_ready)
                .all(|(now, then)| now > then)
                .then_some(now))
        },
    )
    .await?;
    let reconciles = world
        .operator
        .metric("ssmcontacts_reconciles_total")
        .await?
        - reconciles;
    assert!(
        reconciles <= 5.0 * fleet.len() as f64,
        "{reconciles} reconciles for one check of {} objects: waiting objects came back as a herd",
        fleet.len()
    );
    world.assert_one_code_each(&fleet).await?;
    Ok(())
}

/// GetContactChannel denied: an Event says so, and the code is sent as usual.
async fn denied_read_still_sends(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "denied-read", &[]).await?;
    world
        .inject(FaultSpec::error(
            "GetContactChannel",
            FaultKind::AccessDeniedException,
        ))
        .await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    let note = eventually(
        "the AccessDenied Event",
        Duration::from_secs(30),
        || async {
            Ok(world
                .events("pager")
                .await?
                .into_iter()
                .find(|(reason, note)| {
                    reason == "AccessDenied" && note.contains("sending the code as usual")
                }))
        },
    )
    .await?;
    assert!(note.1.contains("GetContactChannel"), "{note:?}");
    assert_eq!(
        world.emulator.admin().sends_for(&world.channel.arn).await?,
        1
    );
    assert!(calls_of(&world, SEND).await? >= 1);
    Ok(())
}
