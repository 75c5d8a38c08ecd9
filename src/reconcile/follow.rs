//! The I/O half of following a channel to activation: read the code Secret when one is
//! referenced, take a slot of the check budget (its own, so checks never starve sends; see
//! [`crate::pacing::budget`]), call GetContactChannel or ActivateContactChannel, write what
//! [`crate::rules::activation`] decided.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use tokio::time::Instant;

use crate::api::arn::{ChannelArn, resolve_region};
use crate::api::reason::Reason;
use crate::api::resource::{ContactChannelActivation, ContactChannelActivationStatus as Status};
use crate::aws::assume::RoleSession;
use crate::reconcile::context::{Context, ReconcileError, Requeue, log_call, log_failed, log_read};
use crate::reconcile::events;
use crate::reconcile::metrics::gauge;
use crate::reconcile::secret;
use crate::rules::activation::{self, CodeSecret, Step};
use crate::rules::decide;
use crate::rules::note::{Call, Note};

/// Follows the activation of an object whose current generation's code was sent.
pub async fn follow(
    ctx: &Context,
    object: &ContactChannelActivation,
    status: &Status,
    generation: i64,
    role: Option<&RoleSession>,
) -> Result<Requeue, ReconcileError> {
    let spec = &object.spec;
    let Ok(channel) = ChannelArn::parse(&spec.contact_channel_id) else {
        return Ok(None);
    };
    let Some(region) = resolve_region(
        spec.region.as_deref(),
        &channel,
        ctx.settings.default_region.as_deref(),
    ) else {
        return Ok(None);
    };
    let namespace = object.namespace().unwrap_or_default();
    let (secret, code) = match &spec.activation_code_secret_ref {
        None => (CodeSecret::NotReferenced, None),
        Some(_) if !ctx.code_secrets => (CodeSecret::Invalid(secret::TURNED_OFF.to_owned()), None),
        Some(reference) => {
            secret::read(&ctx.client, &namespace, reference, ctx.api_timeout).await?
        }
    };
    let api: Api<ContactChannelActivation> = Api::namespaced(ctx.client.clone(), &namespace);
    let now = Timestamp::now();
    let (next, note) = match activation::next_step(status, generation, &secret, &ctx.checks, now) {
        Step::Idle => return Ok(None),
        Step::Wait(wait) => return Ok(Some(wait)),
        Step::Record { status, note } => (*status, Some(note)),
        Step::Check => {
            if let Err(wait) = take_check_slot(ctx, object) {
                return Ok(Some(wait));
            }
            let called = Instant::now();
            let answer = ctx.aws.get_contact_channel(&region, &channel, role).await;
            ctx.metrics.observe_call("GetContactChannel", called);
            log_read(object, &answer);
            activation::record_check(status, generation, &answer, Timestamp::now())
        }
        Step::Enter { version } => {
            let Some(code) = code else {
                return Ok(None);
            };
            if let Err(wait) = take_check_slot(ctx, object) {
                return Ok(Some(wait));
            }
            let called = Instant::now();
            let answer = ctx
                .aws
                .activate_contact_channel(&region, &channel, &code, role)
                .await;
            ctx.metrics.observe_call("ActivateContactChannel", called);
            let entered = match answer {
                Ok(request_id) => {
                    log_call(
                        object,
                        Call::ActivateContactChannel,
                        Reason::Activated.as_str(),
                        request_id.as_deref(),
                    );
                    Ok(())
                }
                Err(failure) => {
                    log_failed(object, Call::ActivateContactChannel, &failure);
                    Err(failure)
                }
            };
            let (next, note) =
                activation::record_entry(status, generation, &version, &entered, Timestamp::now());
            (next, Some(note))
        }
    };
    write(ctx, &api, object, next, note, &secret).await
}

/// A slot of the check budget for this object: now, or after the returned wait.
fn take_check_slot(ctx: &Context, object: &ContactChannelActivation) -> Result<(), Duration> {
    let taken = ctx
        .check_budget
        .take(object.meta().uid.as_deref().unwrap_or_default());
    ctx.metrics
        .checks_waiting
        .set(gauge(ctx.check_budget.waiting()));
    taken
}

async fn write(
    ctx: &Context,
    api: &Api<ContactChannelActivation>,
    object: &ContactChannelActivation,
    mut next: Status,
    note: Option<Note>,
    secret: &CodeSecret,
) -> Result<Requeue, ReconcileError> {
    let now = Timestamp::now();
    decide::finish(&mut next, &object.spec, now);
    // The next step is decided afresh when it is due; this only says when to look again.
    let comeback = match activation::next_step(
        &next,
        object.metadata.generation.unwrap_or_default(),
        secret,
        &ctx.checks,
        now,
    ) {
        Step::Idle => None,
        Step::Wait(wait) => Some(wait),
        Step::Check | Step::Enter { .. } | Step::Record { .. } => Some(ctx.checks.first),
    };
    let written = ctx.write_status(api, object, next).await?;
    if let Some(note) = note {
        events::publish(&ctx.recorder, &written, &note).await;
    }
    Ok(comeback)
}
