//! The shipped alerts and dashboard (examples/monitoring/) reference only metrics the
//! operator really exports: a renamed metric must not leave a silent alert behind.

use std::collections::BTreeSet;
use std::path::Path;

use prometheus_client::registry::Registry;
use ssm_contacts_operator::reconcile::metrics::Metrics;
use ssm_contacts_operator::rules::note::Call;
use ssm_contacts_operator::runtime::process_metrics::ProcessCollector;

/// Every series name the operator can export, histogram and counter suffixes included.
fn exported() -> BTreeSet<String> {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    registry.register_collector(Box::new(ProcessCollector::default()));
    // Families export nothing until a label set exists; create one of each.
    metrics.count_send("Sent");
    metrics.count_status_write("ok");
    metrics
        .aws_requests
        .count(Call::SendActivationCode, "Success");
    metrics.set_rates(
        &ssm_contacts_operator::pacing::lines::QuotaScope::of("us-east-1", None),
        (1.0, 1.0, None),
    );
    metrics
        .reconciles
        .get_or_create(&ssm_contacts_operator::reconcile::metrics::ResultLabels {
            result: "ok".into(),
        })
        .inc();
    metrics
        .aws_call_duration
        .get_or_create(
            &ssm_contacts_operator::reconcile::metrics::OperationLabels {
                operation: "SendActivationCode".into(),
            },
        )
        .observe(0.1);
    metrics
        .objects
        .get_or_create(&ssm_contacts_operator::reconcile::inventory::ObjectLabels {
            reason: "Sent".into(),
            activation: "Activated".into(),
        })
        .set(1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

fn referenced(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("ssmcontacts_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
/// Each metric the PrometheusRule and the Grafana dashboard use is exported.
fn alerts_and_dashboard_use_existing_metrics() {
    let exported = exported();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monitoring");
    for file in ["prometheusrule.yaml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(root.join(file)).expect("readable");
        let names = referenced(&text);
        assert!(names.len() >= 5, "{file} references only {names:?}");
        let missing: Vec<_> = names.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} references metrics that do not exist: {missing:?}; exported: {exported:?}"
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana-dashboard.json")).expect("readable"),
    )
    .expect("the dashboard is JSON");
    assert!(
        dashboard["panels"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
}

#[test]
/// docs/metrics.md documents every metric the operator exports.
fn metrics_page_documents_every_metric() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .expect("readable");
    for name in exported() {
        let base = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            page.contains(base),
            "docs/metrics.md does not document {name}"
        );
    }
}
