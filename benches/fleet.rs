//! Fleet benchmark: applies many ContactChannelActivations at once against an emulator whose
//! quota throttles, and prints how the operator copes: time until every object is Ready,
//! calls, throttles, the adaptive send rate, and the operator's memory. It also checks the
//! exactly-once outcome (one accepted send per object) and exits non-zero if it broke.
//!
//! `cargo bench --bench fleet` (BENCH_OBJECTS, BENCH_QUOTA_RPS to change the load;
//! BENCH_SEND_RATE and BENCH_SEND_BURST set the operator's ceiling, 10 and 10 by default,
//! so that a ceiling above the quota measures how the limiter finds a quota it does not
//! know).

#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::ListParams;
use ssm_contacts_emulator::faults::Quota;
use ssm_contacts_operator::conditions;
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
}

async fn run(control_plane: &testenv::ControlPlane, load: &Load) -> Result {
    let &Load {
        objects,
        quota_rps,
        send_rate,
        send_burst,
    } = load;
    let suite = Suite::install(control_plane).await?;
    let (rate, burst) = (send_rate.to_string(), send_burst.to_string());
    let args = [
        "--concurrency",
        "32",
        "--send-rate",
        &rate,
        "--send-burst",
        &burst,
    ];
    let world = World::new(&suite, "bench", &args).await?;
    world
        .emulator
        .admin()
        .set_quota(&Quota {
            rate_per_second: f64::from(quota_rps),
            burst: quota_rps,
            retry_after_seconds: Some(1),
        })
        .await?;
    let idle_rss = world
        .operator
        .pid()
        .and_then(|pid| proc_status_kib(pid, "VmRSS:"));
    let idle_cpu = world.operator.pid().and_then(cpu_seconds).unwrap_or(0.0);

    // A channel each, as a fleet has: the per-channel cooldown and hourly cap never hold a
    // send here, so what is measured is the global rate against the quota.
    let arns: Vec<String> = futures::stream::iter(0..objects)
        .map(|i| {
            let world = &world;
            async move { world.seed(&format!("channel-{i:05}")).await }
        })
        .buffered(16)
        .try_collect()
        .await?;
    let started = Instant::now();
    futures::stream::iter(arns.iter().enumerate())
        .map(|(i, arn)| {
            let (world, name) = (&world, format!("channel-{i:05}"));
            async move { world.create(&name, World::spec_for(arn)).await }
        })
        .buffer_unordered(16)
        .collect_unit()
        .await?;
    let created = started.elapsed();
    // Progress from the operator's own gauge: listing every object four times a second
    // would load the API server more than the operator does, and measure the lister.
    loop {
        let sent = world
            .operator
            .metric_where("ssmcontacts_objects", "reason=\"Sent\"")
            .await?;
        if sent >= f64::from(objects) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!("only {sent}/{objects} Sent after 30 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = started.elapsed();
    let list = world.api.list(&ListParams::default()).await?;
    let ready = list
        .items
        .iter()
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

    let journal = world.emulator.admin().journal().await?;
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
    }
    let calls = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode")
        .count();
    let accepted = journal
        .iter()
        .filter(|e| e.operation == "SendActivationCode" && e.outcome == "ok")
        .count();
    let throttled = journal
        .iter()
        .filter(|e| e.outcome == "ThrottlingException")
        .count();
    let pid = world.operator.pid();
    let peak_rss = pid.and_then(|pid| proc_status_kib(pid, "VmHWM:"));
    let rate = world
        .operator
        .metric("ssmcontacts_send_rate_per_second")
        .await?;
    let writes = world
        .operator
        .metric_where("ssmcontacts_status_writes_total", "result=\"ok\"")
        .await?;
    let cpu = pid.and_then(cpu_seconds).unwrap_or(0.0) - idle_cpu;
    let seconds = all_ready.as_secs_f64();
    let ideal = f64::from(objects) / f64::from(quota_rps);

    println!(
        "fleet benchmark: {objects} objects, emulator quota {quota_rps}/s (burst {quota_rps}), operator pacing {send_rate}/s burst {send_burst}"
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
        "  status writes per object    {:>8.2}",
        writes / f64::from(objects)
    );
    println!("  operator CPU during the run {cpu:>8.2} s");
    println!("  send rate at the end        {rate:>8.2} /s");
    println!(
        "  operator RSS idle / peak    {:>8} / {} KiB",
        idle_rss.unwrap_or(0),
        peak_rss.unwrap_or(0)
    );
    if accepted != objects as usize {
        return Err(format!(
            "exactly-once broken: {accepted} accepted sends for {objects} objects"
        )
        .into());
    }
    Ok(())
}

trait CollectUnit: TryStreamExt + Sized {
    async fn collect_unit(self) -> std::result::Result<(), Self::Error> {
        self.try_for_each(|_| async { Ok(()) }).await
    }
}
impl<S: TryStreamExt + Sized> CollectUnit for S {}
