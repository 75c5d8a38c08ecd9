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
        scenario!(a_throttled_region_does_not_slow_another),
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
            region: None,
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

/// Two quota scopes: us-east-1 with a quota of 1 call a second, us-west-2 with none. The
/// throttles in us-east-1 lower only its own rate: us-west-2's 30 objects are never throttled,
/// its rate stays at the ceiling, and every object of both gets its one code.
async fn a_throttled_region_does_not_slow_another(suite: Arc<Suite>) -> Result {
    let world = World::new(
        &suite,
        "scopes",
        &["--send-rate", "10", "--send-burst", "10"],
    )
    .await?;
    let admin = world.emulator.admin();
    admin
        .set_quota(&Quota {
            rate_per_second: 1.0,
            burst: 1,
            retry_after_seconds: Some(1),
            region: Some("us-east-1".to_owned()),
        })
        .await?;
    let mut east = Vec::new();
    let mut west = Vec::new();
    for (region, count, fleet) in [("us-east-1", 10, &mut east), ("us-west-2", 30, &mut west)] {
        for i in 0..count {
            let name = format!("{region}-{i:02}");
            let arn = world.seed_in(region, &name).await?;
            fleet.push((name, arn));
        }
    }
    for (name, arn) in east.iter().chain(&west) {
        world.create(name, World::spec_for(arn)).await?;
    }
    world
        .wait_fleet_ready(&west, Duration::from_secs(60))
        .await?;
    let west_throttled = world
        .send_calls()
        .await?
        .iter()
        .filter(|e| e.outcome == "ThrottlingException")
        .filter(|e| {
            e.channel_arn
                .as_deref()
                .is_some_and(|arn| arn.contains(":us-west-2:"))
        })
        .count();
    assert_eq!(west_throttled, 0, "us-west-2 has no quota here");
    world
        .wait_fleet_ready(&east, Duration::from_secs(90))
        .await?;
    // Each scope's search is its own: us-east-1's found a throttled rate, us-west-2's none.
    let scope = |region: &str| format!("account=\"self\",region=\"{region}\"");
    let throttled_at = |region: &'static str| {
        let labels = scope(region);
        let operator = &world.operator;
        async move {
            operator
                .metric_where("ssmcontacts_send_rate_throttled_per_second", &labels)
                .await
        }
    };
    assert!(
        throttled_at("us-east-1").await? > 0.0,
        "no throttled rate for us-east-1"
    );
    assert_eq!(
        throttled_at("us-west-2").await?,
        0.0,
        "us-west-2's search saw a throttle"
    );
    let west_rate = world
        .operator
        .metric_where("ssmcontacts_send_rate_per_second", &scope("us-west-2"))
        .await?;
    assert!(west_rate > 0.0, "no rate for us-west-2");
    let (accepted, _) = tally(&world).await?;
    for (name, arn) in east.iter().chain(&west) {
        assert_eq!(accepted.get(arn), Some(&1), "{name}: {accepted:?}");
    }
    Ok(())
}
