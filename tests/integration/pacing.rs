//! The global send rate: objects waiting for it are woken in turn, and a quota the operator
//! does not know brings the rate down without losing or doubling a code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ssm_contacts_emulator::faults::Quota;

use crate::Scenario;
use crate::support::{Result, Suite, World};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(waiting_objects_are_woken_at_the_global_rate),
        scenario!(unknown_quota_lowers_the_rate_and_loses_no_code),
    ]
}

/// Accepted sends per channel, and throttled calls, from the emulator's journal.
async fn tally(world: &World) -> Result<(HashMap<String, usize>, usize)> {
    let mut accepted = HashMap::new();
    let mut throttled = 0;
    for entry in world.send_calls().await? {
        match entry.outcome.as_str() {
            "ok" => {
                *accepted
                    .entry(entry.channel_arn.unwrap_or_default())
                    .or_default() += 1
            }
            "ThrottlingException" => throttled += 1,
            _ => {}
        }
    }
    Ok((accepted, throttled))
}

/// With a ceiling of 4 sends a second and a burst of 1, eight objects wait in line. Each is
/// woken when its turn is granted: all are sent well before the fallback requeue (10 s and
/// more) would have brought them, the calls never outrun the ceiling, and the line is empty
/// at the end.
async fn waiting_objects_are_woken_at_the_global_rate(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "line", &["--send-rate", "4", "--send-burst", "1"]).await?;
    let fleet = world.fleet("queued", 8).await?;
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(9))
        .await?;
    let journal = world.send_calls().await?;
    assert_eq!(journal.len(), 8, "{journal:?}");
    let (first, last) = (&journal[0], &journal[7]);
    // Seven intervals at 4 a second at the very least.
    assert!(
        last.time.duration_since(first.time) >= jiff::SignedDuration::from_millis(1750),
        "the ceiling was outrun: {journal:?}"
    );
    assert_eq!(
        world
            .operator
            .metric("ssmcontacts_send_queue_depth")
            .await?,
        0.0
    );
    Ok(())
}

/// A quota of 2 calls a second under a ceiling of 20: the operator is throttled, lowers its
/// rate (visible in the search's metrics), and every object still gets exactly one code.
async fn unknown_quota_lowers_the_rate_and_loses_no_code(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "quota", &["--send-rate", "20", "--send-burst", "2"]).await?;
    world
        .emulator
        .admin()
        .set_quota(&Quota {
            rate_per_second: 2.0,
            burst: 2,
            retry_after_seconds: Some(1),
        })
        .await?;
    let fleet = world.fleet("quota", 12).await?;
    world
        .wait_fleet_ready(&fleet, Duration::from_secs(60))
        .await?;
    let (accepted, throttled) = tally(&world).await?;
    for (_, arn) in &fleet {
        assert_eq!(accepted.get(arn), Some(&1), "{arn}: {accepted:?}");
    }
    assert!(throttled > 0, "a quota of 2/s under 20/s throttles");
    let rate = world
        .operator
        .metric("ssmcontacts_send_rate_per_second")
        .await?;
    assert!(rate < 20.0, "the rate stayed at the ceiling: {rate}");
    let lowest_throttled = world
        .operator
        .metric("ssmcontacts_send_rate_throttled_per_second")
        .await?;
    assert!(lowest_throttled > 0.0, "no throttled rate in the metrics");
    Ok(())
}
