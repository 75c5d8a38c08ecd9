//! Fleet benchmark: applies many ContactChannelActivations at once against an emulator whose
//! quota throttles, and prints how the operator copes: time until every object is Ready,
//! calls, throttles, the adaptive send rate, and the operator's memory. It also checks the
//! exactly-once outcome (one accepted send per object) and exits non-zero if it broke.
//!
//! In the same run, unless BENCH_BASELINES=0 (or =adaptive, the second alone), two baselines send to as many fresh channels
//! under the same quota, straight to the emulator: the naive policy (SDK standard retries,
//! no global limiter, per-object exponential backoff) and a botocore script in adaptive
//! retry mode with a thread pool (`benches/adaptive_baseline.py`). BENCH_IDLE_SAMPLES objects
//! (20) are first applied one at a time on the idle operator for apply-to-CodeSent latency.
//!
//! `cargo bench --bench fleet` (BENCH_OBJECTS, BENCH_QUOTA_RPS to change the load;
//! BENCH_SEND_RATE and BENCH_SEND_BURST set the operator's ceiling, 10 and 10 by default,
//! so that a ceiling above the quota measures how the limiter finds a quota it does not
//! know; BENCH_QUOTA_BURST sets the quota's bucket, Q by default).
//!
//! BENCH_MAX_FIELDS=1 gives every object the longest fields the CRD admits (a 2,048-character
//! channel ARN, a 2,048-character spec.roleArn, assumed through the emulator's STS, a
//! 253-character resendToken), to measure the operator's memory per object at its worst.
//!
//! BENCH_SLOW_REGION_RPS=R adds a second quota scope: BENCH_SLOW_OBJECTS (100) objects in
//! us-west-2, whose own quota admits R calls a second (burst 1), applied just before the
//! fleet in us-east-1; the fleet's time is then taken from the emulator's accepted calls on
//! its own channels, against its own N/Q.

#[path = "baselines.rs"]
mod baselines;
#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::ListParams;
use kube::runtime::wait::await_condition;
use ssm_contacts_emulator::faults::Quota;
use ssm_contacts_operator::api::conditions;
use ssm_contacts_operator::api::resource::ContactChannelActivation;
use support::{Result, Suite, World};

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User plus system CPU time of the process so far, in seconds (Linux clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> Result {
    let load = Load {
        objects: env_number("BENCH_OBJECTS", 300),
        quota_rps: env_number("BENCH_QUOTA_RPS", 20),
        send_rate: env_number("BENCH_SEND_RATE", 10),
        send_burst: env_number("BENCH_SEND_BURST", 10),
        quota_burst: std::env::var("BENCH_QUOTA_BURST")
            .ok()
            .and_then(|v| v.parse().ok()),
        slow_region_rps: std::env::var("BENCH_SLOW_REGION_RPS")
            .ok()
            .and_then(|v| v.parse().ok()),
        slow_objects: env_number("BENCH_SLOW_OBJECTS", 100),
        max_fields: std::env::var("BENCH_MAX_FIELDS").as_deref() == Ok("1"),
    };
    let control_plane = testenv::ControlPlane::start().await?;
    let result = run(&control_plane, &load).await;
    control_plane.stop().await?;
    result
}

struct Load {
    objects: u32,
    quota_rps: u32,
    send_rate: u32,
    send_burst: u32,
    /// The quota's bucket; unset: as large as the quota's rate (Q calls at once).
    quota_burst: Option<u32>,
    /// A second, throttled scope: its quota in calls a second, and its objects.
    slow_region_rps: Option<f64>,
    slow_objects: u32,
    max_fields: bool,
}

async fn run(control_plane: &testenv::ControlPlane, load: &Load) -> Result {
    let &Load {
        objects,
        quota_rps,
        send_rate,
        send_burst,
        quota_burst,
        slow_region_rps,
        slow_objects,
        max_fields,
    } = load;
    let quota_burst = quota_burst.unwrap_or(quota_rps).max(1);
    let suite = Suite::install(control_plane).await?;
    let (rate, burst) = (send_rate.to_string(), send_burst.to_string());
    let mut args = vec![
        "--concurrency",
        "32",
        "--send-rate",
        &rate,
        "--send-burst",
        &burst,
    ];
    if max_fields {
        args.extend(["--allowed-role-arns", "arn:aws:iam::123456789012:role/*"]);
    }
    let world = World::new(&suite, "bench", &args).await?;
    world
        .emulator
        .admin()
        .set_quota(&Quota {
            rate_per_second: f64::from(quota_rps),
            burst: quota_burst,
            retry_after_seconds: Some(1),
            region: None,
        })
        .await?;
    let idle = idle_latencies(&world, env_number("BENCH_IDLE_SAMPLES", 20)).await?;
    let idle_rss = world
        .operator
        .pid()
        .and_then(|pid| proc_status_kib(pid, "VmRSS:"));
    let idle_cpu = world.operator.pid().and_then(cpu_seconds).unwrap_or(0.0);
    // The emulator runs inside this process: its growth over the run bounds the emulator's
    // cost of N channels and their calls.
    let bench_rss_before = proc_status_kib(std::process::id(), "VmRSS:");

    // A channel each, as a fleet has: the per-channel cooldown and hourly cap never hold a
    // send here, so what is measured is the global rate against the quota.
    let role = max_fields.then(long_role_arn);
    if let Some(role) = &role {
        world.emulator.admin().add_role(role).await?;
    }
    let arns: Vec<String> = futures::stream::iter(0..objects)
        .map(|i| {
            let world = &world;
            async move {
                let name = format!("channel-{i:05}");
                if max_fields {
                    seed_long(world, &name).await
                } else {
                    world.seed(&name).await
                }
            }
        })
        .buffered(16)
        .try_collect()
        .await?;
    let spec_for = |arn: &str| {
        let mut spec = World::spec_for(arn);
        if let Some(role) = &role {
            spec.role_arn = Some(role.clone());
            spec.resend_token = Some("t".repeat(253));
        }
        spec
    };
    if let Some(rps) = slow_region_rps {
        apply_slow_scope(&world, rps, slow_objects).await?;
    }
    let client = world.api.clone().into_client();
    let requests_before = apiserver_requests(&client).await?;
    let writes_before = world
        .operator
        .metric_where("ssmcontacts_status_writes_total", "result=\"ok\"")
        .await?;
    let started = Instant::now();
    futures::stream::iter(arns.iter().enumerate())
        .map(|(i, arn)| {
            let (world, name) = (&world, format!("channel-{i:05}"));
            let spec = spec_for(arn);
            async move { world.create(&name, spec).await }
        })
        .buffer_unordered(16)
        .collect_unit()
        .await?;
    let created = started.elapsed();
    // Progress from the operator's own gauge: listing every object four times a second
    // would load the API server more than the operator does, and measure the lister.
    let fleet_arns: std::collections::HashSet<&String> = arns.iter().collect();
    loop {
        let sent = if slow_region_rps.is_some() {
            let sends = world.emulator.admin().sends_per_channel().await?;
            fleet_arns
                .iter()
                .filter(|arn| sends.get(**arn).is_some_and(|n| *n > 0))
                .count() as f64
        } else {
            world
                .operator
                .metric_where("ssmcontacts_objects", "reason=\"Sent\"")
                .await?
        };
        if sent >= f64::from(objects) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!("only {sent}/{objects} Sent after 30 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = started.elapsed();
    // The operator's requests: all on these objects and on Events, less the bench's creates.
    let requests = apiserver_requests(&client).await? - requests_before - f64::from(objects);
    let list = world.api.list(&ListParams::default()).await?;
    let ready = list
        .items
        .iter()
        .filter(|o| {
            o.metadata
                .name
                .as_deref()
                .is_some_and(|name| name.starts_with("channel-"))
        })
        .filter(|o| {
            o.status
                .as_ref()
                .and_then(|s| conditions::find(&s.conditions, "Ready"))
                .is_some_and(|c| c.status == "True")
        })
        .count();
    if ready != objects as usize {
        return Err(format!("the gauge says all Sent, but {ready}/{objects} are Ready").into());
    }

    // The fleet's calls only, not those of the idle samples.
    let fleet: std::collections::HashSet<&String> = arns.iter().collect();
    let journal: Vec<_> = world
        .emulator
        .admin()
        .journal()
        .await?
        .into_iter()
        .filter(|e| {
            e.channel_arn
                .as_ref()
                .is_some_and(|arn| fleet.contains(arn))
        })
        .collect();
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        // Calls per second by operation and outcome, to see where the time goes.
        let first = journal.first().map(|e| e.time.as_second()).unwrap_or(0);
        let mut timeline = std::collections::BTreeMap::<(i64, String), u32>::new();
        for entry in &journal {
            let key = (
                entry.time.as_second() - first,
                format!("{}:{}", entry.operation, entry.outcome),
            );
            *timeline.entry(key).or_default() += 1;
        }
        for ((second, what), count) in timeline {
            eprintln!("  t+{second:>4}s {what:<40} {count}");
        }
        let log = std::fs::read_to_string(&world.operator.log).unwrap_or_default();
        for line in log.lines().filter(|l| l.contains("send rate lowered")) {
            eprintln!("  {line}");
        }
    }
    let calls = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode")
        .count();
    let accepted = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode" && e.outcome == "ok")
        .count();
    // Besides the skipIfActivated read before each send: the activation checks that follow
    // a sent code (each recorded in status: activationChecks, lastActivationCheckTime).
    let reads = journal
        .iter()
        .filter(|e| e.operation == "GetContactChannel")
        .count();
    let throttled = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode" && e.outcome == "ThrottlingException")
        .count();
    let pid = world.operator.pid();
    let peak_rss = pid.and_then(|pid| proc_status_kib(pid, "VmHWM:"));
    let end_rss = pid.and_then(|pid| proc_status_kib(pid, "VmRSS:"));
    let rate = world
        .operator
        .metric("ssmcontacts_send_rate_per_second")
        .await?;
    let writes = world
        .operator
        .metric_where("ssmcontacts_status_writes_total", "result=\"ok\"")
        .await?
        - writes_before;
    let cpu = pid.and_then(cpu_seconds).unwrap_or(0.0) - idle_cpu;
    let seconds = all_ready.as_secs_f64();
    let ideal = f64::from(objects) / f64::from(quota_rps);

    println!(
        "fleet benchmark: {objects} objects, emulator quota {quota_rps}/s (burst {quota_burst}), operator pacing {send_rate}/s burst {send_burst}"
    );
    println!(
        "  idle apply -> CodeSent      {:>8.1} ms p50, {:.1} ms p99 ({} objects one at a time)",
        percentile(&idle, 0.50),
        percentile(&idle, 0.99),
        idle.len()
    );
    println!(
        "  objects created in          {:>8.2} s",
        created.as_secs_f64()
    );
    println!(
        "  all Ready after             {seconds:>8.2} s  ({:.1} objects/s)",
        f64::from(objects) / seconds
    );
    println!(
        "  vs the ideal N/Q            {:>8.2} x  ({ideal:.1} s)",
        seconds / ideal
    );
    println!("  SendActivationCode calls    {calls:>8}");
    println!("  accepted (codes sent)       {accepted:>8}");
    println!(
        "  throttled by the quota      {throttled:>8}  ({:.2}% of calls)",
        100.0 * throttled as f64 / calls.max(1) as f64
    );
    println!(
        "  status writes per object    {:>8.2}  (2 per send; activation checks after it add one each)",
        writes / f64::from(objects)
    );
    println!(
        "  GetContactChannel calls     {reads:>8}  (one before each send, then the activation checks)"
    );
    println!(
        "  API requests per object     {:>8.2}  (objects and Events, from the API server's metrics)",
        requests / f64::from(objects)
    );
    println!("  operator CPU during the run {cpu:>8.2} s");
    println!("  send rate at the end        {rate:>8.2} /s");
    println!(
        "  operator RSS idle / peak    {:>8} / {} KiB ({} KiB when all were sent)",
        idle_rss.unwrap_or(0),
        peak_rss.unwrap_or(0),
        end_rss.unwrap_or(0)
    );
    println!(
        "  bench process RSS           {:>8} -> {} KiB (the emulator and this client, before and after the fleet)",
        bench_rss_before.unwrap_or(0),
        proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0)
    );
    let baselines = std::env::var("BENCH_BASELINES").unwrap_or_default();
    if baselines != "0" {
        let endpoint = world.emulator.endpoint_url();
        let fresh = |prefix: &'static str| {
            let world = &world;
            futures::stream::iter(0..objects)
                .map(move |i| async move { world.seed(&format!("{prefix}-{i:05}")).await })
                .buffered(16)
                .try_collect::<Vec<String>>()
        };
        let mut runs = Vec::new();
        // BENCH_BASELINES=adaptive runs the adaptive script alone.
        if baselines != "adaptive" {
            runs.push(baselines::naive(&endpoint, &fresh("naive").await?).await?);
        }
        runs.push(baselines::adaptive_script(&endpoint, &fresh("script").await?).await?);
        for run in &runs {
            println!("  {run}");
            println!(
                "    vs N/Q {:.2} x; the operator was {:.2} x as fast",
                run.seconds / ideal,
                run.seconds / seconds
            );
        }
    }
    if accepted != objects as usize {
        return Err(format!(
            "exactly-once broken: {accepted} accepted sends for {objects} objects"
        )
        .into());
    }
    Ok(())
}

/// A role ARN of 2,048 characters: a long path of 60-character parts, a short name.
fn long_role_arn() -> String {
    let mut arn = "arn:aws:iam::123456789012:role/".to_owned();
    while arn.len() + 61 <= 2048 - "/ssm-contacts".len() {
        arn.push_str(&"p".repeat(60));
        arn.push('/');
    }
    let fill = 2048 - "ssm-contacts".len() - arn.len();
    arn.push_str(&"q".repeat(fill.saturating_sub(1)));
    arn.push_str("/ssm-contacts");
    arn
}

/// A channel whose ARN is 2,048 characters long (the longest the CRD admits).
async fn seed_long(world: &World, name: &str) -> Result<String> {
    let prefix = format!("arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/{name}/");
    let arn = format!("{prefix}{}", "x".repeat(2048 - prefix.len()));
    world
        .emulator
        .admin()
        .seed_channel(&ssm_contacts_emulator::state::SeedChannel {
            arn: Some(arn.clone()),
            name: name.to_owned(),
            ..Default::default()
        })
        .await?;
    Ok(arn)
}

/// The second scope: `count` objects in us-west-2, whose own quota admits `rps` calls a second
/// with a burst of 1, applied before the fleet so that they wait in their line throughout.
async fn apply_slow_scope(world: &World, rps: f64, count: u32) -> Result {
    let admin = world.emulator.admin();
    admin
        .set_quota(&Quota {
            rate_per_second: rps,
            burst: 1,
            retry_after_seconds: Some(1),
            region: Some("us-west-2".to_owned()),
        })
        .await?;
    for i in 0..count {
        let name = format!("slow-{i:05}");
        let arn = support::channel_arn("us-west-2", &name);
        admin
            .seed_channel(&ssm_contacts_emulator::state::SeedChannel {
                arn: Some(arn.clone()),
                name: name.clone(),
                ..Default::default()
            })
            .await?;
        world.create(&name, World::spec_for(&arn)).await?;
    }
    println!("  second scope: {count} objects in us-west-2 under a quota of {rps}/s (burst 1)");
    Ok(())
}

/// Milliseconds from each create to its CodeSent=True, one object at a time on an idle
/// operator (each with a channel of its own).
async fn idle_latencies(world: &World, samples: u32) -> Result<Vec<f64>> {
    let mut latencies = Vec::new();
    // One more than asked: the first object after start-up waits for the operator's caches.
    for i in 0..=samples {
        let name = format!("idle-{i:03}");
        let arn = world.seed(&name).await?;
        let started = Instant::now();
        world.create(&name, World::spec_for(&arn)).await?;
        let sent = await_condition(
            world.api.clone(),
            &name,
            |object: Option<&ContactChannelActivation>| {
                object
                    .and_then(|o| o.status.as_ref())
                    .and_then(|s| conditions::find(&s.conditions, conditions::CODE_SENT))
                    .is_some_and(|c| c.status == "True")
            },
        );
        tokio::time::timeout(Duration::from_secs(30), sent).await??;
        if i > 0 {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        world.api.delete(&name, &Default::default()).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Requests the API server has served on ContactChannelActivations and Events, all verbs.
async fn apiserver_requests(client: &kube::Client) -> Result<f64> {
    let request = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter(|line| {
            line.contains("resource=\"contactchannelactivations\"")
                || line.contains("resource=\"events\"")
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum())
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], share: f64) -> f64 {
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied().unwrap_or(0.0)
}

trait CollectUnit: TryStreamExt + Sized {
    async fn collect_unit(self) -> std::result::Result<(), Self::Error> {
        self.try_for_each(|_| async { Ok(()) }).await
    }
}
impl<S: TryStreamExt + Sized> CollectUnit for S {}
