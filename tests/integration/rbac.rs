//! The chart's RBAC as a real install has it: the operator runs with a token of the chart's
//! ServiceAccount. Its Roles are enough for the whole job, every single verb in them is
//! needed, and watches that RBAC stops fail readiness until they recover.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use ssm_contacts_emulator::faults::{FaultKind, FaultSpec};
use ssm_contacts_operator::reconcile::records;

use crate::Scenario;
use ssm_contacts_operator::api::resource::{CodeSecretRef, ContactChannelActivationSpec};

use crate::support::{
    Chart, Grant, LEADER_ARGS, Operator, RELEASE, Result, SEND, Suite, TEST_RUST_LOG, World,
    eventually,
};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(chart_rbac_is_enough),
        scenario!(chart_rbac_each_verb_is_needed),
        scenario!(failing_watches_fail_readiness_until_they_recover),
        scenario!(chart_without_code_secrets_grants_and_needs_no_secret),
    ]
}

/// How long a probe waits for the failure a missing verb causes.
const PROBE_DEADLINE: Duration = Duration::from_secs(20);

/// An outcome write that conflicts (a label edit while the call is held), so the operator
/// must re-read the object (`get`).
async fn conflicting_outcome(world: &World, name: &str) -> Result {
    let fault = world.hold_sends(2_000).await?;
    world.create(name, world.spec()).await?;
    world.wait_call_held(name, fault, 1).await?;
    world.relabel(name).await?;
    world.emulator.admin().remove_fault(fault).await?;
    Ok(())
}

/// The same failure twice on one object: the second Event repeats the first (a series, which
/// is an Event `patch`).
async fn repeated_failure(world: &World, name: &str) -> Result {
    let arn = world.seed(name).await?;
    world
        .inject(
            FaultSpec::error(SEND, FaultKind::InternalServerException)
                .for_channel(&arn)
                .times(2),
        )
        .await?;
    world.create(name, World::spec_for(&arn)).await?;
    Ok(())
}

/// The chart's ServiceAccount is enough for the whole job, without one "forbidden", and writes no Secrets.
async fn chart_rbac_is_enough(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "rbac").await?;
    let chart = Chart::install(&suite, &world, false).await?;
    // Secrets are read (activation codes), never written.
    for verb in ["create", "update", "patch", "delete"] {
        assert!(
            !chart.may(&suite, verb, "secrets")?,
            "the chart's ServiceAccount must not {verb} secrets"
        );
    }
    world.operator = Operator::launch_as(
        &chart.kubeconfig,
        &world.namespace,
        &world.emulator.endpoint_url(),
        &LEADER_ARGS,
        world.log_dir(),
    )?
    .ready()
    .await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    world.wait_event("pager", "Sent").await?;
    assert_eq!(world.operator.metric("ssmcontacts_leader").await?, 1.0);
    conflicting_outcome(&world, "conflict").await?;
    repeated_failure(&world, "repeated").await?;
    world.wait_sent("conflict").await?;
    world.wait_sent("repeated").await?;
    let log = world.operator.log_text();
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");
    Ok(())
}

/// Every verb of the chart's Roles is needed: without any one, its work fails visibly ("cannot <verb>").
async fn chart_rbac_each_verb_is_needed(suite: Arc<Suite>) -> Result {
    let world = World::stopped(&suite, "rbac-verbs").await?;
    let chart = Chart::install(&suite, &world, false).await?;
    let grants = chart.grants()?;
    let mut failures = Vec::new();
    for (index, grant) in grants.iter().enumerate() {
        chart.revoke(std::slice::from_ref(grant)).await?;
        let dir = world.log_dir().join(format!("probe-{index}"));
        std::fs::create_dir_all(&dir)?;
        let args: &[&str] = if grant.resource == "leases" {
            &LEADER_ARGS
        } else {
            &[]
        };
        let mut operator = chart.launch(&world, args, &dir)?;
        let result = probe(&world, grant, &mut operator, &format!("probe-{index}")).await;
        operator.crash().await?;
        if let Err(error) = result {
            failures.push(format!("without {grant}: {error}"));
        }
    }
    chart.restore().await?;
    let probed: Vec<String> = grants.iter().map(ToString::to_string).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "probed {probed:?}\nnot needed, or not noticed:\n{}",
            failures.join("\n\n")
        )
        .into())
    }
}

/// Exercises what `grant` is for, with an operator that lacks it, and waits for the failure.
async fn probe(world: &World, grant: &Grant, operator: &mut Operator, name: &str) -> Result {
    let denied = grant.denial();
    match (grant.resource.as_str(), grant.verb.as_str()) {
        (
            "contactchannelactivations" | "secrets" | "namespaces" | "configmaps",
            "list" | "watch",
        ) => {
            // A watch opened in the moment before the API server's RBAC cache saw the revoke
            // stays open for minutes; a new process asks again.
            if operator.wait_log(&denied, PROBE_DEADLINE).await.is_err() {
                operator.restart().await?;
                operator.wait_log(&denied, PROBE_DEADLINE).await?;
            }
            eventually("a watch error counted", PROBE_DEADLINE, || async {
                let errors = operator.metric("ssmcontacts_watch_errors_total").await?;
                Ok((errors > 0.0).then_some(()))
            })
            .await
        }
        ("contactchannelactivations", "get") => {
            operator.wait_ready().await?;
            conflicting_outcome(world, name).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await
        }
        ("contactchannelactivations/status", "update") => {
            operator.wait_ready().await?;
            let calls = world.calls().await?;
            world.create(name, world.spec()).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await?;
            let status = world.api.get(name).await?.status;
            assert!(status.is_none(), "a status was written: {status:?}");
            assert_eq!(
                world.calls().await?,
                calls,
                "an AWS call with no recorded intent"
            );
            Ok(())
        }
        ("secrets", "get") => {
            operator.wait_ready().await?;
            let spec = ContactChannelActivationSpec {
                activation_code_secret_ref: Some(CodeSecretRef {
                    name: format!("{name}-code"),
                    key: "code".into(),
                }),
                ..world.spec()
            };
            world.create(name, spec).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await
        }
        ("configmaps", "create") => {
            // The first code to a channel starts its record: a channel nothing sent to yet.
            operator.wait_ready().await?;
            let arn = world.seed(name).await?;
            world.create(name, World::spec_for(&arn)).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await
        }
        ("configmaps", "update") => {
            // A second code to the same channel adds to its record.
            operator.wait_ready().await?;
            world.create(name, world.spec()).await?;
            world.wait_sent(name).await?;
            let second = format!("{name}-again");
            world.create(&second, world.spec()).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await
        }
        ("configmaps", "delete") => {
            // A record none of whose sends counts any more is swept once the records are read.
            put_stale_record(world).await?;
            operator.restart().await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await
        }
        ("events", "create") => {
            operator.wait_ready().await?;
            world.create(name, world.spec()).await?;
            operator.wait_log(&denied, PROBE_DEADLINE).await?;
            assert!(world.event_reasons(name).await?.is_empty());
            Ok(())
        }
        ("events", "patch") => {
            operator.wait_ready().await?;
            repeated_failure(world, name).await?;
            let noticed = operator.wait_log(&denied, PROBE_DEADLINE).await;
            let reasons = world.event_reasons(name).await?;
            noticed.map_err(|e| {
                format!("{e}\nEvents on {name} (each a create, none a series): {reasons:?}").into()
            })
        }
        ("leases", verb) => {
            let leases: Api<Lease> = Api::namespaced(world.client.clone(), &world.namespace);
            if verb == "create" {
                // The Lease must be made, not found.
                if leases.get_opt(RELEASE).await?.is_some() {
                    leases.delete(RELEASE, &DeleteParams::default()).await?;
                }
            } else if leases.get_opt(RELEASE).await?.is_none() {
                let lease = Lease {
                    metadata: kube::api::ObjectMeta {
                        name: Some(RELEASE.to_owned()),
                        ..Default::default()
                    },
                    ..Lease::default()
                };
                leases.create(&PostParams::default(), &lease).await?;
            }
            operator.wait_log(&denied, PROBE_DEADLINE).await?;
            if verb == "patch" {
                // The Lease is read but never taken: the process stands by for good.
                assert!(operator.is_running());
                assert_eq!(operator.metric("ssmcontacts_leader").await?, 0.0);
            } else {
                // The lease manager cannot be set up: the process gives up at start.
                let exit = operator.wait_exit(PROBE_DEADLINE).await?;
                assert!(!exit.success(), "exited {exit:?} without the lease");
            }
            Ok(())
        }
        _ => Err(format!(
            "no probe for {grant}: add one that shows what breaks without it, or drop the verb"
        )
        .into()),
    }
}

/// A channel record whose only send is two hours old: nothing in it counts.
async fn put_stale_record(world: &World) -> Result {
    let key = "aws:123456789012:contact-channel/oncall/long-ago";
    let records: Api<ConfigMap> = Api::namespaced(world.client.clone(), &world.namespace);
    let name = records::record_name(key);
    if records.get_opt(&name).await?.is_some() {
        return Ok(());
    }
    let two_hours_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(2))
        .map_err(|e| e.to_string())?;
    let calls = serde_json::json!([{"uid": "gone", "time": two_hours_ago}]);
    let record: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "labels": {records::RECORD_LABEL: "v1"},
            "annotations": {records::CHANNEL_ANNOTATION: key},
        },
        "data": {"calls": calls.to_string()},
    }))?;
    records.create(&PostParams::default(), &record).await?;
    Ok(())
}

/// Watches failing past --unready-after-watch-failure turn /readyz 503 (livez 200) until RBAC is back.
async fn failing_watches_fail_readiness_until_they_recover(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "unready").await?;
    let chart = Chart::install(&suite, &world, true).await?;
    let proxy = chart.proxy.as_ref().ok_or("no proxy")?;
    let operator = chart.launch(
        &world,
        &["--unready-after-watch-failure", "3s"],
        world.log_dir(),
    )?;
    world.operator = operator;
    world.operator.wait_ready().await?;
    world.create("before", world.spec()).await?;
    world.wait_sent("before").await?;
    assert_eq!(
        world
            .operator
            .metric("ssmcontacts_watch_errors_total")
            .await?,
        0.0
    );

    let watching: Vec<Grant> = chart
        .grants()?
        .into_iter()
        .filter(|g| {
            g.resource == "contactchannelactivations"
                && ["list", "watch"].contains(&g.verb.as_str())
        })
        .collect();
    assert_eq!(watching.len(), 2, "{watching:?}");
    chart.revoke(&watching).await?;
    assert!(proxy.cut() > 0, "no connection to cut");
    let body = eventually("/readyz to fail", Duration::from_secs(30), || async {
        let (status, body) = world.operator.probe("/readyz").await?;
        let errors = world
            .operator
            .metric("ssmcontacts_watch_errors_total")
            .await?;
        Ok((status == 503 && errors > 0.0).then_some(body))
    })
    .await
    .map_err(|e| format!("{e}; log:\n{}", world.operator.log_tail()))?;
    assert!(body.contains("watch"), "{body}");
    assert_eq!(world.operator.probe("/livez").await?.0, 200);
    assert!(world.operator.is_running());

    chart.restore().await?;
    let ready_again =
        || async { Ok((world.operator.probe("/readyz").await?.0 == 200).then_some(())) };
    let recovered = eventually("/readyz to recover", Duration::from_secs(60), ready_again).await;
    let after = world.seed("unready-after").await?;
    world.create("after", World::spec_for(&after)).await?;
    if let Err(error) = recovered {
        // Tell apart "the watch never came back" from "nothing told readiness it did".
        let with_event = eventually(
            "/readyz after an object changed",
            Duration::from_secs(20),
            ready_again,
        )
        .await;
        return Err(format!(
            "{error} in a quiet namespace; once an object changed: {}\nlog:\n{}",
            with_event.map_or_else(|e| e.to_string(), |()| "ready at once".to_owned()),
            world.operator.log_tail()
        )
        .into());
    }
    world.wait_sent("after").await?;
    assert_eq!(world.emulator.admin().sends_for(&after).await?, 1);
    Ok(())
}

/// activation.secrets.enabled=false: the chart's ServiceAccount cannot get, list or watch
/// Secrets, and the operator as the chart runs it (SSMC_CODE_SECRETS as the chart's
/// Deployment sets it) is ready and sends a code without one "forbidden".
async fn chart_without_code_secrets_grants_and_needs_no_secret(suite: Arc<Suite>) -> Result {
    let mut world = World::stopped(&suite, "rbac-nosecrets").await?;
    let chart = Chart::install_with(
        &suite,
        &world,
        false,
        &[],
        &["activation.secrets.enabled=false"],
    )
    .await?;
    for verb in ["get", "list", "watch"] {
        assert!(
            !chart.may(&suite, verb, "secrets")?,
            "the chart's ServiceAccount may {verb} secrets"
        );
    }
    let secret_grants: Vec<String> = chart
        .grants()?
        .iter()
        .filter(|grant| grant.resource == "secrets")
        .map(ToString::to_string)
        .collect();
    assert!(secret_grants.is_empty(), "{secret_grants:?}");

    // The switch as the chart's Deployment hands it to the operator.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    let deployment = deployments.get(RELEASE).await?;
    let env = deployment
        .spec
        .template
        .spec
        .and_then(|pod| pod.containers.into_iter().next())
        .and_then(|container| container.env)
        .unwrap_or_default();
    let code_secrets = env
        .iter()
        .find(|var| var.name == "SSMC_CODE_SECRETS")
        .and_then(|var| var.value.clone())
        .ok_or("the chart's Deployment does not set SSMC_CODE_SECRETS")?;
    assert_eq!(code_secrets, "false");
    let env = [("SSMC_CODE_SECRETS".to_owned(), code_secrets)];
    world.operator = Operator::launch_with(
        &chart.kubeconfig,
        &world.namespace,
        &world.emulator.endpoint_url(),
        &[],
        world.log_dir(),
        (&env, TEST_RUST_LOG),
    )?;
    world.operator.wait_ready().await?;
    world.create("pager", world.spec()).await?;
    world.wait_sent("pager").await?;
    assert_eq!(world.sends().await?, 1);
    let log = world.operator.log_text();
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");
    Ok(())
}
