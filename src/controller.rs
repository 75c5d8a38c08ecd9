//! kube-runtime wiring only: watch -> read the object and what this process knows of it ->
//! decide -> write status, or hand over to [`crate::send`] -> requeue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, stream::SelectAll};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use rand::Rng;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::activation::CheckPolicy;
use crate::arn::ChannelArn;
use crate::assume::RoleSession;
use crate::aws::SsmContacts;
use crate::budget::CheckBudget;
use crate::channels::Channels;
use crate::conditions;
use crate::decide::{self, Decision, Local, Observed, Settings};
use crate::events::Recorder;
use crate::follow;
use crate::health::Health;
use crate::inventory::Inventory;
use crate::ledger::Ledger;
use crate::lines::SendLines;
use crate::namespaces::{Lookup, NamespaceAnnotations};
use crate::outcome::Reason;
use crate::own_writes::OwnWrites;
use crate::pacing::RateSettings;
use crate::records::{self, Records};
use crate::resource::{ContactChannelActivation, ContactChannelActivationStatus};
use crate::secret::CODE_SECRET_LABEL;
use crate::send::{self, Planned};
use crate::status::{self, StatusError};
use crate::telemetry::{self, Metrics, Note};
use crate::tenancy::{self, Tenancy};
use crate::triggers::{granted_turns, namespace_changes, objects_in, objects_using};
use crate::unreadable::{self, Reported};

/// No requeue is ever longer than this: tokio's timers panic on durations far in the future,
/// and a day is beyond every delay the decision can ask for.
const MAX_REQUEUE: Duration = Duration::from_secs(24 * 3600);
/// How soon a send is tried again while the object caches have not listed every object
/// (their recent calls count for the channel limits).
pub const UNSYNCED_RECHECK: Duration = Duration::from_secs(1);
/// How soon an object is looked at again while its Namespace has not been seen.
const UNKNOWN_NAMESPACE_RECHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("object has no name, uid or generation (not read from the API server?)")]
    Incomplete,
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl ReconcileError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete_object",
            Self::Status(error) => error.metric_label(),
        }
    }
}

/// Everything a reconciliation needs, shared by all of them.
pub struct Context {
    pub client: Client,
    pub aws: SsmContacts,
    /// The lines of objects waiting to send, one per quota scope, each served at the rate
    /// AWS accepts there.
    pub lines: SendLines,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Deadline of every single API call.
    pub api_timeout: Duration,
    pub ledger: Ledger,
    pub unreadable: Reported,
    pub health: Arc<Health>,
    pub inventory: Inventory,
    /// Activation checks and code entries: their own budget, so they never starve sends.
    pub check_budget: CheckBudget,
    pub checks: CheckPolicy,
    /// Whether code Secrets are watched and read at all (`--code-secrets`).
    pub code_secrets: bool,
    /// Which accounts and roles objects may name.
    pub tenancy: Tenancy,
    /// Each watched Namespace's allowed-accounts annotation.
    pub namespaces: NamespaceAnnotations,
    /// Recent calls per channel, for its cooldown and hourly cap.
    pub channels: Channels,
    /// Each channel's recent sends, kept in the operator's namespace.
    pub records: Records,
    /// Our latest status writes, until the watch shows them.
    pub own_writes: OwnWrites,
    stop: AtomicBool,
}

impl Context {
    #[expect(
        clippy::too_many_arguments,
        reason = "start-up wiring: each argument is one concern, handed over once"
    )]
    pub fn new(
        client: Client,
        aws: SsmContacts,
        send_rate: RateSettings,
        settings: Settings,
        metrics: Metrics,
        api_timeout: Duration,
        health: Arc<Health>,
        activation: ActivationSettings,
        guards: Guards,
    ) -> Self {
        let reporter = Reporter {
            controller: "ssm-contacts-operator".into(),
            instance: Some(settings.instance.clone()),
        };
        let records = Records::new(
            client.clone(),
            &guards.records_namespace,
            guards.limits.memory(),
            api_timeout,
        );
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            inventory: Inventory::new(metrics.objects.clone()),
            client,
            aws,
            lines: SendLines::new(send_rate),
            settings,
            metrics,
            api_timeout,
            ledger: Ledger::default(),
            unreadable: Reported::default(),
            health,
            check_budget: CheckBudget::new(activation.rate),
            checks: activation.checks,
            code_secrets: activation.code_secrets,
            tenancy: guards.tenancy,
            namespaces: NamespaceAnnotations::new(guards.namespace_watches),
            channels: Channels::new(guards.limits, guards.sources.iter().cloned()),
            records,
            own_writes: OwnWrites::default(),
            stop: AtomicBool::new(false),
        }
    }

    /// From now on no new call to AWS starts (SIGTERM, or the lease was lost).
    pub fn stop_sending(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A status write, counted in metrics.
    pub async fn write_status(
        &self,
        api: &Api<ContactChannelActivation>,
        from: &ContactChannelActivation,
        status: ContactChannelActivationStatus,
    ) -> Result<ContactChannelActivation, StatusError> {
        let result = status::write(api, from, status, self.api_timeout).await;
        if let Ok(written) = &result {
            self.own_writes.wrote(from, written);
            if let (Some(uid), Some(written_status)) = (written.uid(), &written.status) {
                self.inventory.observe(&uid, written_status);
            }
        }
        self.metrics.count_status_write(match &result {
            Ok(_) => "ok",
            Err(error) => error.metric_label(),
        });
        result
    }
}

/// The abuse guards' settings.
#[derive(Clone, Debug)]
pub struct Guards {
    pub tenancy: Tenancy,
    pub limits: crate::cooldown::ChannelLimits,
    /// How many Namespace watches feed the annotations (one per watched scope).
    pub namespace_watches: usize,
    /// Where the channel records live: the operator's own namespace.
    pub records_namespace: String,
    /// What must be read once before the channel limits hold: the records and each scope.
    pub sources: Vec<String>,
}

/// How activation is followed: the check budget and the spacing of checks.
#[derive(Clone, Copy, Debug)]
pub struct ActivationSettings {
    pub rate: RateSettings,
    pub checks: CheckPolicy,
    /// Whether code Secrets are watched and read at all.
    pub code_secrets: bool,
}

pub fn jitter() -> f64 {
    rand::rng().random::<f64>()
}

pub fn requeue_after(requeue: Option<Duration>) -> Action {
    requeue.map_or_else(Action::await_change, |delay| {
        Action::requeue(delay.min(MAX_REQUEUE))
    })
}

pub async fn reconcile(
    object: Arc<DeserializeGuard<ContactChannelActivation>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    ctx.metrics.reconciles_in_flight.inc();
    let started = Instant::now();
    let result = match &object.0 {
        Ok(seen) => match ctx.own_writes.freshest(seen) {
            Some(ours) => reconcile_inner(&ours, &ctx).await,
            None => reconcile_inner(seen, &ctx).await,
        },
        Err(invalid) => unreadable::report(&ctx, invalid)
            .await
            .map(|()| Action::await_change())
            .map_err(ReconcileError::from),
    };
    ctx.metrics.reconciles_in_flight.dec();
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let label = match &result {
        Ok(_) => "ok",
        Err(error) => error.metric_label(),
    };
    ctx.metrics
        .reconciles
        .get_or_create(&telemetry::ResultLabels {
            result: label.to_owned(),
        })
        .inc();
    result
}

async fn reconcile_inner(
    object: &ContactChannelActivation,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let (Some(namespace), Some(uid), Some(generation)) =
        (object.namespace(), object.uid(), object.metadata.generation)
    else {
        return Err(ReconcileError::Incomplete);
    };
    // The Namespace watch wakes the objects of a Namespace when it first sees it; the
    // requeue is only a safety net.
    let admission = match admit(ctx, object, &namespace) {
        Some(admission) => admission,
        None => return Ok(Action::requeue(UNKNOWN_NAMESPACE_RECHECK)),
    };
    let status = object.status_or_default();
    let flight = status.send_in_flight.as_ref();
    let unrecorded = ctx.ledger.unrecorded(&uid);
    let local = Local {
        unrecorded: unrecorded.as_ref(),
        running_here: flight.is_some_and(|f| ctx.ledger.is_running(&uid, f)),
        flight_seen_for: ctx
            .ledger
            .seen_for(&uid, flight, tokio::time::Instant::now()),
        not_allowed: admission.as_ref().err().map(String::as_str),
    };
    let observed = Observed {
        generation,
        spec: &object.spec,
        status: &status,
    };

    let decision = decide::decide(observed, &ctx.settings, Timestamp::now(), local, jitter());
    if !matches!(decision, Decision::Send { .. }) {
        ctx.lines.leave(&uid);
        ctx.channels.release_all(&uid);
    }
    // A recorded status is counted by `write_status` once written.
    let standing = match &decision {
        Decision::Idle | Decision::Wait(_) => Some(&status),
        Decision::Send { intent, .. } => Some(intent),
        Decision::Record { .. } => None,
    };
    if let Some(standing) = standing {
        ctx.inventory.observe(&uid, standing);
    }
    match decision {
        // An object refused since its code went out is not followed either: no AWS call.
        Decision::Idle if followed(&status, generation) && !object.spec.suspend => {
            match admission {
                Ok(role) => follow::follow(ctx, object, &status, generation, role.as_ref()).await,
                Err(_) => Ok(Action::await_change()),
            }
        }
        Decision::Idle => Ok(Action::await_change()),
        Decision::Wait(delay) => Ok(Action::requeue(delay.min(MAX_REQUEUE))),
        Decision::Record {
            status,
            requeue,
            note,
        } => record(ctx, object, &uid, status, requeue, note).await,
        Decision::Send {
            channel,
            region,
            intent,
            check_first,
        } => {
            send::send(
                ctx,
                Planned {
                    object,
                    uid: &uid,
                    channel,
                    region,
                    intent,
                    check_first,
                    role: admission.ok().flatten(),
                },
            )
            .await
        }
    }
}

/// Whether the channel of this generation is followed (activation checks, drift): its code
/// went out, or none was needed because AWS already reported the channel ACTIVATED.
fn followed(status: &ContactChannelActivationStatus, generation: i64) -> bool {
    status.sent_generation == Some(generation)
        || conditions::find(&status.conditions, conditions::CODE_SENT).is_some_and(|c| {
            c.observed_generation == Some(generation)
                && c.reason == Reason::AlreadyActivated.as_str()
        })
}

/// Writes a decided status and publishes its note.
pub async fn record(
    ctx: &Context,
    object: &ContactChannelActivation,
    uid: &str,
    status: ContactChannelActivationStatus,
    requeue: Option<Duration>,
    note: Option<Note>,
) -> Result<Action, ReconcileError> {
    let api: Api<ContactChannelActivation> =
        Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let written = ctx.write_status(&api, object, status).await?;
    let written_status = written.status.as_ref();
    ctx.ledger
        .recorded(uid, written_status.and_then(|s| s.send_in_flight.as_ref()));
    if let Some(note) = note {
        telemetry::publish(&ctx.recorder, &written, &note).await;
    }
    Ok(requeue_after(requeue))
}

/// The tenancy guards' verdict on the object: the role session to call with (if any), or
/// why it is refused; `None` while its Namespace has not been seen yet (nothing may be
/// decided before the annotation that may narrow it is known).
fn admit(
    ctx: &Context,
    object: &ContactChannelActivation,
    namespace: &str,
) -> Option<Result<Option<RoleSession>, String>> {
    let annotation = match ctx.namespaces.lookup(namespace) {
        Lookup::Unknown => return None,
        Lookup::Known(annotation) => annotation,
    };
    // An ARN that does not parse is the decision's to refuse (InvalidSpec).
    let Ok(channel) = ChannelArn::parse(&object.spec.contact_channel_id) else {
        return Some(Ok(None));
    };
    let role = object.spec.role_arn.as_deref();
    Some(
        tenancy::admit(&ctx.tenancy, annotation.as_deref(), &channel, role).map(|()| {
            role.map(|role| RoleSession::for_object(role, namespace, &object.name_any()))
        }),
    )
}

pub fn error_policy(
    object: Arc<DeserializeGuard<ContactChannelActivation>>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> Action {
    match error {
        // The watch brings the newer object within moments; this requeue is only a safety net.
        ReconcileError::Status(StatusError::Conflict) => Action::requeue(Duration::from_secs(1)),
        ReconcileError::Status(StatusError::Gone) => Action::await_change(),
        _ => {
            warn!(object = %object.name_any(), namespace = object.namespace().unwrap_or_default(), %error, "reconcile failed");
            Action::requeue(Duration::from_secs(5))
        }
    }
}

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
    scope: Scope,
    selector: String,
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
                if ctx.health.watch_failed(Instant::now()) {
                    let error = chain(error);
                    warn!(%error, "watch of the channel records failed; no code is sent until it works");
                }
            });
            tokio::join!(watch, sweep);
        }
    });
    for (api, secrets, namespace_selector, namespace) in apis {
        let (store, writer) = reflector::store();
        let watch_ctx = ctx.clone();
        let source = objects_source(namespace.as_deref());
        // Only this shard's objects; the Secrets and Namespaces they use are found by name.
        let objects = watcher(
            api,
            watcher::Config::default().any_semantic().labels(&selector),
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
        .inspect(move |event| watch_ctx.observe_watch(&source, event))
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
    let health = ctx.health.clone();
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
        health.set_ready(true);
    });
    while let Some(result) = streams.next().await {
        match result {
            // A trigger watch (the code Secrets) failed: as visible as a failing main watch.
            Err(kube::runtime::controller::Error::QueueError(error)) => {
                ctx.metrics.watch_errors.inc();
                if ctx.health.watch_failed(Instant::now()) {
                    // The whole chain: the API server's answer (e.g. "cannot watch resource")
                    // is in the innermost error.
                    let error = chain(&error);
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

impl Context {
    /// Watch health for readiness and metrics, and pruning of what this process keeps about
    /// deleted objects.
    fn observe_watch(
        &self,
        source: &str,
        event: &Result<watcher::Event<DeserializeGuard<ContactChannelActivation>>, watcher::Error>,
    ) {
        // Errors are counted where the controller reports them, with the code-Secret watch's.
        // A scope that cannot be listed stops only itself: the channel limits stop waiting
        // for it (its objects are not decided on while it fails).
        if event.is_err() {
            self.channels.source_done(source);
        }
        self.health.scope_watch(source, event.is_ok());
        if let Ok(event) = event {
            self.health.watch_ok();
            match event {
                watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                    if let Ok(object) = &object.0 {
                        self.channels.observe(object, Timestamp::now());
                    }
                }
                watcher::Event::Delete(object) => {
                    let meta = match &object.0 {
                        Ok(object) => object.meta(),
                        Err(invalid) => &invalid.metadata,
                    };
                    if let Some(uid) = &meta.uid {
                        self.ledger.forget(uid);
                        self.unreadable.forget(uid);
                        self.inventory.forget(uid);
                        self.own_writes.forget(uid);
                        self.channels.forget(uid);
                        self.lines.leave(uid);
                        self.check_budget.forget(uid);
                    }
                }
                watcher::Event::InitDone => self.channels.source_done(source),
                watcher::Event::Init => {}
            }
        }
    }
}

/// An error and its sources, as one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
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
