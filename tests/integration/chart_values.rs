//! The chart's value sets against the real API server: each set of a table is rendered by the
//! real `helm template` and sent with `kubectl apply --dry-run=server`, so that the API server
//! (its schemas, the CRD's included, and its admission) judges every object the chart would
//! install; nothing is stored. The ServiceMonitor and PrometheusRule kinds come from minimal
//! prometheus-operator CRDs of this file's own (any field admitted), made once. A value set the
//! chart's schema refuses fails at `helm template`, and an extra object the API server refuses
//! fails the dry run: both show that these checks can fail.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::Scenario;
use crate::support::{RELEASE, Result, Suite, chart_dir, helm, run};

pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        scenario!(chart_values_pass_a_server_dry_run),
        scenario!(chart_values_refused_by_the_schema_or_the_api_server),
    ]
}

/// Just enough of a prometheus-operator CRD for the API server to serve `kind`.
fn monitoring_crd(kind: &str) -> String {
    let singular = kind.to_lowercase();
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {singular}s.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {{kind: {kind}, listKind: {kind}List, plural: {singular}s, singular: {singular}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

/// The value sets, each with a name for the failure message.
fn value_sets() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "every new knob on",
            json!({
                "commonLabels": {"team": "platform", "cost-center": "oncall"},
                "crds": {"keep": false},
                "deploymentAnnotations": {"reloader.stakater.com/auto": "true"},
                "revisionHistoryLimit": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                "extraArgs": ["--send-rate=5", "--concurrency=4"],
                "hostUsers": false,
                "serviceAccount": {"automountServiceAccountToken": false},
                // The token the operator needs, mounted by hand as the README shows.
                "automountServiceAccountToken": false,
                "extraVolumes": [{"name": "api-token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                ]}}],
                "extraVolumeMounts": [{"name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                "aws": {"credentials": {"secretName": "aws-keys", "sessionTokenKey": "AWS_SESSION_TOKEN"}},
                "serviceMonitor": {"enabled": true, "honorLabels": true,
                    "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}],
                    "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]},
                "prometheusRule": {"enabled": true, "additionalLabels": {"release": "kube-prometheus-stack"}},
                "grafanaDashboard": {"enabled": true, "annotations": {"grafana_folder": "Operators"}},
                "extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "{{ .Release.Name }}-knobs"}, "data": {"on": "all"}}],
            }),
        ),
        ("crds.enabled=false", json!({"crds": {"enabled": false}})),
        (
            "AWS credentials from a Secret (the Secret as an extra object)",
            json!({
                "aws": {"region": "us-east-1", "credentials": {"secretName": "aws-keys"}},
                "extraObjects": [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "aws-keys", "namespace": "{{ .Release.Namespace }}"},
                    "stringData": {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}}],
            }),
        ),
        (
            "extraObjects: a ConfigMap as a map and one as a string",
            json!({"extraObjects": [
                {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "{{ .Release.Name }}-extra", "namespace": "{{ .Release.Namespace }}"},
                    "data": {"release": "{{ .Release.Name }}"}},
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-a-string\n  labels:\n    release: {{ .Release.Name | quote }}\ndata:\n  a: b\n",
            ]}),
        ),
        (
            "monitoring on",
            json!({
                "serviceMonitor": {"enabled": true, "labels": {"release": "kube-prometheus-stack"}},
                "prometheusRule": {"enabled": true},
                "grafanaDashboard": {"enabled": true},
            }),
        ),
    ]
}

/// `helm template` of the chart with `values` into `namespace`: the manifest, or helm's error.
fn render(
    suite: &Suite,
    dir: &Path,
    namespace: &str,
    name: &str,
    values: &Value,
) -> Result<std::result::Result<String, String>> {
    let file = dir.join(format!("{}.json", slug(name)));
    std::fs::write(&file, serde_json::to_vec(values)?)?;
    let output = helm(suite, &dir.join("helm"))?
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", namespace, "--skip-tests", "-f"])
        .arg(&file)
        .output()?;
    Ok(if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    })
}

/// `kubectl apply --dry-run=server` of `manifest`: kubectl's output, or its error.
fn dry_run(
    suite: &Suite,
    dir: &Path,
    namespace: &str,
    name: &str,
    manifest: &str,
) -> Result<std::result::Result<String, String>> {
    let file = dir.join(format!("{}.yaml", slug(name)));
    std::fs::write(&file, manifest)?;
    let output = std::process::Command::new(&suite.kubectl)
        .arg("--kubeconfig")
        .arg(&suite.kubeconfig)
        .args(["apply", "--dry-run=server", "--namespace", namespace, "-f"])
        .arg(&file)
        .output()?;
    Ok(if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The objects of a manifest, by its top-level `kind:` lines.
fn kinds(manifest: &str) -> Vec<&str> {
    manifest
        .lines()
        .filter_map(|line| line.strip_prefix("kind: "))
        .map(str::trim)
        .collect()
}

/// The prometheus-operator kinds, served from here on (made once; other scenarios ignore them).
fn serve_monitoring_kinds(suite: &Suite, dir: &Path) -> Result {
    let file = dir.join("monitoring-crds.yaml");
    let crds = ["ServiceMonitor", "PrometheusRule"]
        .map(monitoring_crd)
        .join("---\n");
    std::fs::write(&file, crds)?;
    let kubectl = || {
        let mut command = std::process::Command::new(&suite.kubectl);
        command.arg("--kubeconfig").arg(&suite.kubeconfig);
        command
    };
    run(kubectl().args(["apply", "-f"]).arg(&file))?;
    run(kubectl().args([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/servicemonitors.monitoring.coreos.com",
        "crd/prometheusrules.monitoring.coreos.com",
    ]))?;
    Ok(())
}

/// Every value set renders, and the API server would accept every object of it.
async fn chart_values_pass_a_server_dry_run(suite: Arc<Suite>) -> Result {
    let dir = tempfile::tempdir()?;
    serve_monitoring_kinds(&suite, dir.path())?;
    let namespace = testenv::create_namespace(&suite.client, "chart-values").await?;
    let result = every_value_set(&suite, dir.path(), &namespace);
    delete_namespace(&suite, &namespace)?;
    result
}

fn every_value_set(suite: &Suite, dir: &Path, namespace: &str) -> Result {
    let mut failures = Vec::new();
    for (name, values) in value_sets() {
        let manifest = match render(suite, dir, namespace, name, &values)? {
            Ok(manifest) => manifest,
            Err(error) => {
                failures.push(format!("{name}: helm template failed: {error}"));
                continue;
            }
        };
        let objects = kinds(&manifest);
        match dry_run(suite, dir, namespace, name, &manifest)? {
            Ok(output) => {
                let accepted = output.matches("(server dry run)").count();
                if accepted != objects.len() {
                    failures.push(format!(
                        "{name}: {accepted} objects accepted of {} rendered ({objects:?}):\n{output}",
                        objects.len()
                    ));
                }
            }
            Err(error) => failures.push(format!("{name}: the API server refused: {error}")),
        }
        check_objects(name, &objects, &mut failures);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n").into())
    }
}

/// What each value set must have rendered, so that a knob that silently renders nothing fails.
fn check_objects(name: &str, objects: &[&str], failures: &mut Vec<String>) {
    let count = |kind: &str| objects.iter().filter(|k| **k == kind).count();
    let want: &[(&str, usize)] = match name {
        "defaults" => &[
            ("CustomResourceDefinition", 1),
            ("Deployment", 1),
            ("ServiceMonitor", 0),
            ("ConfigMap", 0),
        ],
        "every new knob on" => &[
            ("CustomResourceDefinition", 1),
            ("ServiceMonitor", 1),
            ("PrometheusRule", 1),
            ("ConfigMap", 2),
        ],
        "crds.enabled=false" => &[("CustomResourceDefinition", 0), ("Deployment", 1)],
        "AWS credentials from a Secret (the Secret as an extra object)" => &[("Secret", 1)],
        "extraObjects: a ConfigMap as a map and one as a string" => &[("ConfigMap", 2)],
        "monitoring on" => &[
            ("ServiceMonitor", 1),
            ("PrometheusRule", 1),
            ("ConfigMap", 1),
        ],
        _ => &[],
    };
    for (kind, n) in want {
        if count(kind) != *n {
            failures.push(format!(
                "{name}: {} {kind} rendered, want {n} ({objects:?})",
                count(kind)
            ));
        }
    }
}

/// A value the chart's schema refuses fails at `helm template`, naming the value; an extra
/// object the API server refuses (a name that is no DNS subdomain) fails the dry run.
async fn chart_values_refused_by_the_schema_or_the_api_server(suite: Arc<Suite>) -> Result {
    let dir = tempfile::tempdir()?;
    let namespace = testenv::create_namespace(&suite.client, "chart-refused").await?;
    let result = refusals(&suite, dir.path(), &namespace);
    delete_namespace(&suite, &namespace)?;
    result
}

fn refusals(suite: &Suite, dir: &Path, namespace: &str) -> Result {
    for (name, values, names) in [
        (
            "an unknown strategy type",
            json!({"strategy": {"type": "BlueGreen"}}),
            "/strategy/type",
        ),
        (
            "a non-boolean hostUsers",
            json!({"hostUsers": "maybe"}),
            "/hostUsers",
        ),
        (
            "an unknown aws.credentials key",
            json!({"aws": {"credentials": {"secretName": "aws-keys", "profile": "default"}}}),
            "/aws/credentials",
        ),
    ] {
        match render(suite, dir, namespace, name, &values)? {
            Ok(_) => return Err(format!("the schema admitted {name}").into()),
            Err(error) if error.contains(names) => {}
            Err(error) => {
                return Err(format!("{name} was refused without naming {names}: {error}").into());
            }
        }
    }
    let name = "an extra object the API server refuses";
    let values = json!({"crds": {"enabled": false}, "extraObjects": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}},
    ]});
    let manifest = render(suite, dir, namespace, name, &values)?
        .map_err(|error| format!("{name}: helm template failed: {error}"))?;
    match dry_run(suite, dir, namespace, name, &manifest)? {
        Ok(output) => Err(format!("the API server accepted {name}:\n{output}").into()),
        Err(error) if error.contains("Not_A_Name") => Ok(()),
        Err(error) => Err(format!("{name}: refused without naming it: {error}").into()),
    }
}

fn delete_namespace(suite: &Suite, namespace: &str) -> Result {
    run(std::process::Command::new(&suite.kubectl)
        .arg("--kubeconfig")
        .arg(&suite.kubeconfig)
        .args(["delete", "namespace", namespace, "--wait=false"]))?;
    Ok(())
}
