//! One pass of a reconcile, down the stages and back up: read the object (our own latest
//! write if the watch lags) and what this process knows of it, ask the tenancy guards,
//! decide ([`crate::rules::decide`]), then write the decided status, or hand over to
//! [`send`] or [`follow`]; their answer (when to look again) becomes kube-runtime's
//! [`Action`] here, and nowhere else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use tracing::warn;

use crate::api::arn::ChannelArn;
use crate::api::conditions;
use crate::api::reason::Reason;
use crate::api::resource::{ContactChannelActivation, ContactChannelActivationStatus};
use crate::aws::assume::RoleSession;
use crate::reconcile::context::{Context, ReconcileError, Requeue, jitter};
use crate::reconcile::follow;
use crate::reconcile::metrics::ResultLabels;
use crate::reconcile::namespaces::Lookup;
use crate::reconcile::send::{self, Planned};
use crate::reconcile::status::StatusError;
use crate::reconcile::unreadable::{self, Reporting};
use crate::rules::decide::{self, Decision, Local, Observed};
use crate::rules::tenancy;

/// No requeue is ever longer than this: tokio's timers panic on durations far in the future,
/// and a day is beyond every delay the decision can ask for.
const MAX_REQUEUE: Duration = Duration::from_secs(24 * 3600);
/// How soon an object is looked at again while its Namespace has not been seen.
const UNKNOWN_NAMESPACE_RECHECK: Duration = Duration::from_secs(10);

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
        Err(invalid) => {
            let to = Reporting {
                client: &ctx.client,
                api_timeout: ctx.api_timeout,
                recorder: &ctx.recorder,
                inventory: &ctx.inventory,
            };
            unreadable::report(&ctx.unreadable, to, invalid)
                .await
                .map(|()| None)
                .map_err(ReconcileError::from)
        }
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
        .get_or_create(&ResultLabels {
            result: label.to_owned(),
        })
        .inc();
    result.map(action)
}

async fn reconcile_inner(
    object: &ContactChannelActivation,
    ctx: &Context,
) -> Result<Requeue, ReconcileError> {
    let (Some(namespace), Some(uid), Some(generation)) =
        (object.namespace(), object.uid(), object.metadata.generation)
    else {
        return Err(ReconcileError::Incomplete);
    };
    // The Namespace watch wakes the objects of a Namespace when it first sees it; the
    // requeue is only a safety net.
    let admission = match admit(ctx, object, &namespace) {
        Some(admission) => admission,
        None => return Ok(Some(UNKNOWN_NAMESPACE_RECHECK)),
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
                Err(_) => Ok(None),
            }
        }
        Decision::Idle => Ok(None),
        Decision::Wait(delay) => Ok(Some(delay)),
        Decision::Record {
            status,
            requeue,
            note,
        } => {
            ctx.record(object, &uid, status, note).await?;
            Ok(requeue)
        }
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

/// kube-runtime's word for when to look again, capped at [`MAX_REQUEUE`].
fn action(requeue: Requeue) -> Action {
    requeue.map_or_else(Action::await_change, |delay| {
        Action::requeue(delay.min(MAX_REQUEUE))
    })
}
