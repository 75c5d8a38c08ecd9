//! The chaos suite: many objects, the operator SIGKILLed and restarted at random moments
//! (some while calls are in flight), kube-apiserver and etcd restarted, and the emulator
//! answering 5xx, throttling, slowly, or cutting connections at random. At the end it counts,
//! from the emulator's journal, per channel (one object, one generation): lost codes (must be
//! 0) and extra codes, each explained by a cut-off answer or a kill inside the call window;
//! an unexplained extra code fails the run.
//!
//! `cargo test --test chaos` runs the short form (CI). The long form:
//! `CHAOS_OBJECTS=1000 CHAOS_KILLS=100 CHAOS_APISERVER_RESTARTS=3 CHAOS_ETCD_RESTARTS=2 cargo test --test chaos`
//! (also CHAOS_SEED to replay the emulator's draws and the kill timing).

mod report;
#[allow(dead_code)]
#[path = "../integration/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, PostParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ssm_contacts_emulator::RunningEmulator;
use ssm_contacts_emulator::chaos::ChaosSpec;
use ssm_contacts_emulator::journal::JournalFilter;
use ssm_contacts_emulator::state::SeedChannel;
use ssm_contacts_operator::api::conditions;
use ssm_contacts_operator::api::resource::{
    ContactChannelActivation, ContactChannelActivationSpec,
};
use support::{Operator, Result, Suite, channel_arn, eventually};

/// The operator's status-write deadline in these runs (support.rs passes --api-timeout 2s):
/// a kill later than this after an answer cannot have prevented its record.
const RECORD_WINDOW: SignedDuration = SignedDuration::from_secs(3);
/// How soon a reconcile whose outcome write failed is tried again (the error policy's requeue).
const RECORD_RETRY: SignedDuration = SignedDuration::from_secs(5);

struct Plan {
    objects: usize,
    kills: usize,
    apiserver_restarts: usize,
    etcd_restarts: usize,
    seed: u64,
    settle: Duration,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Plan {
    fn from_env() -> Self {
        let clock_seed = Timestamp::now().as_nanosecond().unsigned_abs() as u64;
        Self {
            objects: env_or("CHAOS_OBJECTS", 150),
            kills: env_or("CHAOS_KILLS", 10),
            apiserver_restarts: env_or("CHAOS_APISERVER_RESTARTS", 1),
            etcd_restarts: env_or("CHAOS_ETCD_RESTARTS", 0),
            seed: env_or("CHAOS_SEED", clock_seed),
            settle: Duration::from_secs(env_or("CHAOS_SETTLE_SECONDS", 600)),
        }
    }

    /// Kill numbers after which a restart happens, spread evenly over the run.
    fn restart_points(&self, restarts: usize) -> Vec<usize> {
        (1..=restarts)
            .map(|i| i * self.kills / (restarts + 1))
            .collect()
    }
}

#[derive(Default)]
struct Tally {
    kills: Vec<report::Kill>,
    /// When the API server was down for its restarts.
    outages: Vec<report::Outage>,
    kills_in_window: usize,
    apiserver_restarts: usize,
    etcd_restarts: usize,
}

fn main() -> std::process::ExitCode {
    // `cargo test` passes libtest flags (e.g. --list, filters); this suite has one run.
    if std::env::args().any(|a| a == "--list") {
        println!("chaos: test");
        return std::process::ExitCode::SUCCESS;
    }
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(suite()).map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => {
            println!("chaos: 1 passed, 0 failed");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("chaos run failed: {error}");
            println!("chaos: 0 passed, 1 failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn suite() -> Result {
    report::self_check()?;
    let plan = Plan::from_env();
    println!(
        "chaos: {} objects, {} kills, {} apiserver and {} etcd restarts, seed {}",
        plan.objects, plan.kills, plan.apiserver_restarts, plan.etcd_restarts, plan.seed
    );
    let mut control_plane = testenv::ControlPlane::start().await?;
    let result = run(&mut control_plane, &plan).await;
    if let Err(error) = control_plane.stop().await {
        eprintln!("control plane did not stop cleanly: {error}");
    }
    result
}

async fn run(control_plane: &mut testenv::ControlPlane, plan: &Plan) -> Result {
    let started = Instant::now();
    let suite = Suite::install(control_plane).await?;
    let namespace = testenv::create_namespace(&suite.client, "chaos").await?;
    let emulator = RunningEmulator::start(Default::default()).await?;
    let arns: Vec<String> = (0..plan.objects)
        .map(|i| channel_arn("us-east-1", &format!("chaos-{i}")))
        .collect();
    for (i, arn) in arns.iter().enumerate() {
        emulator.seed_channel(SeedChannel {
            arn: Some(arn.clone()),
            name: format!("chaos-{i}"),
            ..SeedChannel::default()
        })?;
    }
    emulator.start_chaos(
        ChaosSpec::new(plan.seed)
            .internal_error(0.05)
            .throttle(0.05)
            .slow(0.15, 1500)
            .cut_before_processing(0.02)
            .cut_after_processing(0.02)
            .operations(["SendActivationCode"]),
    )?;

    let logs = tempfile::Builder::new()
        .prefix("chaos-logs-")
        .tempdir()?
        .keep();
    println!("chaos: operator logs in {}", logs.display());
    let args = [
        "--send-rate",
        "40",
        "--send-burst",
        "20",
        "--concurrency",
        "32",
    ];
    let mut operator = Operator::launch_as(
        &suite.kubeconfig,
        &namespace,
        &emulator.endpoint_url(),
        &args,
        &logs,
    )?
    .ready()
    .await?;

    let api: Api<ContactChannelActivation> = Api::namespaced(suite.client.clone(), &namespace);
    futures::stream::iter(arns.iter().enumerate())
        .map(|(i, arn)| {
            let api = api.clone();
            async move {
                let object = ContactChannelActivation::new(
                    &format!("chaos-{i}"),
                    ContactChannelActivationSpec {
                        contact_channel_id: arn.clone(),
                        ..Default::default()
                    },
                );
                api.create(&PostParams::default(), &object)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    let tally = storm(control_plane, &mut operator, &api, plan).await?;
    emulator.stop_chaos();

    let ready = settle(&api, plan.settle).await;
    let journal = emulator
        .admin()
        .journal_filtered(&JournalFilter {
            operation: Some("SendActivationCode".into()),
            ..JournalFilter::default()
        })
        .await?;
    let stats = emulator.journal_stats();
    if stats.dropped > 0 {
        return Err(format!(
            "the journal dropped {} entries: counts incomplete",
            stats.dropped
        )
        .into());
    }
    let sent: Vec<report::Sent> = journal
        .iter()
        .filter(|e| e.outcome == "ok")
        .filter_map(|e| {
            Some(report::Sent {
                channel: e.channel_arn.clone()?,
                time: e.time,
                answer_lost: e.connection_dropped,
            })
        })
        .collect();
    let report = report::attribute(
        &ready,
        &sent,
        &tally.kills,
        &tally.outages,
        (RECORD_WINDOW, RECORD_RETRY),
    );

    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &journal {
        *outcomes.entry(entry.outcome.as_str()).or_default() += 1;
    }
    println!("chaos: {} calls by outcome {outcomes:?}", journal.len());
    println!(
        "chaos: {} kills ({} while a call was in flight), {} apiserver and {} etcd restarts",
        tally.kills.len(),
        tally.kills_in_window,
        tally.apiserver_restarts,
        tally.etcd_restarts
    );
    println!(
        "chaos: {} channels, {} lost, {} extra codes: {} after a cut-off answer (OutcomeUnknown, resent by policy), {} after a kill inside the call window, {} unexplained",
        report.channels,
        report.lost.len(),
        report.duplicates.len(),
        report.count(|w| *w == report::Explained::AnswerLost),
        report.count(|w| matches!(w, report::Explained::Kill(_))),
        report.unexplained()
    );
    for (channel, why) in &report.duplicates {
        println!("chaos:   extra code for {channel}: {why:?}");
    }
    println!("chaos: finished in {:.1}s", started.elapsed().as_secs_f64());
    if !operator.is_running() {
        return Err(format!(
            "the operator died on its own; log:\n{}",
            operator.log_tail()
        )
        .into());
    }
    if !report.lost.is_empty() || report.unexplained() > 0 {
        return Err(format!(
            "guarantee broken: lost {:?}, unexplained extra codes {}",
            report.lost,
            report.unexplained()
        )
        .into());
    }
    Ok(())
}

/// SIGKILLs and restarts the operator `plan.kills` times at random moments, every third one
/// timed while some call is in flight, with control-plane restarts (under the running
/// operator) spread in between.
async fn storm(
    control_plane: &mut testenv::ControlPlane,
    operator: &mut Operator,
    api: &Api<ContactChannelActivation>,
    plan: &Plan,
) -> Result<Tally> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let apiserver_points = plan.restart_points(plan.apiserver_restarts);
    let etcd_points = plan.restart_points(plan.etcd_restarts);
    let mut tally = Tally::default();
    for number in 1..=plan.kills {
        // The operator lives through these: its watches and writes must recover by themselves.
        if apiserver_points.contains(&number) {
            let start = Timestamp::now();
            control_plane.restart_apiserver().await?;
            tally.outages.push(report::Outage::since(start));
            tally.apiserver_restarts += 1;
        }
        if etcd_points.contains(&number) {
            let start = Timestamp::now();
            control_plane.restart_etcd().await?;
            tally.outages.push(report::Outage::since(start));
            tally.etcd_restarts += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2000))).await;
        if number % 3 == 0 && wait_for_a_call_in_flight(api).await {
            tally.kills_in_window += 1;
        }
        tally.kills.push(report::Kill {
            number,
            time: Timestamp::now(),
        });
        // SIGKILL, then a new process (a new instance identity) at once.
        operator.restart().await?;
    }
    Ok(tally)
}

/// Waits (briefly) until some object's status shows a call between its intent and its record.
async fn wait_for_a_call_in_flight(api: &Api<ContactChannelActivation>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(list) = api.list(&ListParams::default()).await
            && list.items.iter().any(|o| {
                o.status
                    .as_ref()
                    .is_some_and(|s| s.send_in_flight.is_some())
            })
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Waits until every object is Ready with its generation sent, or `limit` passes; returns,
/// per channel, whether its object got there.
async fn settle(api: &Api<ContactChannelActivation>, limit: Duration) -> BTreeMap<String, bool> {
    let done = |o: &ContactChannelActivation| {
        o.status.as_ref().is_some_and(|s| {
            s.sent_generation == o.metadata.generation
                && conditions::find(&s.conditions, conditions::READY)
                    .is_some_and(|c| c.status == "True")
        })
    };
    let _ = eventually("every object Ready", limit, || async {
        let list = api.list(&ListParams::default()).await?;
        Ok(list.items.iter().all(done).then_some(()))
    })
    .await;
    api.list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .map(|o| (o.spec.contact_channel_id.clone(), done(o)))
                .collect()
        })
        .unwrap_or_default()
}
