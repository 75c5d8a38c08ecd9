//! Fleet benchmark: applies many ContactChannelActivations at once against an emulator whose
//! quota throttles, and prints how the operator copes: time until every object is Ready,
//! calls, throttles, the adaptive send rate, and the operator's memory. It also checks the
//! exactly-once outcome (one accepted send per object) and exits non-zero if it broke.
//!
//! `cargo bench --bench fleet` (BENCH_OBJECTS, BENCH_QUOTA_RPS to change the load).

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

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> Result {
    let objects = env_number("BENCH_OBJECTS", 300);
    let quota_rps = env_number("BENCH_QUOTA_RPS", 20);
    let control_plane = testenv::ControlPlane::start().await?;
    let result = run(&control_plane, objects, quota_rps).await;
    control_plane.stop().await?;
    result
}

async fn run(control_plane: &testenv::ControlPlane, objects: u32, quota_rps: u32) -> Result {
    let suite = Suite::install(control_plane).await?;
    // The operator's default pacing (10/s, burst 10), against a quota that is exceeded by bursts.
    let world = World::new(&suite, "bench", &["--concurrency", "32"]).await?;
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
    loop {
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
        if ready == objects as usize {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(format!("only {ready}/{objects} Ready after 15 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = started.elapsed();

    let journal = world.emulator.admin().journal().await?;
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
    let seconds = all_ready.as_secs_f64();

    println!(
        "fleet benchmark: {objects} objects, emulator quota {quota_rps}/s (burst {quota_rps}), operator pacing 10/s burst 10"
    );
    println!(
        "  objects created in          {:>8.2} s",
        created.as_secs_f64()
    );
    println!(
        "  all Ready after             {seconds:>8.2} s  ({:.1} objects/s)",
        f64::from(objects) / seconds
    );
    println!("  SendActivationCode calls    {calls:>8}");
    println!("  accepted (codes sent)       {accepted:>8}");
    println!("  throttled by the quota      {throttled:>8}");
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
