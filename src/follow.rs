//! The I/O half of following a channel to activation: read the code Secret when one is
//! referenced, take a slot of the check budget (its own, so checks never starve sends; see
//! [`crate::budget`]), call GetContactChannel or ActivateContactChannel, write what
//! [`crate::activation`] decided.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tokio::time::Instant;

use crate::activation::{self, CodeSecret, Step};
use crate::arn::{ChannelArn, resolve_region};
use crate::assume::RoleSession;
use crate::controller::{Context, ReconcileError};
use crate::decide;
use crate::resource::{ContactChannelActivation, ContactChannelActivationStatus as Status};
use crate::secret;
use crate::send::observe_call;
use crate::telemetry::{self, Note};

/// Follows the activation of an object whose current generation's code was sent.
pub async fn follow(
    ctx: &Context,
    object: &ContactChannelActivation,
    status: &Status,
    generation: i64,
    role: Option<&RoleSession>,
) -> Result<Action, ReconcileError> {
    let spec = &object.spec;
    let Ok(channel) = ChannelArn::parse(&spec.contact_channel_id) else {
        return Ok(Action::await_change());
    };
    let Some(region) = resolve_region(
        spec.region.as_deref(),
        &channel,
        ctx.settings.default_region.as_deref(),
    ) else {
        return Ok(Action::await_change());
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
        Step::Idle => return Ok(Action::await_change()),
        Step::Wait(wait) => return Ok(Action::requeue(wait)),
        Step::Record { status, note } => (*status, Some(note)),
        Step::Check => {
            if let Err(wait) = take_check_slot(ctx, object) {
                return Ok(Action::requeue(wait));
            }
            let called = Instant::now();
            let answer = ctx.aws.get_contact_channel(&region, &channel, role).await;
            observe_call(ctx, "GetContactChannel", called);
            activation::record_check(status, generation, &answer, Timestamp::now())
        }
        Step::Enter { version } => {
            let Some(code) = code else {
                return Ok(Action::await_change());
            };
            if let Err(wait) = take_check_slot(ctx, object) {
                return Ok(Action::requeue(wait));
            }
            let called = Instant::now();
            let answer = ctx
                .aws
                .activate_contact_channel(&region, &channel, &code, role)
                .await;
            observe_call(ctx, "ActivateContactChannel", called);
            let (next, note) =
                activation::record_entry(status, generation, &version, &answer, Timestamp::now());
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
        .set(telemetry::gauge(ctx.check_budget.waiting()));
    taken
}

async fn write(
    ctx: &Context,
    api: &Api<ContactChannelActivation>,
    object: &ContactChannelActivation,
    mut next: Status,
    note: Option<Note>,
    secret: &CodeSecret,
) -> Result<Action, ReconcileError> {
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
        telemetry::publish(&ctx.recorder, &written, &note).await;
    }
    Ok(comeback.map_or_else(Action::await_change, Action::requeue))
}
