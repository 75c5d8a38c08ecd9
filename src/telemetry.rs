//! Logs (tracing, text or JSON), Prometheus metrics, and Kubernetes Events.

use std::io::IsTerminal;
use std::sync::atomic::AtomicU64;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType as KubeEventType};

use crate::events::Recorder;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::{EnvFilter, prelude::*};

use crate::inventory::ReasonLabels;
use crate::outcome::Reason;
use crate::resource::ContactChannelActivation;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event to publish along with a status write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: Reason,
    pub message: String,
}

/// Crates whose trace output may contain request or response bodies.
const HTTP_CLIENT_TARGETS: [&str; 9] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_ssmcontacts",
    "hyper",
    "hyper_util",
    "h2",
    "kube_client",
    "tower_http",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber; the filter comes from RUST_LOG, else `info`.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // At trace level the HTTP clients print request bodies, and an ActivateContactChannel
    // body holds the code: they are capped at debug whatever RUST_LOG asks.
    let filter = HTTP_CLIENT_TARGETS
        .iter()
        .filter_map(|target| format!("{target}=debug").parse().ok())
        .fold(filter, EnvFilter::add_directive);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        // Colour codes only on a terminal: in a log file or a collector they are noise.
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .init(),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn aws_call_histogram() -> Histogram {
    // 10 ms to ~80 s: a healthy call takes tens of milliseconds, a held one the call timeout.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// The operator's metrics. No per-object labels: cardinality stays flat at 10,000 objects.
#[derive(Clone)]
pub struct Metrics {
    pub sends: Family<OutcomeLabels, Counter>,
    pub throttles: Counter,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub status_writes: Family<ResultLabels, Counter>,
    pub reconciles_in_flight: Gauge,
    pub waiting_for_send_slot: Gauge,
    pub checks_waiting: Gauge,
    pub send_rate: Gauge<f64, AtomicU64>,
    pub send_rate_held: Gauge<f64, AtomicU64>,
    pub send_rate_throttled: Gauge<f64, AtomicU64>,
    pub leader: Gauge,
    pub watch_errors: Counter,
    pub aws_call_duration: Histograms<OperationLabels>,
    pub objects: Family<ReasonLabels, Gauge>,
    pub build_info: Family<BuildLabels, Gauge>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            sends: Family::default(),
            throttles: Counter::default(),
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            status_writes: Family::default(),
            reconciles_in_flight: Gauge::default(),
            waiting_for_send_slot: Gauge::default(),
            checks_waiting: Gauge::default(),
            send_rate: Gauge::default(),
            send_rate_held: Gauge::default(),
            send_rate_throttled: Gauge::default(),
            leader: Gauge::default(),
            watch_errors: Counter::default(),
            aws_call_duration: Family::new_with_constructor(aws_call_histogram),
            objects: Family::default(),
            build_info: Family::default(),
        };
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        let r = registry.sub_registry_with_prefix("ssmcontacts");
        r.register(
            "sends",
            "SendActivationCode calls by outcome (the status reason)",
            metrics.sends.clone(),
        );
        r.register(
            "throttles",
            "SendActivationCode calls answered with ThrottlingException",
            metrics.throttles.clone(),
        );
        r.register(
            "reconciles",
            "Reconciliations by result",
            metrics.reconciles.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time spent in one reconciliation",
            metrics.reconcile_duration.clone(),
        );
        r.register(
            "status_writes",
            "Status subresource writes by result",
            metrics.status_writes.clone(),
        );
        r.register(
            "reconciles_in_flight",
            "Reconciliations running now",
            metrics.reconciles_in_flight.clone(),
        );
        r.register(
            "send_queue_depth",
            "Objects waiting in line for a turn of the global send rate",
            metrics.waiting_for_send_slot.clone(),
        );
        r.register(
            "activation_checks_waiting",
            "Objects waiting for their slot of the activation check budget",
            metrics.checks_waiting.clone(),
        );
        r.register(
            "send_rate_per_second",
            "Current global send rate, as found against AWS's throttling",
            metrics.send_rate.clone(),
        );
        r.register(
            "send_rate_held_per_second",
            "Highest global send rate that held without a throttle",
            metrics.send_rate_held.clone(),
        );
        r.register(
            "send_rate_throttled_per_second",
            "Lowest global send rate throttled in the current search (0: none, probing upward)",
            metrics.send_rate_throttled.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader lease",
            metrics.leader.clone(),
        );
        r.register(
            "watch_errors",
            "Errors of the watches on ContactChannelActivations (each is retried with backoff)",
            metrics.watch_errors.clone(),
        );
        r.register(
            "aws_call_duration_seconds",
            "Time of each AWS call, by operation, whatever its outcome",
            metrics.aws_call_duration.clone(),
        );
        r.register(
            "objects",
            "ContactChannelActivations by the reason of their CodeSent condition",
            metrics.objects.clone(),
        );
        r.register(
            "build_info",
            "Always 1; the operator's version as a label",
            metrics.build_info.clone(),
        );
        metrics
    }

    pub fn count_send(&self, outcome: &str) {
        self.sends
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn count_status_write(&self, result: &str) {
        self.status_writes
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }
}

/// A count as a gauge's value, saturating instead of wrapping.
pub fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Deadline for publishing one Event: a half-open connection must not hold a reconcile.
const EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes a note as an Event on the object. The recorder ([`crate::events`]) folds repeats of the same
/// event into a series, so a retry loop does not flood the namespace. Failing to publish an
/// Event is logged, never fatal: the status already carries the same facts.
pub async fn publish(recorder: &Recorder, object: &ContactChannelActivation, note: &Note) {
    publish_to(recorder, &object.object_ref(&()), note).await;
}

pub async fn publish_to(recorder: &Recorder, reference: &ObjectReference, note: &Note) {
    let event = Event {
        type_: match note.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: note.reason.as_str().to_owned(),
        note: Some(truncate(&note.message, 1000)),
        action: "SendActivationCode".to_owned(),
        secondary: None,
    };
    match tokio::time::timeout(EVENT_TIMEOUT, recorder.publish(&event, reference)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, reason = note.reason.as_str(), "could not publish an Event")
        }
        Err(_) => {
            tracing::warn!(timeout = ?EVENT_TIMEOUT, reason = note.reason.as_str(), "could not publish an Event in time")
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
