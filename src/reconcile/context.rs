//! What every reconcile shares ([`Context`]: clients, caches, budgets, settings) and how
//! one fails ([`ReconcileError`]). The status writer and the Event publisher are reached
//! through it, so each step of a pass writes and reports the same way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::api::Api;
use kube::runtime::events::Reporter;
use kube::{Client, ResourceExt};
use rand::Rng;
use tracing::info;

use crate::api::resource::{ContactChannelActivation, ContactChannelActivationStatus};
use crate::aws::client::SsmContacts;
use crate::pacing::bucket::RateSettings;
use crate::pacing::budget::CheckBudget;
use crate::pacing::lines::SendLines;
use crate::reconcile::channels::Channels;
use crate::reconcile::events::{self, Recorder};
use crate::reconcile::inventory::Inventory;
use crate::reconcile::ledger::Ledger;
use crate::reconcile::metrics::Metrics;
use crate::reconcile::namespaces::NamespaceAnnotations;
use crate::reconcile::own_writes::OwnWrites;
use crate::reconcile::records::Records;
use crate::reconcile::status::{self, StatusError};
use crate::reconcile::unreadable::Reported;
use crate::rules::activation::{CheckOutcome, CheckPolicy};
use crate::rules::cooldown::ChannelLimits;
use crate::rules::decide::Settings;
use crate::rules::note::{Call, Note};
use crate::rules::outcome::SendFailure;
use crate::rules::tenancy::Tenancy;

/// When to look at an object again: on its next change (`None`), or after the delay.
pub type Requeue = Option<Duration>;

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

    /// Writes a decided status and publishes its note; the ledger learns what was recorded.
    pub async fn record(
        &self,
        object: &ContactChannelActivation,
        uid: &str,
        status: ContactChannelActivationStatus,
        note: Option<Note>,
    ) -> Result<(), ReconcileError> {
        let api: Api<ContactChannelActivation> =
            Api::namespaced(self.client.clone(), &object.namespace().unwrap_or_default());
        let written = self.write_status(&api, object, status).await?;
        let written_status = written.status.as_ref();
        self.ledger
            .recorded(uid, written_status.and_then(|s| s.send_in_flight.as_ref()));
        if let Some(note) = note {
            events::publish(&self.recorder, &written, &note).await;
        }
        Ok(())
    }
}

/// The abuse guards' settings.
#[derive(Clone, Debug)]
pub struct Guards {
    pub tenancy: Tenancy,
    pub limits: ChannelLimits,
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

/// The one log line of every AWS call an object makes: the object, its namespace and uid,
/// the operation, how it ended and AWS's request id (what AWS support asks for).
pub fn log_call(
    object: &ContactChannelActivation,
    call: Call,
    outcome: &str,
    request_id: Option<&str>,
) {
    let request_id = request_id.unwrap_or("none");
    info!(object = %object.name_any(), namespace = object.namespace().unwrap_or_default(), uid = object.uid().unwrap_or_default(), operation = call.as_str(), %outcome, %request_id, "AWS call");
}

/// [`log_call`] for a GetContactChannel: the activation status AWS reported, or the reason
/// the read failed.
pub fn log_read(object: &ContactChannelActivation, answer: &CheckOutcome) {
    match answer {
        Ok(state) => log_call(
            object,
            Call::GetContactChannel,
            &state.activation_status,
            state.request_id.as_deref(),
        ),
        Err(failure) => log_failed(object, Call::GetContactChannel, failure),
    }
}

/// [`log_call`] for a call that failed.
pub fn log_failed(object: &ContactChannelActivation, call: Call, failure: &SendFailure) {
    log_call(
        object,
        call,
        failure.reason.as_str(),
        failure.request_id.as_deref(),
    );
}

/// A uniform draw in [0, 1) for the backoff's jitter; the rules take it as an argument so
/// that they stay pure.
pub fn jitter() -> f64 {
    rand::rng().random::<f64>()
}
