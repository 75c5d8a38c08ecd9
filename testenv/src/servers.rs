//! Command lines and readiness probes of etcd and kube-apiserver.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

use crate::Error;
use crate::certs::PkiFiles;
use crate::process::{LOG_TAIL_LINES, log_tail};

/// etcd answers /health about 0.2 s after start; this only bounds a wedged one.
pub(crate) const ETCD_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// kube-apiserver needs about 3 s on two idle cores, far more when a parallel cargo build
/// holds them; 90 s leaves room without hiding a hang for long.
pub(crate) const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(90);

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One probe may not stall the loop: a process that stops answering must still be noticed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The service network; 10.0.0.1 becomes the `kubernetes` Service's ClusterIP.
const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";

/// etcd's flags: a single member with every URL on loopback. The peer URLs must be set even
/// for one member, or etcd would try to bind localhost:2380 and clash with a second instance;
/// `--unsafe-no-fsync` trades durability, worthless for throwaway data, for speed.
pub(crate) fn etcd_args(data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=default".into(),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        "--initial-cluster-state=new".into(),
        "--unsafe-no-fsync=true".into(),
    ]
}

/// kube-apiserver's flags, then `extra` (pflag keeps the last value of a repeated flag, so
/// callers can override ours).
pub(crate) fn apiserver_args(
    etcd_url: &str,
    port: u16,
    pki: &PkiFiles,
    extra: &[String],
) -> Vec<String> {
    let mut args = vec![
        format!("--etcd-servers={etcd_url}"),
        "--bind-address=127.0.0.1".into(),
        // Without it the API server advertises the default route's address (and fails on a
        // host without one). Since 1.37 the endpoint reconciler refuses a loopback address at
        // start, so it is turned off: the `kubernetes` Service keeps no Endpoints, which only
        // in-cluster clients would miss, and there are none here.
        "--advertise-address=127.0.0.1".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.client_ca.display()),
        format!("--service-account-issuer=https://127.0.0.1:{port}/"),
        format!(
            "--service-account-key-file={}",
            pki.service_account_public.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ),
        format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
        "--authorization-mode=RBAC".into(),
        "--allow-privileged=true".into(),
        // No controller-manager creates `default` ServiceAccounts, so this admission plugin
        // would reject every pod.
        "--disable-admission-plugins=ServiceAccount".into(),
    ];
    args.extend(extra.iter().cloned());
    args
}

/// etcd's readiness: `GET /health` answers 200.
pub(crate) async fn etcd_healthy(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = http
        .get(format!("{url}/health"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("/health answered {}", response.status()))
    }
}

/// kube-apiserver's readiness: `GET /readyz` answers 200 to the admin, then a namespace list
/// succeeds. /readyz turns 200 only after the post-start hooks ran, so RBAC's bootstrap roles
/// and the built-in API groups exist; the list is a real read through to etcd, which is what
/// "serving again" means after etcd restarted under a running API server.
pub(crate) async fn apiserver_ready(client: &kube::Client) -> Result<(), String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request_text(request)
        .await
        .map_err(|e| format!("/readyz: {e}"))?;
    Api::<Namespace>::all(client.clone())
        .list_metadata(&ListParams::default().limit(1))
        .await
        .map(|_| ())
        .map_err(|e| format!("listing namespaces: {e}"))
}

/// Polls `probe` every 100 ms until it succeeds or `timeout` passes, failing early with the
/// error of `alive` (a server, or one it depends on, has exited or was stopped). On timeout
/// the error names `name` and quotes the tail of its `log`. Returns the time to success.
pub(crate) async fn wait_ready<A, F, Fut>(
    name: &'static str,
    log: &Path,
    timeout: Duration,
    mut alive: A,
    mut probe: F,
) -> Result<Duration, Error>
where
    A: FnMut() -> Result<(), Error>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        alive()?;
        let last_problem = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(Ok(())) => return Ok(started.elapsed()),
            Ok(Err(problem)) => problem,
            Err(_) => format!("probe got no answer within {PROBE_TIMEOUT:?}"),
        };
        if started.elapsed() >= timeout {
            return Err(Error::NotReady {
                name,
                waited: started.elapsed(),
                last_problem,
                log: log.to_owned(),
                log_tail: log_tail(log, LOG_TAIL_LINES),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
