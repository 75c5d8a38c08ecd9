//! The kube-runtime wiring: one controller per watched scope, fed by the objects' watch
//! (trimmed before it is cached), the code Secrets' and Namespaces' watches and the send
//! lines' wake-ups ([`crate::runtime::triggers`]); readiness once every cache is synced;
//! what this process knows of an object forgotten when it is deleted. Each reconcile is
//! [`crate::reconcile::pass`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, stream::SelectAll};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Resource;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta, Selector};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::api::resource::ContactChannelActivation;
use crate::aws::classify::chain_text;
use crate::reconcile::context::Context;
use crate::reconcile::pass::{error_policy, reconcile};
use crate::reconcile::records;
use crate::reconcile::secret::CODE_SECRET_LABEL;
use crate::runtime::health::Health;
use crate::runtime::triggers::{granted_turns, namespace_changes, objects_in, objects_using};

/// Where to watch: the whole cluster, or a list of namespaces.
#[derive(Clone, Debug)]
pub enum Scope {
    Cluster,
    Namespaces(Vec<String>),
}

impl Scope {
    /// How many watches of each kind the scope takes.
    pub fn watches(&self) -> usize {
        match self {
            Self::Cluster => 1,
            Self::Namespaces(namespaces) => namespaces.len(),
        }
    }

    /// What the channel limits wait for: the channel records, and each watch of objects (a
    /// watch that fails is no longer waited for: its objects are not decided on anyway).
    pub fn sources(&self) -> Vec<String> {
        let mut sources = vec![records::SOURCE.to_owned()];
        match self {
            Self::Cluster => sources.push(objects_source(None)),
            Self::Namespaces(namespaces) => sources.extend(
                namespaces
                    .iter()
                    .map(|namespace| objects_source(Some(namespace))),
            ),
        }
        sources
    }
}

/// The name of a watch of objects, as readiness and the channel limits know it.
fn objects_source(namespace: Option<&str>) -> String {
    match namespace {
        None => "contactchannelactivations in all namespaces".to_owned(),
        Some(namespace) => format!("contactchannelactivations in namespace {namespace}"),
    }
}

/// The objects of one scope, the code Secrets (metadata only) of the same scope, and the
/// selector of its Namespaces (all of them, or the one by name).
type Watched = (
    Api<DeserializeGuard<ContactChannelActivation>>,
    Api<PartialObjectMeta<Secret>>,
    watcher::Config,
    Option<String>,
);

/// Runs one controller per watched scope until `shutdown` resolves; in-flight reconciles
/// finish first (kube-runtime's graceful shutdown), so no started call goes unrecorded.
pub async fn run(
    ctx: Arc<Context>,
    health: Arc<Health>,
    scope: Scope,
    selector: Selector,
    concurrency: u16,
    shutdown: watch::Receiver<bool>,
) {
    let apis: Vec<Watched> = match scope {
        Scope::Cluster => vec![(
            Api::all(ctx.client.clone()),
            Api::all(ctx.client.clone()),
            watcher::Config::default(),
            None,
        )],
        // One Namespace by name: RBAC can then grant it by resourceNames, with no right
        // to list the cluster's other Namespaces.
        Scope::Namespaces(namespaces) => namespaces
            .iter()
            .map(|ns| {
                (
                    Api::namespaced(ctx.client.clone(), ns),
                    Api::namespaced(ctx.client.clone(), ns),
                    watcher::Config::default().fields(&format!("metadata.name={ns}")),
                    Some(ns.clone()),
                )
            })
            .collect(),
    };
    let mut streams = SelectAll::new();
    let mut stores = Vec::new();
    let records_task = tokio::spawn({
        let ctx = ctx.clone();
        let health = health.clone();
        async move {
            let records = ctx.records.clone();
            let sweeper = records.clone();
            let sweep_ctx = ctx.clone();
            let sweep = async move {
                // The first sweep once the records were read; then now and then.
                while !sweep_ctx.channels.is_synced() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                sweeper.sweep_forever().await;
            };
            let watch = records.watch(&ctx.channels, |error| {
                ctx.metrics.watch_errors.inc();
                if health.watch_failed(Instant::now()) {
                    let error = chain_text(error);
                    warn!(%error, "watch of the channel records failed; no code is sent until it works");
                }
            });
            tokio::join!(watch, sweep);
        }
    });
    for (api, secrets, namespace_selector, namespace) in apis {
        let (store, writer) = reflector::store();
        let watch_ctx = ctx.clone();
        let watch_health = health.clone();
        let source = objects_source(namespace.as_deref());
        // Only this shard's objects; the Secrets and Namespaces they use are found by name.
        let objects = watcher(
            api,
            watcher::Config::default()
                .any_semantic()
                .labels_from(&selector),
        )
        .default_backoff()
        // The cache keeps only what decisions and status writes read: no managedFields, no
        // labels or annotations (kubectl's copy of the last applied object, GitOps tracking
        // marks), no owners or finalizers; at 10,000 objects they would be most of it.
        // (Status writes go to the status subresource, which takes nothing but the status.)
        .modify(|object: &mut DeserializeGuard<ContactChannelActivation>| {
            if let Ok(object) = object.0.as_mut() {
                let meta = object.meta_mut();
                meta.managed_fields = None;
                meta.labels = None;
                meta.annotations = None;
                meta.owner_references = None;
                meta.finalizers = None;
            }
        })
        .reflect(writer)
        .inspect(move |event| observe_watch(&watch_ctx, &watch_health, &source, event))
        .applied_objects();
        stores.push(store.clone());
        // Only labelled Secrets, and only their metadata: a new code wakes its objects at
        // once, while the code itself is read (GET) only when it is about to be entered and
        // never sits in a cache. An unlabelled Secret is still read at the next check.
        let code_secrets = if ctx.code_secrets {
            watcher(
                secrets,
                watcher::Config::default().labels(CODE_SECRET_LABEL),
            )
            .default_backoff()
            .touched_objects()
            .boxed()
        } else {
            futures::stream::pending().boxed()
        };
        let referencing = store.clone();
        let in_namespace = store.clone();
        let namespaces = namespace_changes(ctx.clone(), namespace_selector);
        let controller = Controller::for_stream(objects, store)
            .watches_stream(code_secrets, move |secret: PartialObjectMeta<Secret>| {
                objects_using(&referencing, &secret)
            })
            .watches_stream(
                namespaces,
                move |namespace: PartialObjectMeta<Namespace>| {
                    objects_in(&in_namespace, &namespace)
                },
            )
            .reconcile_on(granted_turns(&ctx, namespace))
            .with_config(ControllerConfig::default().concurrency(concurrency))
            .graceful_shutdown_on(stopped(shutdown.clone()));
        streams.push(controller.run(reconcile, error_policy, ctx.clone()).boxed());
    }
    let ready = health.clone();
    tokio::spawn(async move {
        for store in stores {
            // The store's readiness future wakes only its most recent poller, and the
            // controller itself polls it too; so poll again now and then instead of trusting
            // a single wake-up.
            loop {
                match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready())
                    .await
                {
                    Ok(Ok(())) => break,
                    Ok(Err(error)) => {
                        warn!(%error, "watch cache never became ready");
                        return;
                    }
                    Err(_) => continue,
                }
            }
        }
        info!("watch caches synced; ready");
        ready.set_ready(true);
    });
    while let Some(result) = streams.next().await {
        match result {
            // A trigger watch (the code Secrets) failed: as visible as a failing main watch.
            Err(kube::runtime::controller::Error::QueueError(error)) => {
                ctx.metrics.watch_errors.inc();
                if health.watch_failed(Instant::now()) {
                    // The whole chain: the API server's answer (e.g. "cannot watch resource")
                    // is in the innermost error.
                    let error = chain_text(&error);
                    warn!(%error, "watch failed; retrying with backoff");
                }
            }
            Err(error) => tracing::debug!(%error, "reconcile error (requeued)"),
            Ok(_) => {}
        }
    }
    ctx.lines.stop();
    records_task.abort();
    info!("controller stopped");
}

/// Watch health for readiness and metrics, and pruning of what this process keeps about
/// deleted objects.
fn observe_watch(
    ctx: &Context,
    health: &Health,
    source: &str,
    event: &Result<watcher::Event<DeserializeGuard<ContactChannelActivation>>, watcher::Error>,
) {
    // Errors are counted where the controller reports them, with the code-Secret watch's.
    // A scope that cannot be listed stops only itself: the channel limits stop waiting
    // for it (its objects are not decided on while it fails).
    if event.is_err() {
        ctx.channels.source_done(source);
    }
    health.scope_watch(source, event.is_ok());
    if let Ok(event) = event {
        health.watch_ok();
        match event {
            watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                if let Ok(object) = &object.0 {
                    ctx.channels.observe(object, Timestamp::now());
                }
            }
            watcher::Event::Delete(object) => {
                let meta = match &object.0 {
                    Ok(object) => object.meta(),
                    Err(invalid) => &invalid.metadata,
                };
                if let Some(uid) = &meta.uid {
                    ctx.ledger.forget(uid);
                    ctx.unreadable.forget(uid);
                    ctx.inventory.forget(uid);
                    ctx.own_writes.forget(uid);
                    ctx.channels.forget(uid);
                    ctx.lines.leave(uid);
                    ctx.check_budget.forget(uid);
                }
            }
            watcher::Event::InitDone => ctx.channels.source_done(source),
            watcher::Event::Init => {}
        }
    }
}

/// A `Send + Sync` future (as kube-runtime's graceful shutdown wants) that resolves once
/// `shutdown` turns true.
fn stopped(
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        let _ = tx.send(());
    });
    rx.map(|_| ())
}
