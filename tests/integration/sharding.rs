//! Sharding: operators with complementary `--selector`s split the objects of a namespace,
//! each object handled by exactly one of them.

use std::sync::Arc;

use kube::api::PostParams;
use ssm_contacts_operator::api::resource::ContactChannelActivation;

use crate::Scenario;
use crate::support::{Result, Suite, World};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![scenario!(complementary_selectors_split_the_objects)]
}

/// Two operators, `shard=a` and `shard notin (a)`: every object gets its one code, each
/// from the operator whose selector matches it, and neither touches the other's objects.
async fn complementary_selectors_split_the_objects(suite: Arc<Suite>) -> Result {
    let world = World::new(&suite, "shards", &["--selector", "shard=a"]).await?;
    let other = world
        .another_operator(&["--selector", "shard notin (a)"])
        .await?;
    let objects = [
        ("a-1", Some("a")),
        ("a-2", Some("a")),
        ("b-1", Some("b")),
        ("none-1", None),
        ("none-2", None),
    ];
    for (name, shard) in objects {
        let arn = world.seed(name).await?;
        let mut object = ContactChannelActivation::new(name, World::spec_for(&arn));
        object.metadata.labels = shard.map(|shard| [("shard".to_owned(), shard.to_owned())].into());
        world.api.create(&PostParams::default(), &object).await?;
    }
    for (name, _) in objects {
        world.wait_sent(name).await?;
    }
    let sent = "outcome=\"Sent\"";
    let first = world
        .operator
        .metric_where("ssmcontacts_sends_total", sent)
        .await?;
    let second = other.metric_where("ssmcontacts_sends_total", sent).await?;
    assert_eq!(
        (first, second),
        (2.0, 3.0),
        "sends by shard a and by the rest"
    );
    let codes = world.emulator.admin().sends_per_channel().await?;
    assert_eq!(codes.len(), objects.len(), "{codes:?}");
    assert!(codes.values().all(|count| *count == 1), "{codes:?}");
    // Each shard watches only its own objects.
    assert_eq!(
        world.operator.metric("ssmcontacts_objects").await?
            + other.metric("ssmcontacts_objects").await?,
        5.0
    );
    Ok(())
}
