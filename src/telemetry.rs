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
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::{EnvFilter, prelude::*};

use crate::inventory::ObjectLabels;
use crate::lines::QuotaScope;
use crate::outcome::Reason;
use crate::requests::AwsRequests;
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
    /// What the Event's `action` names: the call whose outcome it reports.
    pub call: Call,
    pub message: String,
}

/// The call an Event reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    SendActivationCode,
    GetContactChannel,
    ActivateContactChannel,
    AssumeRole,
    /// Reading the object itself from the API server.
    ReadObject,
}

impl Call {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SendActivationCode => "SendActivationCode",
            Self::GetContactChannel => "GetContactChannel",
            Self::ActivateContactChannel => "ActivateContactChannel",
            Self::AssumeRole => "AssumeRole",
            Self::ReadObject => "ReadObject",
        }
    }
}

/// Crates whose output at trace may carry a request body or something derived from it (an
/// ActivateContactChannel body holds the code; the SigV4 signer logs the canonical request
/// with the body's SHA-256, from which six digits are found in a million guesses), each with
/// the most it may say whatever RUST_LOG asks. A cap only lowers a level, never raises it.
const CAPS: [(&str, LevelFilter); 10] = [
    ("aws_sigv4", LevelFilter::INFO),
    ("aws_smithy_runtime", LevelFilter::DEBUG),
    ("aws_smithy_runtime_api", LevelFilter::DEBUG),
    ("aws_smithy_http_client", LevelFilter::DEBUG),
    ("aws_sdk_ssmcontacts", LevelFilter::DEBUG),
    ("hyper", LevelFilter::DEBUG),
    ("hyper_util", LevelFilter::DEBUG),
    ("h2", LevelFilter::DEBUG),
    ("kube_client", LevelFilter::DEBUG),
    ("tower_http", LevelFilter::DEBUG),
];

/// RUST_LOG (unset or unreadable: `info` for everything), with the [`CAPS`] on top: an event
/// passes only where both let it through.
fn log_filter<S>(rust_log: Option<&str>) -> impl Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let asked = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let caps = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS);
    asked.and(caps)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber; the filter comes from RUST_LOG, else `info`, capped.
pub fn init_logging(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = log_filter(rust_log.as_deref());
    match format {
        // Colour codes only on a terminal: in a log file or a collector they are noise.
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(filter),
            )
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(filter),
            )
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

/// A quota scope: the calling account (`self` for the operator's own credentials) and region.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub account: String,
    pub region: String,
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
    pub send_rate: Family<ScopeLabels, Gauge<f64, AtomicU64>>,
    pub send_rate_held: Family<ScopeLabels, Gauge<f64, AtomicU64>>,
    pub send_rate_throttled: Family<ScopeLabels, Gauge<f64, AtomicU64>>,
    pub leader: Gauge,
    pub watch_errors: Counter,
    pub aws_call_duration: Histograms<OperationLabels>,
    /// Hand it to [`crate::aws::SsmContacts::counting`].
    pub aws_requests: AwsRequests,
    pub objects: Family<ObjectLabels, Gauge>,
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
            send_rate: Family::default(),
            send_rate_held: Family::default(),
            send_rate_throttled: Family::default(),
            leader: Gauge::default(),
            watch_errors: Counter::default(),
            aws_call_duration: Family::new_with_constructor(aws_call_histogram),
            aws_requests: AwsRequests::default(),
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
            "Current send rate of a quota scope (calling account, region), as found against AWS's throttling",
            metrics.send_rate.clone(),
        );
        r.register(
            "send_rate_held_per_second",
            "Highest send rate of a quota scope that held without a throttle",
            metrics.send_rate_held.clone(),
        );
        r.register(
            "send_rate_throttled_per_second",
            "Lowest send rate of a quota scope throttled in the current search (0: none, probing upward)",
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
            "aws_requests",
            "AWS requests (SSM Contacts and STS AssumeRole) by operation and error code (Success, a known AWS code, the operator's reason when AWS gave none, or Other)",
            metrics.aws_requests.0.clone(),
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

    /// The rate search's state in one quota scope: rate, highest held, lowest throttled.
    pub fn set_rates(&self, scope: &QuotaScope, (rate, held, throttled): (f64, f64, Option<f64>)) {
        let labels = ScopeLabels {
            account: scope.account.clone(),
            region: scope.region.clone(),
        };
        self.send_rate.get_or_create(&labels).set(rate);
        self.send_rate_held.get_or_create(&labels).set(held);
        self.send_rate_throttled
            .get_or_create(&labels)
            .set(throttled.unwrap_or(0.0));
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
        note: Some(truncate_note(&note.message)),
        action: note.call.as_str().to_owned(),
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

/// The API server refuses an Event note longer than this many bytes.
const MAX_NOTE_BYTES: usize = 1024;

/// `text` within [`MAX_NOTE_BYTES`], cut on a character boundary and marked as cut.
fn truncate_note(text: &str) -> String {
    const MARK: &str = "...";
    if text.len() <= MAX_NOTE_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_NOTE_BYTES - MARK.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{MARK}", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    /// An Event note stays within 1,024 bytes, cut on a character boundary, and says it was cut.
    fn event_notes_are_cut_at_1024_bytes() {
        assert_eq!(truncate_note("short"), "short");
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(truncate_note(&exact), exact);
        for filler in ["é", "€", "🙂", "a"] {
            let long = format!("x{}", filler.repeat(2000));
            let cut = truncate_note(&long);
            assert!(cut.len() <= MAX_NOTE_BYTES, "{} bytes", cut.len());
            assert!(cut.len() > MAX_NOTE_BYTES - 8);
            assert!(cut.ends_with("..."));
            assert!(long.starts_with(cut.trim_end_matches("...")));
        }
    }

    /// What a subscriber with `log_filter(rust_log)` writes for one event per (target, level).
    fn written(rust_log: Option<&str>) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .with_filter(log_filter(rust_log));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_sigv4::http_request::sign", "sigv4-trace");
            tracing::info!(target: "aws_sigv4", "sigv4-info");
            tracing::trace!(target: "hyper::proto", "hyper-trace");
            tracing::debug!(target: "hyper::proto", "hyper-debug");
            tracing::info!(target: "hyper::proto", "hyper-info");
            tracing::trace!(target: "ssm_contacts_operator::send", "own-trace");
            tracing::debug!(target: "ssm_contacts_operator::send", "own-debug");
            tracing::info!(target: "ssm_contacts_operator::send", "own-info");
        });
        let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    /// RUST_LOG unset: info for everything, the capped crates included, and nothing below it.
    fn unset_is_info_everywhere() {
        let log = written(None);
        for line in ["sigv4-info", "hyper-info", "own-info"] {
            assert!(log.contains(line), "{line} missing: {log}");
        }
        assert!(!log.contains("DEBUG") && !log.contains("TRACE"), "{log}");
    }

    #[test]
    /// At trace, the capped crates stop at their cap; the signer says nothing below info.
    fn trace_is_capped() {
        let log = written(Some("trace"));
        assert!(log.contains("own-trace"), "{log}");
        assert!(log.contains("hyper-debug"), "{log}");
        assert!(!log.contains("hyper-trace"), "{log}");
        assert!(!log.contains("sigv4-trace"), "{log}");
        assert!(log.contains("sigv4-info"), "{log}");
    }

    #[test]
    /// A cap never raises a crate above what RUST_LOG asks.
    fn caps_only_lower() {
        let log = written(Some("warn,ssm_contacts_operator=debug"));
        assert!(
            !log.contains("hyper-debug") && !log.contains("hyper-info"),
            "{log}"
        );
        assert!(
            log.contains("own-debug") && !log.contains("own-trace"),
            "{log}"
        );
        // A directive that does not parse falls back to info, as an unset RUST_LOG does.
        let log = written(Some("=[=="));
        assert!(
            log.contains("own-info") && !log.contains("own-debug"),
            "{log}"
        );
    }
}
