//! ssm-contacts-operator: CLI -> logs, admin server, leader lease, controller, shutdown.

use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use kube_lease_manager::LeaseManagerBuilder;
use prometheus_client::registry::Registry;
use rand::Rng;
use tokio::sync::watch;
use tracing::{error, info, warn};

use ssm_contacts_operator::aws::client::{SsmContacts, Timeouts};
use ssm_contacts_operator::reconcile::context::{Context, Guards};
use ssm_contacts_operator::reconcile::metrics::Metrics;
use ssm_contacts_operator::reconcile::send;
use ssm_contacts_operator::rules::decide::Settings;
use ssm_contacts_operator::runtime::admin;
use ssm_contacts_operator::runtime::config::{Args, Command};
use ssm_contacts_operator::runtime::controller::{self, Scope};
use ssm_contacts_operator::runtime::health::Health;
use ssm_contacts_operator::runtime::healthcheck;
use ssm_contacts_operator::runtime::logging;
use ssm_contacts_operator::runtime::process_metrics::ProcessCollector;

/// Tries per outcome still kept in memory at shutdown, before the lease is handed over.
const FLUSH_TRIES: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::load();
    if let Some(Command::Healthcheck(check)) = &args.command {
        match healthcheck::check_until_healthy(check).await {
            Ok(status_line) => {
                println!("{}: {status_line}", check.url);
                return Ok(());
            }
            Err(error) => {
                eprintln!("unhealthy: {error}");
                std::process::exit(1);
            }
        }
    }
    logging::init_logging(args.ops.log_format);

    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client configuration")?;
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    // On the root registry: the process_* names are the same in every Prometheus client.
    registry.register_collector(Box::new(ProcessCollector::default()));
    let aws = SsmContacts::from_env(Timeouts {
        connect: args.aws.connect_timeout,
        call: args.aws.call_timeout,
    })
    .await
    .counting(metrics.aws_requests.clone());
    let default_region = args.aws.default_region.clone().or_else(|| aws.sdk_region());
    let identity = args
        .ops
        .identity
        .clone()
        .unwrap_or_else(|| "ssm-contacts-operator".to_owned());
    // A fresh suffix per process: a restarted container must not mistake the in-flight
    // calls of its previous life for its own live ones.
    let instance = format!("{identity}-{:08x}", rand::rng().random::<u32>());
    info!(%instance, selector = %args.watch.label_selector, default_region = default_region.as_deref().unwrap_or("<none>"), "starting");

    let health = Arc::new(Health::new(args.ops.unready_after_watch_failure));
    let listeners = args.ops.listeners();
    let servers = admin::serve(&listeners, registry, health.clone())
        .await
        .with_context(|| format!("cannot bind the admin servers to {listeners:?}"))?;
    let mut admin_servers = futures::stream::FuturesUnordered::new();
    for ((addr, future), (_, serves)) in servers.into_iter().zip(&listeners) {
        info!(%addr, serves = serves.as_str(), "admin server listening");
        admin_servers.push(future);
    }

    let (stop_tx, stop_rx) = watch::channel(false);

    let settings = Settings {
        default_region,
        on_unknown_outcome: args.aws.on_unknown_outcome.into(),
        backoff: args.pacing.backoff(),
        in_flight_grace: args.pacing.in_flight_grace,
        instance: instance.clone(),
    };
    let scope = if args.watch.namespaces.is_empty() {
        Scope::Cluster
    } else {
        Scope::Namespaces(args.watch.namespaces.clone())
    };
    let guards = Guards {
        // Validated by Args::load.
        tenancy: args
            .tenancy
            .tenancy()
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?,
        limits: args.tenancy.limits(),
        namespace_watches: scope.watches(),
        records_namespace: args.ops.lease_namespace.clone(),
        sources: scope.sources(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        aws,
        args.pacing.rate(),
        settings,
        metrics.clone(),
        args.ops.api_timeout,
        args.activation.settings(),
        guards,
    ));

    // Served from the start: a standby replica must answer its probes too.
    let mut admin = tokio::spawn(async move { admin_servers.next().await });

    // Leadership: wait for the lease (standing by counts as ready), and stop if it is lost.
    let mut lease = None;
    if args.ops.leader_election {
        health.set_ready(true);
        let manager = LeaseManagerBuilder::new(client.clone(), &args.ops.lease_name)
            .with_namespace(&args.ops.lease_namespace)
            .with_identity(&instance)
            .with_duration(args.ops.lease_duration_seconds)
            .with_grace(args.ops.lease_grace_seconds)
            .build()
            .await
            .context("cannot set up the leader lease")?;
        let (mut leader, lease_task) = manager.watch().await;
        info!(lease = %args.ops.lease_name, namespace = %args.ops.lease_namespace, "waiting for the leader lease");
        tokio::select! {
            result = leader.wait_for(|is_leader| *is_leader) => { result.context("lease manager stopped")?; }
            () = shutdown_signal() => { info!("stopped while standing by"); return Ok(()); }
        }
        health.set_ready(false);
        metrics.leader.set(1);
        info!("acquired the leader lease");
        lease = Some((leader, lease_task));
    }

    let mut controller = tokio::spawn(controller::run(
        ctx.clone(),
        health.clone(),
        scope,
        args.watch.label_selector.clone(),
        args.watch.concurrency,
        stop_rx,
    ));
    {
        let lease_lost = async {
            match lease.as_mut() {
                Some((leader, _)) => {
                    let _ = leader.wait_for(|is_leader| !*is_leader).await;
                }
                None => futures::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => info!("shutdown signal; finishing in-flight work"),
            () = lease_lost => warn!("lost the leader lease; stopping so that only the new leader sends"),
            result = &mut admin => error!(?result, "admin server ended"),
            result = &mut controller => {
                // A controller that ended on its own would leave a live-looking but idle pod.
                anyhow::bail!("controller ended unexpectedly: {result:?}");
            }
        }
    }
    // No new call starts from here on, not even from a reconcile that already holds a send
    // slot; calls already made finish and record their outcome.
    ctx.stop_sending();
    let _ = stop_tx.send(true);
    let drain = args.drain_timeout();
    match tokio::time::timeout(drain, controller).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => error!(%error, "controller task failed"),
        Err(_) => {
            warn!(
                ?drain,
                "in-flight work did not finish in time; exiting anyway"
            )
        }
    }
    // Outcomes whose status write failed are recorded now, while this process still holds
    // the lease: otherwise the next instance would have to call them lost.
    let left = send::flush_unrecorded(&ctx, FLUSH_TRIES).await;
    if left > 0 {
        warn!(
            left,
            "outcomes not recorded before exit; the next instance will see them as lost"
        );
    }
    if let Some((leader, lease_task)) = lease {
        // Hand the lease over now rather than making the next leader wait for it to expire.
        drop(leader);
        if let Ok(Ok(manager)) = lease_task.await
            && let Err(error) = manager.release().await
        {
            warn!(%error, "could not release the leader lease");
        }
        metrics.leader.set(0);
    }
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                futures::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
