//! Test support: the operator as a real child process, one namespace and one emulator per
//! scenario, and condition polling with generous deadlines (waits, not timing assertions).

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use ssm_contacts_emulator::RunningEmulator;
use ssm_contacts_emulator::faults::FaultSpec;
use ssm_contacts_emulator::state::{Channel, SeedChannel};
use ssm_contacts_operator::conditions;
use ssm_contacts_operator::resource::{ContactChannelActivation, ContactChannelActivationSpec};
use tokio::process::{Child, Command};

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What every scenario shares: the running control plane.
pub struct Suite {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
}

impl Suite {
    /// Installs the CRD from crds/ into a fresh control plane and waits until it is served.
    pub async fn install(control_plane: &testenv::ControlPlane) -> Result<Self> {
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let applied = control_plane
            .kubectl()
            .args(["apply", "-f"])
            .arg(&crds)
            .output()?;
        if !applied.status.success() {
            return Err(format!(
                "kubectl apply -f crds/ failed: {}",
                String::from_utf8_lossy(&applied.stderr)
            )
            .into());
        }
        let established = control_plane
            .kubectl()
            .args([
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/contactchannelactivations.ssmcontacts.oncall.dev",
            ])
            .output()?;
        if !established.status.success() {
            return Err(format!(
                "CRD not established: {}",
                String::from_utf8_lossy(&established.stderr)
            )
            .into());
        }
        Ok(Self {
            client: control_plane.client().await?,
            kubeconfig: control_plane.kubeconfig_path().to_owned(),
            kubectl: control_plane.bin_dir().join("kubectl"),
        })
    }
}

/// Polls `check` every 200 ms until it yields a value or `deadline` passes.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if start.elapsed() > deadline {
            return Err(format!("timed out after {deadline:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every request to the operator has a deadline, so a wedged process fails a test instead
/// of hanging it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The operator binary running against the test control plane and one emulator.
pub struct Operator {
    child: Child,
    pub admin_url: String,
    pub log: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Operator {
    pub async fn start(
        suite: &Suite,
        namespace: &str,
        endpoint: &str,
        extra_args: &[&str],
        log_dir: &Path,
    ) -> Result<Self> {
        Self::start_as(&suite.kubeconfig, namespace, endpoint, extra_args, log_dir).await
    }

    /// Starts the operator with the identity of `kubeconfig` (e.g. a ServiceAccount token).
    pub async fn start_as(
        kubeconfig: &Path,
        namespace: &str,
        endpoint: &str,
        extra_args: &[&str],
        log_dir: &Path,
    ) -> Result<Self> {
        let mut args: Vec<String> = [
            "--namespace",
            namespace,
            "--backoff-base",
            "300ms",
            "--backoff-max",
            "2s",
            "--slow-backoff-base",
            "1s",
            "--slow-backoff-max",
            "2s",
            "--in-flight-grace",
            "6s",
            "--call-timeout",
            "3s",
            "--api-timeout",
            "2s",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.extend(extra_args.iter().map(ToString::to_string));
        let env = vec![
            ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
            (
                "AWS_ENDPOINT_URL_SSM_CONTACTS".to_owned(),
                endpoint.to_owned(),
            ),
            (
                "AWS_ACCESS_KEY_ID".to_owned(),
                ssm_contacts_emulator::DEFAULT_ACCESS_KEY_ID.to_owned(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                ssm_contacts_emulator::DEFAULT_SECRET_ACCESS_KEY.to_owned(),
            ),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
            ("AWS_CONFIG_FILE".to_owned(), "/dev/null".to_owned()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                "/dev/null".to_owned(),
            ),
            (
                "RUST_LOG".to_owned(),
                "info,ssm_contacts_operator=debug".to_owned(),
            ),
            ("POD_NAMESPACE".to_owned(), namespace.to_owned()),
        ];
        Self::spawn(args, env, log_dir.join(format!("operator-{namespace}.log"))).await
    }

    /// Starts the operator with no AWS credentials anywhere in its environment.
    pub async fn start_without_credentials(
        suite: &Suite,
        namespace: &str,
        endpoint: &str,
        log_dir: &Path,
    ) -> Result<Self> {
        let mut operator = Self::start(suite, namespace, endpoint, &[], log_dir).await?;
        operator.crash().await?;
        operator.env.retain(|(name, _)| {
            !name.starts_with("AWS_ACCESS_KEY_ID") && !name.starts_with("AWS_SECRET_ACCESS_KEY")
        });
        Self::spawn(
            operator.args.clone(),
            operator.env.clone(),
            operator.log.clone(),
        )
        .await
    }

    async fn spawn(args: Vec<String>, env: Vec<(String, String)>, log: PathBuf) -> Result<Self> {
        let port = free_port()?;
        let admin_url = format!("http://127.0.0.1:{port}");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_ssm-contacts-operator"))
            .args(&args)
            .args(["--admin-addr", &format!("127.0.0.1:{port}")])
            .env_clear()
            .envs(env.iter().cloned())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()?;
        let operator = Self {
            child,
            admin_url,
            log,
            args,
            env,
        };
        operator.wait_ready().await?;
        Ok(operator)
    }

    pub async fn wait_ready(&self) -> Result {
        let url = format!("{}/readyz", self.admin_url);
        eventually(
            "the operator's /readyz",
            Duration::from_secs(30),
            || async {
                Ok(http()
                    .get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ()))
            },
        )
        .await
        .map_err(|e| format!("{e}; log:\n{}", self.log_tail()).into())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The value of an unlabelled metric, or the sum of a labelled family.
    pub async fn metric(&self, name: &str) -> Result<f64> {
        let body = http()
            .get(format!("{}/metrics", self.admin_url))
            .send()
            .await?
            .text()
            .await?;
        Ok(body
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Kills the process at once (SIGKILL: a crash, not a shutdown).
    pub async fn crash(&mut self) -> Result {
        self.child.kill().await?;
        Ok(())
    }

    /// Stops with SIGTERM and waits for the graceful shutdown.
    pub async fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().ok_or("operator already exited")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        Ok(tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??)
    }

    pub async fn restart(&mut self) -> Result {
        self.crash().await?;
        let next = Self::spawn(self.args.clone(), self.env.clone(), self.log.clone()).await?;
        *self = next;
        Ok(())
    }

    #[allow(
        dead_code,
        reason = "used by the fleet benchmark, which shares this module"
    )]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// One scenario's world: a namespace, an emulator with one channel, and an operator.
pub struct World {
    pub namespace: String,
    pub api: Api<ContactChannelActivation>,
    pub emulator: RunningEmulator,
    pub channel: Channel,
    pub operator: Operator,
    pub client: Client,
    logs: tempfile::TempDir,
    suite_kubeconfig: PathBuf,
    suite_kubectl: PathBuf,
}

pub fn channel_arn(region: &str, name: &str) -> String {
    format!("arn:aws:ssm-contacts:{region}:123456789012:contact-channel/oncall/{name}")
}

impl World {
    pub async fn new(suite: &Suite, name: &str, operator_args: &[&str]) -> Result<Self> {
        Self::with_channel(suite, name, operator_args, &channel_arn("us-east-1", name)).await
    }

    pub async fn with_channel(
        suite: &Suite,
        name: &str,
        operator_args: &[&str],
        arn: &str,
    ) -> Result<Self> {
        let namespace = testenv::create_namespace(&suite.client, name).await?;
        let emulator = RunningEmulator::start(Default::default()).await?;
        let channel = emulator
            .admin()
            .seed_channel(&SeedChannel {
                arn: Some(arn.to_owned()),
                name: name.to_owned(),
                ..SeedChannel::default()
            })
            .await?;
        let logs = tempfile::tempdir()?;
        let operator = Operator::start(
            suite,
            &namespace,
            &emulator.endpoint_url(),
            operator_args,
            logs.path(),
        )
        .await?;
        let api = Api::namespaced(suite.client.clone(), &namespace);
        Ok(Self {
            namespace,
            api,
            emulator,
            channel,
            operator,
            client: suite.client.clone(),
            logs,
            suite_kubeconfig: suite.kubeconfig.clone(),
            suite_kubectl: suite.kubectl.clone(),
        })
    }

    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// A second operator process on the same namespace and emulator (a second replica).
    pub async fn another_operator(&self, args: &[&str]) -> Result<Operator> {
        let suite = Suite {
            client: self.client.clone(),
            kubeconfig: self.suite_kubeconfig.clone(),
            kubectl: self.suite_kubectl.clone(),
        };
        let dir = self.logs.path().join("second");
        std::fs::create_dir_all(&dir)?;
        Operator::start(
            &suite,
            &self.namespace,
            &self.emulator.endpoint_url(),
            args,
            &dir,
        )
        .await
    }

    pub async fn inject(&self, fault: FaultSpec) -> Result {
        self.emulator.admin().inject_fault(&fault).await?;
        Ok(())
    }

    pub fn spec(&self) -> ContactChannelActivationSpec {
        ContactChannelActivationSpec {
            contact_channel_id: self.channel.arn.clone(),
            ..Default::default()
        }
    }

    pub async fn create(
        &self,
        name: &str,
        spec: ContactChannelActivationSpec,
    ) -> Result<ContactChannelActivation> {
        let object = ContactChannelActivation::new(name, spec);
        Ok(self.api.create(&PostParams::default(), &object).await?)
    }

    pub async fn sends(&self) -> Result<usize> {
        Ok(self.emulator.admin().sends_for(&self.channel.arn).await?)
    }

    /// Calls of SendActivationCode that reached the emulator, whatever their answer.
    pub async fn calls(&self) -> Result<usize> {
        let journal = self.emulator.admin().journal().await?;
        Ok(journal
            .iter()
            .filter(|e| e.operation == "SendActivationCode")
            .count())
    }

    /// Waits until the named condition has the given status and reason.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Result<ContactChannelActivation> {
        let what = format!("{name} {type_}={status}/{reason}");
        let result = eventually(&what, Duration::from_secs(45), || async {
            let object = self.api.get(name).await?;
            let found = object
                .status
                .as_ref()
                .and_then(|s| conditions::find(&s.conditions, type_))
                .map(|c| {
                    c.status == status
                        && c.reason == reason
                        && c.observed_generation == object.metadata.generation
                });
            Ok(found.unwrap_or(false).then_some(object))
        })
        .await;
        match result {
            Ok(object) => Ok(object),
            Err(error) => {
                let status = self
                    .api
                    .get(name)
                    .await
                    .map(|o| format!("{:#?}", o.status))
                    .unwrap_or_default();
                Err(format!(
                    "{error}\nstatus: {status}\noperator log:\n{}",
                    self.operator.log_tail()
                )
                .into())
            }
        }
    }

    /// Waits until the operator has reconciled at least `count` times more than `before`.
    pub async fn wait_reconciles(&self, before: f64, count: f64) -> Result<f64> {
        eventually("reconciles", Duration::from_secs(30), || async {
            let now = self.operator.metric("ssmcontacts_reconciles_total").await?;
            Ok((now >= before + count).then_some(now))
        })
        .await
    }

    /// Merges `changes` into the spec (a new generation).
    pub async fn edit_spec(&self, name: &str, changes: serde_json::Value) -> Result {
        let patch = kube::api::Patch::Merge(serde_json::json!({ "spec": changes }));
        self.api
            .patch(name, &kube::api::PatchParams::default(), &patch)
            .await?;
        Ok(())
    }

    /// Edits a label (no new generation) and waits until the operator has reconciled it.
    pub async fn touch(&self, name: &str) -> Result {
        let before = self.operator.metric("ssmcontacts_reconciles_total").await?;
        let stamp = jiff::Timestamp::now().as_nanosecond().to_string();
        let label = serde_json::json!({"metadata": {"labels": {"touched": stamp}}});
        self.api
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(label),
            )
            .await?;
        self.wait_reconciles(before, 1.0).await?;
        Ok(())
    }

    pub async fn event_reasons(&self, name: &str) -> Result<Vec<String>> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let list = events.list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reason)
            .collect())
    }

    pub async fn delete(&self, name: &str) -> Result {
        self.api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }
}
