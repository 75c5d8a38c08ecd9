//! kube-runtime wiring: read the object -> decide -> (pace -> write intent -> call AWS ->
//! record outcome) -> write status, publish Events, requeue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, stream::SelectAll};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use rand::Rng;
use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::aws::SsmContacts;
use crate::decide::{self, Decision, Observed, Remembered, Settings};
use crate::outcome::Reason;
use crate::pacing::SendPacer;
use crate::resource::ContactChannelActivation;
use crate::status::{self, StatusError};
use crate::telemetry::{self, Metrics};
use crate::unreadable::{self, Reported};

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
    pub pacer: SendPacer,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Deadline for one status write.
    pub write_timeout: Duration,
    /// Outcomes of calls whose status write failed, by object uid; see [`Remembered`].
    pub unrecorded: Mutex<HashMap<String, Remembered>>,
    pub unreadable: Reported,
}

impl Context {
    pub fn new(
        client: Client,
        aws: SsmContacts,
        pacer: SendPacer,
        settings: Settings,
        metrics: Metrics,
    ) -> Self {
        let reporter = Reporter {
            controller: "ssm-contacts-operator".into(),
            instance: Some(settings.instance.clone()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            pacer,
            settings,
            metrics,
            write_timeout: Duration::from_secs(10),
            unrecorded: Mutex::default(),
            unreadable: Reported::default(),
        }
    }

    fn unrecorded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.unrecorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn jitter() -> f64 {
    rand::rng().random::<f64>()
}

fn after(requeue: Option<Duration>) -> Action {
    requeue.map_or_else(Action::await_change, Action::requeue)
}

pub async fn reconcile(
    object: Arc<DeserializeGuard<ContactChannelActivation>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    ctx.metrics.reconciles_in_flight.inc();
    let started = Instant::now();
    let result = match &object.0 {
        Ok(object) => reconcile_inner(object, &ctx).await,
        Err(invalid) => unreadable::report(&ctx.client, &ctx.recorder, &ctx.unreadable, invalid)
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
    let api: Api<ContactChannelActivation> = Api::namespaced(ctx.client.clone(), &namespace);
    let status = object.status_or_default();
    let remembered = ctx.unrecorded().get(&uid).cloned();
    let observed = Observed {
        generation,
        spec: &object.spec,
        status: &status,
    };

    match decide::decide(
        observed,
        &ctx.settings,
        Timestamp::now(),
        remembered.as_ref(),
        jitter(),
    ) {
        Decision::Idle => Ok(Action::await_change()),
        Decision::Wait(delay) => Ok(Action::requeue(delay)),
        Decision::Record {
            status,
            requeue,
            note,
        } => {
            let written = write(ctx, &api, object, status).await?;
            ctx.unrecorded().remove(&uid);
            if let Some(note) = note {
                telemetry::publish(&ctx.recorder, &written, &note).await;
            }
            Ok(after(requeue))
        }
        Decision::Send {
            channel,
            region,
            mut intent,
        } => {
            ctx.metrics.waiting_for_send_slot.inc();
            ctx.pacer.acquire().await;
            ctx.metrics.waiting_for_send_slot.dec();
            let Some(flight) = intent.send_in_flight.as_mut() else {
                return Ok(Action::await_change());
            };
            flight.started_time = Time(Timestamp::now());
            let flight = flight.clone();
            // Only a successful intent write licenses the call: a conflict here means the
            // object changed, and the fresh copy gets its own decision.
            let after_intent = write(ctx, &api, object, intent).await?;

            let outcome = ctx.aws.send_activation_code(&region, &channel).await;
            let label = match &outcome {
                Ok(_) => Reason::Sent,
                Err(failure) => failure.reason,
            };
            ctx.metrics.count_send(label.as_str());
            if label == Reason::Throttled {
                ctx.metrics.throttles.inc();
                ctx.pacer.on_throttle();
            } else if label == Reason::Sent {
                ctx.pacer.on_success();
            }
            ctx.metrics.send_rate.set(ctx.pacer.rate());
            info!(object = %object.name_any(), %namespace, generation, attempt = flight.attempt, %region, outcome = label.as_str(), "SendActivationCode");

            match status::record_outcome(
                &api,
                after_intent,
                &flight,
                &outcome,
                &ctx.settings,
                ctx.write_timeout,
                jitter(),
            )
            .await
            {
                Ok((written, requeue, note)) => {
                    ctx.metrics.count_status_write("ok");
                    ctx.unrecorded().remove(&uid);
                    telemetry::publish(&ctx.recorder, &written, &note).await;
                    Ok(after(requeue))
                }
                Err(error) => {
                    ctx.metrics.count_status_write(error.metric_label());
                    warn!(object = %object.name_any(), %namespace, %error, "outcome not recorded yet; kept in memory and retried");
                    ctx.unrecorded().insert(uid, Remembered { flight, outcome });
                    Err(error.into())
                }
            }
        }
    }
}

async fn write(
    ctx: &Context,
    api: &Api<ContactChannelActivation>,
    from: &ContactChannelActivation,
    status: crate::resource::ContactChannelActivationStatus,
) -> Result<ContactChannelActivation, StatusError> {
    let result = status::write(api, from, status, ctx.write_timeout).await;
    ctx.metrics.count_status_write(match &result {
        Ok(_) => "ok",
        Err(error) => error.metric_label(),
    });
    result
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

/// Runs one controller per watched scope until `shutdown` resolves; in-flight reconciles
/// finish first (kube-runtime's graceful shutdown), so no started call goes unrecorded.
pub async fn run(
    ctx: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    ready: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) {
    let apis: Vec<Api<DeserializeGuard<ContactChannelActivation>>> = match scope {
        Scope::Cluster => vec![Api::all(ctx.client.clone())],
        Scope::Namespaces(namespaces) => namespaces
            .iter()
            .map(|ns| Api::namespaced(ctx.client.clone(), ns))
            .collect(),
    };
    let mut streams = SelectAll::new();
    let mut stores = Vec::new();
    for api in apis {
        let controller = Controller::new(api, watcher::Config::default().any_semantic())
            .with_config(ControllerConfig::default().concurrency(concurrency))
            .graceful_shutdown_on(stopped(shutdown.clone()));
        stores.push(controller.store());
        streams.push(controller.run(reconcile, error_policy, ctx.clone()).boxed());
    }
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
        ready.store(true, Ordering::SeqCst);
    });
    while let Some(result) = streams.next().await {
        if let Err(error) = result {
            tracing::debug!(%error, "reconcile error (requeued)");
        }
    }
    info!("controller stopped");
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
