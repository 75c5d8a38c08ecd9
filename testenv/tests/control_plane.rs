//! End to end: a real etcd + kube-apiserver, driven through kube-rs, kubectl and helm.
//! One control plane for the whole binary's main scenario keeps it to a few seconds.

// clippy.toml's allow-unwrap-in-tests covers #[test] fns only, not these helpers.
#![allow(clippy::unwrap_used, reason = "in tests a panic is the failure report")]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use testenv::{ControlPlane, Options, create_namespace};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
"#;

fn run(mut command: std::process::Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn client_for(path: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn assert_forbidden(result: Result<impl std::fmt::Debug, kube::Error>, who: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains(who), "{}", status.message);
        }
        other => panic!("expected 403 for {who}, got {other:?}"),
    }
}

/// The harness starts a real control plane that kube-rs, kubectl and helm can all use, whose
/// RBAC and CRD handling are real, and whose stop leaves no process and no file behind.
#[tokio::test]
async fn control_plane_serves_real_apis_and_stops_cleanly() {
    let started = Instant::now();
    let plane = ControlPlane::start().await.unwrap();
    let timings = plane.timings();
    let pids = plane.pids();
    eprintln!(
        "started in {:?} (etcd ready {:?}, apiserver ready {:?}); RSS KiB apiserver {} etcd {}",
        started.elapsed(),
        timings.etcd_ready,
        timings.apiserver_ready,
        rss_kib(pids[0]),
        rss_kib(pids[1]),
    );
    assert!(plane.server_url().starts_with("https://127.0.0.1:"));

    // kube-rs as admin.
    let client = plane.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.iter().any(|n| n == "default"), "{names:?}");
    let ns = create_namespace(&client, "testenv").await.unwrap();
    assert!(
        ns.starts_with("testenv-") && ns.len() == "testenv-".len() + 5,
        "{ns}"
    );
    namespaces.get(&ns).await.unwrap();

    // kubectl: version skew and CRD establishment.
    let mut version = plane.kubectl();
    version.args(["version", "-o", "json"]);
    let version: serde_json::Value = serde_json::from_slice(&run(version).stdout).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.37.2");

    let scratch = tempfile::tempdir().unwrap();
    let crd = scratch.path().join("crd.yaml");
    std::fs::write(&crd, CRD).unwrap();
    let mut apply = plane.kubectl();
    apply.arg("apply").arg("-f").arg(&crd);
    run(apply);
    let mut wait = plane.kubectl();
    wait.args([
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=60s",
    ]);
    run(wait);

    // A ServiceAccount token authenticates, and RBAC denies what no Role grants.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("reader".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request("reader", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .unwrap();
    let sa_kubeconfig = scratch.path().join("reader.kubeconfig");
    plane
        .kubeconfig_for_token(&token, &sa_kubeconfig)
        .await
        .unwrap();
    let reader = client_for(&sa_kubeconfig).await;
    let reader_secrets: Api<Secret> = Api::namespaced(reader, &ns);
    let sa_user = format!("system:serviceaccount:{ns}:reader");
    assert_forbidden(reader_secrets.list(&ListParams::default()).await, &sa_user);

    // Granting the verb through a Role lets the same token in (the authorizer's cache may
    // take a moment to see the binding).
    grant_list_secrets(&client, &ns, &sa_user).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = reader_secrets.list(&ListParams::default()).await {
        assert!(
            Instant::now() < deadline,
            "still denied after the grant: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A client certificate user carries its name and group.
    let alice_kubeconfig = scratch.path().join("alice.kubeconfig");
    plane
        .kubeconfig_for_user("alice", &["team-a"], &alice_kubeconfig)
        .await
        .unwrap();
    let alice = client_for(&alice_kubeconfig).await;
    let review = Api::<SelfSubjectReview>::all(alice.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user_info = review.status.unwrap().user_info.unwrap();
    assert_eq!(user_info.username.as_deref(), Some("alice"));
    assert!(user_info.groups.unwrap().contains(&"team-a".to_string()));
    let alice_secrets: Api<Secret> = Api::namespaced(alice, &ns);
    assert_forbidden(alice_secrets.list(&ListParams::default()).await, "alice");

    // helm runs and reaches the cluster through its isolated config.
    let mut helm = plane.helm();
    helm.arg("version");
    let helm_version = run(helm);
    assert!(String::from_utf8_lossy(&helm_version.stdout).contains("v3.22.0"));
    let mut helm_list = plane.helm();
    helm_list.args(["list", "--all-namespaces"]);
    run(helm_list);

    // stop() leaves neither a process nor the temp dir.
    let work_dir = plane.work_dir().to_owned();
    assert!(work_dir.exists());
    let stopping = Instant::now();
    plane.stop().await.unwrap();
    eprintln!("stopped in {:?}", stopping.elapsed());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} survived"
        );
    }
    assert!(!work_dir.exists(), "{} survived", work_dir.display());
}

async fn grant_list_secrets(client: &kube::Client, ns: &str, sa_user: &str) {
    let role = Role {
        metadata: ObjectMeta {
            name: Some("secret-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["list".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("secret-reader".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: sa_user.into(),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

/// A server that cannot start fails the start with its own log lines, after one retry, and
/// leaves nothing running or on disk.
#[tokio::test]
async fn failed_start_reports_the_servers_log_and_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        apiserver_flags: vec!["--no-such-flag".into()],
        data_dir_root: Some(root.path().to_owned()),
        ..Options::default()
    };
    let err = match ControlPlane::start_with(options).await {
        Ok(_) => panic!("kube-apiserver accepted an unknown flag"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("kube-apiserver exited"), "{err}");
    assert!(err.contains("unknown flag: --no-such-flag"), "{err}");
    let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A test that panics while holding a control plane still takes its servers and temp dir
/// down with it (Drop runs during unwinding).
#[tokio::test]
async fn panicking_owner_leaves_nothing_behind() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let plane = ControlPlane::start().await.unwrap();
        tx.send((plane.pids(), plane.work_dir().to_owned()))
            .unwrap();
        panic!("a failing test");
    });
    let (pids, work_dir) = rx.await.unwrap();
    assert!(task.await.unwrap_err().is_panic());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} survived"
        );
    }
    assert!(!work_dir.exists(), "{} survived", work_dir.display());
}
