//! One send, start to end: take a turn in the send line (without blocking a reconcile slot),
//! check the stop signal, write the intent, call AWS, tell the rate search and the metrics how
//! it went, record the outcome (re-reading on conflict), and keep the outcome in memory when
//! it cannot be recorded.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::api::arn::ChannelArn;
use crate::api::reason::Reason;
use crate::api::resource::{
    ContactChannelActivation, ContactChannelActivationStatus, SendInFlight,
};
use crate::aws::assume::RoleSession;
use crate::pacing::line::{Permit, SendLine};
use crate::pacing::lines::QuotaScope;
use crate::reconcile::context::{Context, ReconcileError, Requeue, jitter, log_read};
use crate::reconcile::events;
use crate::reconcile::ledger::Unrecorded;
use crate::reconcile::metrics::gauge;
use crate::reconcile::records::RecordedCall;
use crate::reconcile::status::{self, StatusError};
use crate::rules::activation;
use crate::rules::decide::{self, Decision, Remembered};
use crate::rules::note::{Call, EventType, Note};
use crate::rules::outcome::{SendOutcome, may_have_sent};

/// How soon a send is tried again while the object caches have not listed every object
/// (their recent calls count for the channel limits).
const UNSYNCED_RECHECK: Duration = Duration::from_secs(1);
/// How often an outcome write is retried on conflicts before it is left to memory.
const OUTCOME_WRITE_TRIES: usize = 5;

/// What a send decision needs: the object as read, and what the decision said.
pub struct Planned<'a> {
    pub object: &'a ContactChannelActivation,
    pub uid: &'a str,
    pub channel: ChannelArn,
    pub region: String,
    pub intent: ContactChannelActivationStatus,
    /// Ask GetContactChannel first (spec.skipIfActivated, first call of the generation).
    pub check_first: bool,
    /// The role to call as (spec.roleArn, admitted by the tenancy guards).
    pub role: Option<RoleSession>,
}

pub async fn send(ctx: &Context, planned: Planned<'_>) -> Result<Requeue, ReconcileError> {
    let Planned {
        object,
        uid,
        channel,
        region,
        mut intent,
        check_first,
        role,
    } = planned;
    // The channel's limits come first: a deferred send holds no slot of the global rate.
    if !ctx.channels.is_synced() {
        let why = "waiting for the operator to read the channels' recent sends (just started)";
        return wait_in_line(ctx, object, uid, &intent, why, Some(UNSYNCED_RECHECK)).await;
    }
    if let Err(until) = ctx.channels.book(&channel, uid, Timestamp::now()) {
        return defer(ctx, object, uid, &channel, intent, until).await;
    }
    let wake = ObjectRef::new(&object.name_any()).within(&object.namespace().unwrap_or_default());
    // The quota scope's own line: another account's or region's throttling is not ours.
    let (scope, line) = ctx.lines.line(QuotaScope::of(
        &region,
        role.as_ref().map(|r| r.role_arn.as_str()),
    ));
    let turn = line.take_turn(uid, wake.clone());
    ctx.metrics
        .waiting_for_send_slot
        .set(gauge(ctx.lines.waiting()));
    ctx.metrics.set_rates(&scope, line.rates());
    let permit = match turn {
        Ok(permit) => permit,
        Err(fallback) => {
            let why = format!(
                "waiting for its turn to send (the send line of account {}, region {})",
                scope.account, scope.region
            );
            return wait_in_line(ctx, object, uid, &intent, &why, Some(fallback)).await;
        }
    };
    // After SIGTERM or a lost lease no new call starts: the next instance decides afresh.
    if ctx.stopping() {
        ctx.channels.release(&channel, uid);
        return Ok(None);
    }
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<ContactChannelActivation> = Api::namespaced(ctx.client.clone(), &namespace);
    // The read comes before the intent, so it cannot make a second code: at worst a channel
    // activated a moment later still gets this generation's one code.
    let target = Target {
        region: &region,
        channel: &channel,
        role: role.as_ref(),
    };
    let skipped = if check_first {
        skip_activated(ctx, &api, object, &target, &mut intent).await
    } else {
        Ok(false)
    };
    if !matches!(skipped, Ok(false)) {
        ctx.channels.release(&channel, uid);
        return skipped.map(|_| None);
    }
    let sender = ctx.aws.sender(&region, role.as_ref()).await;
    // The pre-send read and the AssumeRole may have taken a while: a stop signal since then
    // still keeps the call from starting.
    if ctx.stopping() {
        ctx.channels.release(&channel, uid);
        return Ok(None);
    }
    let Some(flight) = intent.send_in_flight.as_mut() else {
        ctx.channels.release(&channel, uid);
        return Ok(None);
    };
    flight.started_time = Time(Timestamp::now());
    let flight = flight.clone();

    if let Err(fallback) = line.confirm(uid, permit, wake) {
        ctx.channels.release(&channel, uid);
        return Ok(Some(fallback));
    }
    ctx.ledger.start(uid, &flight);
    // Only a successful intent write licenses the call: a conflict here means the object
    // changed, and the fresh copy gets its own decision.
    let after_intent = match ctx.write_status(&api, object, intent).await {
        Ok(written) => written,
        Err(error) => {
            ctx.ledger.finish(uid);
            ctx.channels.release(&channel, uid);
            return Err(error.into());
        }
    };

    tokio::time::sleep(line.call_wait()).await;
    let called = Instant::now();
    let outcome = sender.send_activation_code(&channel).await;
    ctx.metrics.observe_call("SendActivationCode", called);
    ctx.channels.called(
        &channel,
        uid,
        flight.started_time.0,
        may_have_sent(&outcome),
    );
    if may_have_sent(&outcome) {
        // The channel's record outlives this object; written beside the outcome, not before
        // it (a crash in between leaves the intent in the status, which counts as well).
        let records = ctx.records.clone();
        let (key, call) = (
            channel.key(),
            RecordedCall {
                uid: uid.to_owned(),
                time: flight.started_time.0,
            },
        );
        tokio::spawn(async move { records.add(&key, call).await });
    }
    observe(ctx, &line, &outcome, permit);
    ctx.metrics.set_rates(&scope, line.rates());
    let request_id = match &outcome {
        Ok(sent) => sent.request_id.as_deref(),
        Err(failure) => failure.request_id.as_deref(),
    };
    info!(object = %object.name_any(), %namespace, %uid, generation = flight.generation, attempt = flight.attempt, %region, operation = Call::SendActivationCode.as_str(), outcome = label(&outcome).as_str(), request_id = request_id.unwrap_or("none"), "AWS call");

    let recorded = record(ctx, &api, after_intent, &flight, &outcome).await;
    let result = match recorded {
        Ok((written, requeue, note)) => {
            events::publish(&ctx.recorder, &written, &note).await;
            Ok(requeue)
        }
        Err(StatusError::Superseded | StatusError::Gone) => Ok(None),
        Err(error) => {
            warn!(object = %object.name_any(), %namespace, %error, "outcome not recorded yet; kept in memory and retried");
            ctx.ledger.remember(
                uid,
                Unrecorded {
                    namespace,
                    name: object.name_any(),
                    remembered: Remembered { flight, outcome },
                },
            );
            Err(error.into())
        }
    };
    ctx.ledger.finish(uid);
    result
}

/// Reads the channel before its first code: ACTIVATED records AlreadyActivated and returns
/// true (no code); otherwise notes what AWS said in the intent, or, when the read fails,
/// says so in an Event and lets the send go on.
async fn skip_activated(
    ctx: &Context,
    api: &Api<ContactChannelActivation>,
    object: &ContactChannelActivation,
    target: &Target<'_>,
    intent: &mut ContactChannelActivationStatus,
) -> Result<bool, ReconcileError> {
    let called = Instant::now();
    let answer = ctx
        .aws
        .get_contact_channel(target.region, target.channel, target.role)
        .await;
    ctx.metrics.observe_call("GetContactChannel", called);
    log_read(object, &answer);
    let now = Timestamp::now();
    match answer {
        Ok(state) if state.activation_status == activation::ACTIVATED => {
            let mut before = intent.clone();
            before.attempts = before.attempts.saturating_sub(1);
            let generation = object.metadata.generation.unwrap_or_default();
            let mut status = activation::already_activated(&before, generation, &state, now);
            decide::finish(&mut status, &object.spec, now);
            let written = ctx.write_status(api, object, status).await?;
            let note = Note {
                type_: EventType::Normal,
                reason: Reason::AlreadyActivated,
                call: Call::GetContactChannel,
                message: "AWS reports the channel already ACTIVATED: no code sent".to_owned(),
            };
            events::publish(&ctx.recorder, &written, &note).await;
            Ok(true)
        }
        Ok(state) => {
            intent.activation_status = Some(state.activation_status);
            intent.channel_type = state.channel_type.or(intent.channel_type.take());
            intent.last_activation_check_time = Some(Time(now));
            Ok(false)
        }
        Err(failure) => {
            let note = Note {
                type_: EventType::Warning,
                reason: failure.reason,
                call: Call::GetContactChannel,
                message: format!(
                    "GetContactChannel failed ({}: {}); sending the code as usual",
                    failure.code, failure.message
                ),
            };
            events::publish(&ctx.recorder, object, &note).await;
            Ok(false)
        }
    }
}

/// The send waits for its turn: the status says so once (Pending, Reconciling), then the
/// object waits for its wake-up or `requeue`.
async fn wait_in_line(
    ctx: &Context,
    object: &ContactChannelActivation,
    uid: &str,
    intent: &ContactChannelActivationStatus,
    why: &str,
    requeue: Option<Duration>,
) -> Result<Requeue, ReconcileError> {
    let previous = object.status_or_default();
    match decide::queued(&previous, &object.spec, intent, why, Timestamp::now()) {
        Some(status) => {
            ctx.record(object, uid, status, None).await?;
            Ok(requeue)
        }
        None => Ok(requeue),
    }
}

/// Where a call goes, and as whom.
struct Target<'a> {
    region: &'a str,
    channel: &'a ChannelArn,
    role: Option<&'a RoleSession>,
}

/// Records that the send waits for its channel's cooldown or hourly cap, until `until`.
async fn defer(
    ctx: &Context,
    object: &ContactChannelActivation,
    uid: &str,
    channel: &ChannelArn,
    intent: ContactChannelActivationStatus,
    until: Timestamp,
) -> Result<Requeue, ReconcileError> {
    let limits = ctx.channels.limits();
    let why = format!(
        "{channel} may get at most one code every {} and {} an hour, whichever objects ask (the operator's --channel-cooldown and --channel-sends-per-hour)",
        jiff::SignedDuration::try_from(limits.cooldown)
            .map_or_else(|_| format!("{:?}", limits.cooldown), |d| format!("{d:#}")),
        limits.per_hour
    );
    let previous = object.status_or_default();
    match decide::defer_for_channel(
        &previous,
        &object.spec,
        intent,
        until,
        why,
        Timestamp::now(),
    ) {
        Decision::Record {
            status,
            requeue,
            note,
        } => {
            ctx.record(object, uid, status, note).await?;
            Ok(requeue)
        }
        Decision::Wait(wait) => Ok(Some(wait)),
        Decision::Idle | Decision::Send { .. } => Ok(None),
    }
}

fn label(outcome: &SendOutcome) -> Reason {
    match outcome {
        Ok(_) => Reason::Sent,
        Err(failure) => failure.reason,
    }
}

fn observe(ctx: &Context, line: &SendLine, outcome: &SendOutcome, permit: Permit) {
    let label = label(outcome);
    ctx.metrics.count_send(label.as_str());
    if label == Reason::Throttled {
        ctx.metrics.throttles.inc();
        line.on_throttle(permit);
    } else if label == Reason::Sent {
        line.on_success(permit);
    }
}

/// Records the outcome of the call that `flight` announced. On a conflict the object is read
/// again, and the outcome applied to the fresh status, as long as the fresh status still
/// carries this very in-flight call (so a spec edit during the call loses nothing).
pub async fn record(
    ctx: &Context,
    api: &Api<ContactChannelActivation>,
    from: ContactChannelActivation,
    flight: &SendInFlight,
    outcome: &SendOutcome,
) -> Result<(ContactChannelActivation, Option<Duration>, Note), StatusError> {
    let mut current = from;
    let mut last_error = StatusError::Conflict;
    for _ in 0..OUTCOME_WRITE_TRIES {
        let status = current.status_or_default();
        if !status
            .send_in_flight
            .as_ref()
            .is_some_and(|f| f.same_call(flight))
        {
            return Err(StatusError::Superseded);
        }
        let now = Timestamp::now();
        let (mut next, requeue, note) =
            decide::record_outcome(&status, outcome, &ctx.settings, now, jitter());
        decide::finish(&mut next, &current.spec, now);
        match ctx.write_status(api, &current, next).await {
            Ok(written) => return Ok((written, requeue, note)),
            Err(StatusError::Conflict) => {
                last_error = StatusError::Conflict;
                current = status::get(api, &current.name_any(), ctx.api_timeout).await?;
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error)
}

/// Records every outcome still kept in memory, each with a few tries, so that a clean stop
/// leaves no call for the next instance to call lost. Returns how many are still unrecorded.
pub async fn flush_unrecorded(ctx: &Context, tries: usize) -> usize {
    let mut left = 0;
    for (uid, unrecorded) in ctx.ledger.all_unrecorded() {
        let api: Api<ContactChannelActivation> =
            Api::namespaced(ctx.client.clone(), &unrecorded.namespace);
        let Remembered { flight, outcome } = &unrecorded.remembered;
        let mut done = false;
        for _ in 0..tries {
            let result = match status::get(&api, &unrecorded.name, ctx.api_timeout).await {
                Ok(object) => record(ctx, &api, object, flight, outcome).await,
                Err(error) => Err(error),
            };
            match result {
                Ok((written, _, note)) => {
                    events::publish(&ctx.recorder, &written, &note).await;
                    done = true;
                }
                Err(StatusError::Superseded | StatusError::Gone) => done = true,
                Err(error) => {
                    warn!(object = %unrecorded.name, namespace = %unrecorded.namespace, %error, "flushing a kept outcome failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            break;
        }
        if done {
            ctx.ledger.forget(&uid);
        } else {
            left += 1;
        }
    }
    left
}
