//! The operator's Prometheus metrics, registered into a registry handed in. No per-object
//! labels: cardinality stays flat at 10,000 objects.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::aws::requests::AwsRequests;
use crate::pacing::lines::QuotaScope;
use crate::reconcile::inventory::ObjectLabels;

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
    /// Hand it to [`crate::aws::client::SsmContacts::counting`].
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

    /// Counts one AWS call's duration under its operation.
    pub fn observe_call(&self, operation: &str, started: Instant) {
        self.aws_call_duration
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
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
