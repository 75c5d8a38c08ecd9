//! Test support: the operator as a real child process, one namespace and one emulator per
//! scenario, and condition polling with generous deadlines (waits, not timing assertions).
//! Also the shared setup of the reliability scenarios: held calls and the crash window,
//! fleets of objects with a channel each, the chart installed for a restricted identity
//! (with its Roles taken apart verb by verb), and a TCP proxy in front of the API server
//! whose connections a test can cut.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use ssm_contacts_emulator::RunningEmulator;
use ssm_contacts_emulator::faults::FaultSpec;
use ssm_contacts_emulator::journal::{JournalEntry, JournalFilter};
use ssm_contacts_emulator::state::{Channel, SeedChannel};
use ssm_contacts_operator::api::conditions;
use ssm_contacts_operator::api::resource::{
    CodeSecretRef, ContactChannelActivation, ContactChannelActivationSpec,
    ContactChannelActivationStatus, LastError, SendInFlight,
};
use tokio::process::{Child, Command};

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The one operation whose calls the scenarios count.
pub const SEND: &str = "SendActivationCode";

/// A time the API server's `date-time` check accepts with more fraction digits than the
/// operator's time type holds: the operator reads it leniently (truncated).
pub const LONG_FRACTION_TIME: &str = "2024-01-01T00:00:00.1234567891Z";

/// Another such time: valid RFC 3339, but past the last instant the operator's time type
/// holds (9999-12-30T22:00:00Z): the operator reads it as that last instant.
pub const BEYOND_TIME: &str = "9999-12-31T00:00:00Z";

/// What every scenario shares: the running control plane.
pub struct Suite {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    /// `https://127.0.0.1:PORT` of kube-apiserver.
    pub server_url: String,
    /// The CA of the API server's serving certificate, for kubeconfigs written by tests.
    pub ca_pem: String,
    /// Stops, starts and restarts etcd and kube-apiserver in place.
    pub servers: testenv::ServerControl,
    /// Scenarios that disrupt the whole control plane hold this exclusively; every other
    /// scenario shares it, so no scenario sees another one's API-server restart.
    gate: tokio::sync::RwLock<()>,
}

impl Suite {
    /// Installs the CRD from crds/ into a fresh control plane and waits until it is served.
    pub async fn install(control_plane: &testenv::ControlPlane) -> Result<Self> {
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        run(control_plane.kubectl().args(["apply", "-f"]).arg(&crds))
            .map_err(|e| format!("kubectl apply -f crds/: {e}"))?;
        run(control_plane.kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/contactchannelactivations.ssmcontacts.oncall.dev",
        ]))
        .map_err(|e| format!("CRD not established: {e}"))?;
        Ok(Self {
            client: control_plane.client().await?,
            kubeconfig: control_plane.kubeconfig_path().to_owned(),
            kubectl: control_plane.bin_dir().join("kubectl"),
            server_url: control_plane.server_url().to_owned(),
            ca_pem: control_plane.ca_pem().to_owned(),
            servers: control_plane.server_control(),
            gate: tokio::sync::RwLock::new(()),
        })
    }

    /// Enters a scenario: alone (`exclusive`) or alongside the other shared ones.
    pub async fn enter(&self, exclusive: bool) -> Box<dyn Send + Sync + '_> {
        if exclusive {
            Box::new(self.gate.write().await)
        } else {
            Box::new(self.gate.read().await)
        }
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

/// The kstatus checker (tools/kstatus), found once per test process.
static KSTATUS_BIN: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();

/// The checker's path: `SSMC_KSTATUS_BIN` (scripts/test.sh builds it up front), else the last
/// line of `tools/kstatus/build.sh`, which builds it once per machine (cached by hash).
async fn kstatus_bin() -> Result<&'static Path> {
    let bin = KSTATUS_BIN
        .get_or_try_init(|| async {
            if let Some(bin) = std::env::var_os("SSMC_KSTATUS_BIN") {
                return Result::<PathBuf>::Ok(PathBuf::from(bin));
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/kstatus/build.sh");
            let output = Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .await?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            match stdout.lines().last() {
                Some(path) if output.status.success() => Ok(PathBuf::from(path.trim())),
                _ => Err(format!(
                    "{} failed ({}): {}",
                    script.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
                .into()),
            }
        })
        .await?;
    Ok(bin)
}

/// One line of the kstatus checker: what kstatus computes for one object.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Verdict {
    pub name: String,
    pub namespace: String,
    /// InProgress, Current, Failed, Terminating, NotFound or Unknown.
    pub status: String,
    pub message: String,
}

/// Runs the kstatus checker on `document` (an object or a List, as `kubectl get -o json`
/// prints it): one verdict per object, in order.
pub async fn kstatus_of(document: &serde_json::Value) -> Result<Vec<Verdict>> {
    let input = serde_json::to_vec(document)?;
    let bin = kstatus_bin().await?;
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run the kstatus checker {} (SSMC_KSTATUS_BIN, else \
                 tools/kstatus/build.sh): {e}",
                bin.display()
            )
        })?;
    let mut stdin = child.stdin.take().ok_or("the checker has no stdin")?;
    // Written alongside the read, so that a large List cannot fill both pipes at once.
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(&input).await?;
        stdin.shutdown().await
    });
    let output = child.wait_with_output().await?;
    writer.await??;
    if !output.status.success() {
        return Err(format!(
            "the kstatus checker failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let mut verdicts = Vec::new();
    for line in String::from_utf8(output.stdout)?.lines() {
        verdicts.push(serde_json::from_str(line)?);
    }
    Ok(verdicts)
}

/// `object` as the API server prints it, apiVersion and kind included (list items may come
/// without them, and kstatus names the kind in its messages).
pub fn object_json(object: &DynamicObject) -> Result<serde_json::Value> {
    let mut object = object.clone();
    if object.types.is_none() {
        let resource = ApiResource::erase::<ContactChannelActivation>(&());
        object.types = Some(kube::api::TypeMeta {
            api_version: resource.api_version,
            kind: resource.kind,
        });
    }
    Ok(serde_json::to_value(object)?)
}

/// What kstatus computes for `object`: `(status, message)`.
pub async fn kstatus_for(object: &DynamicObject) -> Result<(String, String)> {
    let verdict = kstatus_of(&object_json(object)?)
        .await?
        .into_iter()
        .next()
        .ok_or("the kstatus checker printed nothing")?;
    Ok((verdict.status, verdict.message))
}

/// The condition `type_` of `object`.
pub fn condition<'a>(object: &'a ContactChannelActivation, type_: &str) -> Result<&'a Condition> {
    let found = object
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, type_));
    Ok(found.ok_or(format!("no {type_}"))?)
}

/// Every request to the operator has a deadline, so a wedged process fails a test instead
/// of hanging it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default()
}

/// The last 40 lines of a log, each cut to 600 characters.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..]
        .iter()
        .map(|line| match line.char_indices().nth(600) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
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

/// What the operator logs in tests unless told otherwise.
pub const TEST_RUST_LOG: &str = "info,ssm_contacts_operator=debug";

impl Operator {
    /// Starts the operator with the identity of `kubeconfig` (e.g. a ServiceAccount token),
    /// without waiting for it to get ready (it may never be: [`Operator::ready`] waits).
    pub fn launch_as(
        kubeconfig: &Path,
        namespace: &str,
        endpoint: &str,
        extra_args: &[&str],
        log_dir: &Path,
    ) -> Result<Self> {
        let how = (&[][..], TEST_RUST_LOG);
        Self::launch_with(kubeconfig, namespace, endpoint, extra_args, log_dir, how)
    }

    /// [`Operator::launch_as`] with more environment variables (set last, so they win, e.g.
    /// those the chart's Deployment sets) and RUST_LOG set to `rust_log` (empty: unset).
    pub fn launch_with(
        kubeconfig: &Path,
        namespace: &str,
        endpoint: &str,
        extra_args: &[&str],
        log_dir: &Path,
        (extra_env, rust_log): (&[(String, String)], &str),
    ) -> Result<Self> {
        let (args, mut env) =
            Self::command_line(kubeconfig, namespace, endpoint, extra_args, rust_log);
        env.extend_from_slice(extra_env);
        Self::launch(args, env, log_dir.join(format!("operator-{namespace}.log")))
    }

    /// The test flags and environment of an operator on `namespace`, talking to `endpoint`
    /// as the identity of `kubeconfig`.
    fn command_line(
        kubeconfig: &Path,
        namespace: &str,
        endpoint: &str,
        extra_args: &[&str],
        rust_log: &str,
    ) -> (Vec<String>, Vec<(String, String)>) {
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
            // The emulator serves STS too (spec.roleArn).
            ("AWS_ENDPOINT_URL_STS".to_owned(), endpoint.to_owned()),
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
            ("RUST_LOG".to_owned(), rust_log.to_owned()),
            ("POD_NAMESPACE".to_owned(), namespace.to_owned()),
            // Scenarios send many codes to one channel on purpose; the channel limits have
            // scenarios of their own (tenancy.rs), which set them with flags (flags win).
            ("SSMC_CHANNEL_COOLDOWN".to_owned(), "0s".to_owned()),
            ("SSMC_CHANNEL_SENDS_PER_HOUR".to_owned(), "64".to_owned()),
        ];
        let env = env
            .into_iter()
            .filter(|(name, value)| name != "RUST_LOG" || !value.is_empty())
            .collect();
        (args, env)
    }

    /// Starts the operator with no AWS credentials anywhere in its environment.
    pub async fn start_without_credentials(
        suite: &Suite,
        namespace: &str,
        endpoint: &str,
        log_dir: &Path,
    ) -> Result<Self> {
        let mut operator = Self::launch_as(&suite.kubeconfig, namespace, endpoint, &[], log_dir)?;
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

    fn launch(args: Vec<String>, env: Vec<(String, String)>, log: PathBuf) -> Result<Self> {
        let port = free_port()?;
        let admin_url = format!("http://127.0.0.1:{port}");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        // For the benchmark: another build of the operator (the static musl one the image
        // ships), and a profiler to run it under (e.g. `heaptrack`).
        let binary = std::env::var_os("SSMC_OPERATOR_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ssm-contacts-operator").into());
        let mut command = match std::env::var_os("SSMC_OPERATOR_WRAPPER") {
            Some(wrapper) => {
                let mut command = Command::new(wrapper);
                command.arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let child = command
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
        Ok(Self {
            child,
            admin_url,
            log,
            args,
            env,
        })
    }

    async fn spawn(args: Vec<String>, env: Vec<(String, String)>, log: PathBuf) -> Result<Self> {
        Self::launch(args, env, log)?.ready().await
    }

    /// The operator, once it is ready.
    pub async fn ready(self) -> Result<Self> {
        self.wait_ready().await?;
        Ok(self)
    }

    pub async fn wait_ready(&self) -> Result {
        eventually(
            "the operator's /readyz",
            Duration::from_secs(30),
            || async {
                let status = self.probe("/readyz").await.ok().map(|(status, _)| status);
                Ok((status == Some(200)).then_some(()))
            },
        )
        .await
        .map_err(|e| format!("{e}; log:\n{}", self.log_tail()).into())
    }

    /// GET on the admin server: the HTTP status and the body.
    pub async fn probe(&self, path: &str) -> Result<(u16, String)> {
        let response = http()
            .get(format!("{}{path}", self.admin_url))
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log_text())
    }

    /// Waits until the operator's log contains `needle`.
    pub async fn wait_log(&self, needle: &str, deadline: Duration) -> Result {
        eventually(&format!("{needle:?} in the log"), deadline, || async {
            Ok(self.log_text().contains(needle).then_some(()))
        })
        .await
        .map_err(|e| format!("{e}; log:\n{}", self.log_tail()).into())
    }

    /// The value of an unlabelled metric, or the sum of a labelled family.
    pub async fn metric(&self, name: &str) -> Result<f64> {
        self.metric_where(name, "").await
    }

    /// The sum of the series of `name` whose line contains `labels` (e.g. `result="ok"`).
    pub async fn metric_where(&self, name: &str, labels: &str) -> Result<f64> {
        let body = http()
            .get(format!("{}/metrics", self.admin_url))
            .send()
            .await?
            .text()
            .await?;
        Ok(body
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter(|l| l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// The AWS requests counted in `ssmcontacts_aws_requests_total` whose labels contain
    /// `labels` (e.g. `operation="AssumeRole",code="Success"`).
    pub async fn aws_requests(&self, labels: &str) -> Result<f64> {
        self.metric_where("ssmcontacts_aws_requests_total", labels)
            .await
    }

    /// Kills the process at once (SIGKILL: a crash, not a shutdown); a no-op if it has
    /// already exited.
    pub async fn crash(&mut self) -> Result {
        if self.is_running() {
            self.child.kill().await?;
        }
        Ok(())
    }

    /// Stops with SIGTERM and waits for the graceful shutdown.
    pub async fn terminate(&mut self) -> Result<ExitStatus> {
        let pid = self.child.id().ok_or("operator already exited")?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        self.wait_exit(Duration::from_secs(30)).await
    }

    /// Waits for the process to end by itself.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Result<ExitStatus> {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => Err(format!(
                "the operator did not exit within {deadline:?}; log:\n{}",
                self.log_tail()
            )
            .into()),
        }
    }

    pub async fn restart(&mut self) -> Result {
        self.crash().await?;
        let next = Self::spawn(self.args.clone(), self.env.clone(), self.log.clone()).await?;
        *self = next;
        Ok(())
    }

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
}

pub fn channel_arn(region: &str, name: &str) -> String {
    format!("arn:aws:ssm-contacts:{region}:123456789012:contact-channel/oncall/{name}")
}

/// Seeds the channel `name` at `arn` (already ACTIVATED in AWS when `activated`).
async fn seed_channel(
    emulator: &RunningEmulator,
    arn: &str,
    name: &str,
    activated: bool,
) -> Result<Channel> {
    let seed = SeedChannel {
        arn: Some(arn.to_owned()),
        name: name.to_owned(),
        ..SeedChannel::default()
    };
    let seed = if activated { seed.activated() } else { seed };
    Ok(emulator.admin().seed_channel(&seed).await?)
}

impl World {
    /// A fresh namespace, an emulator with the channel `name` (us-east-1), and an operator
    /// with `operator_args` watching the namespace, ready.
    pub async fn new(suite: &Suite, name: &str, operator_args: &[&str]) -> Result<Self> {
        Self::with_channel(suite, name, operator_args, &channel_arn("us-east-1", name)).await
    }

    /// [`World::new`] with its operator stopped (SIGTERM), for scenarios that start their
    /// own operator.
    pub async fn stopped(suite: &Suite, name: &str) -> Result<Self> {
        let mut world = Self::new(suite, name, &[]).await?;
        world.operator.terminate().await?;
        Ok(world)
    }

    /// [`World::new`] with the channel at `arn` (e.g. one without a region).
    pub async fn with_channel(
        suite: &Suite,
        name: &str,
        operator_args: &[&str],
        arn: &str,
    ) -> Result<Self> {
        let namespace = testenv::create_namespace(&suite.client, name).await?;
        let emulator = RunningEmulator::start(Default::default()).await?;
        let channel = seed_channel(&emulator, arn, name, false).await?;
        let logs = tempfile::tempdir()?;
        let operator = Operator::launch_as(
            &suite.kubeconfig,
            &namespace,
            &emulator.endpoint_url(),
            operator_args,
            logs.path(),
        )?
        .ready()
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
        })
    }

    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// The end of the log of the world's first operator (and of any restarted in its place).
    pub fn first_log_tail(&self) -> String {
        let log = self
            .log_dir()
            .join(format!("operator-{}.log", self.namespace));
        tail(&std::fs::read_to_string(log).unwrap_or_default())
    }

    /// A second operator process on the same namespace and emulator (a second replica).
    pub async fn another_operator(&self, args: &[&str]) -> Result<Operator> {
        let dir = self.logs.path().join("second");
        std::fs::create_dir_all(&dir)?;
        self.start_operator(args, &dir).await
    }

    /// Stops the operator (SIGTERM) and starts a fresh one with `args`, on the same log.
    pub async fn replace_operator(&mut self, args: &[&str]) -> Result {
        self.operator.terminate().await?;
        self.operator = self.start_operator(args, self.logs.path()).await?;
        Ok(())
    }

    /// An operator with `args` on the world's namespace and emulator, logging under `dir`.
    async fn start_operator(&self, args: &[&str], dir: &Path) -> Result<Operator> {
        Operator::launch_as(
            &self.suite_kubeconfig,
            &self.namespace,
            &self.emulator.endpoint_url(),
            args,
            dir,
        )?
        .ready()
        .await
    }

    pub async fn inject(&self, fault: FaultSpec) -> Result {
        self.emulator.admin().inject_fault(&fault).await?;
        Ok(())
    }

    pub fn spec(&self) -> ContactChannelActivationSpec {
        Self::spec_for(&self.channel.arn)
    }

    /// The world's channel, Ready only once the person has activated it.
    pub fn spec_ready_when_activated(&self) -> ContactChannelActivationSpec {
        ContactChannelActivationSpec {
            ready_when: ssm_contacts_operator::api::resource::ReadyWhen::Activated,
            ..self.spec()
        }
    }

    /// The world's channel, its code entered from the key `code` of the Secret `secret`.
    pub fn spec_reading_code(&self, secret: &str) -> ContactChannelActivationSpec {
        ContactChannelActivationSpec {
            activation_code_secret_ref: Some(CodeSecretRef {
                name: secret.to_owned(),
                key: "code".to_owned(),
            }),
            ..self.spec()
        }
    }

    pub fn spec_for(arn: &str) -> ContactChannelActivationSpec {
        ContactChannelActivationSpec {
            contact_channel_id: arn.to_owned(),
            ..Default::default()
        }
    }

    /// Seeds one more channel (us-east-1) and returns its ARN: objects on channels of their
    /// own have their codes counted apart.
    pub async fn seed(&self, name: &str) -> Result<String> {
        self.seed_in("us-east-1", name).await
    }

    /// Seeds one more channel in `region`; its ARN.
    pub async fn seed_in(&self, region: &str, name: &str) -> Result<String> {
        let arn = channel_arn(region, name);
        seed_channel(&self.emulator, &arn, name, false).await?;
        Ok(arn)
    }

    /// Seeds one more channel (us-east-1) that AWS already reports ACTIVATED; its ARN.
    pub async fn seed_activated(&self, name: &str) -> Result<String> {
        let arn = channel_arn("us-east-1", name);
        seed_channel(&self.emulator, &arn, name, true).await?;
        Ok(arn)
    }

    /// The person activates the world's channel (in the console: AWS says ACTIVATED).
    pub async fn activate_channel(&self) -> Result {
        let admin = self.emulator.admin();
        admin.activate_channel(&self.channel.arn).await?;
        Ok(())
    }

    /// The world's channel falls back to NOT_ACTIVATED (the person opted out).
    pub async fn deactivate_channel(&self) -> Result {
        let admin = self.emulator.admin();
        admin.deactivate_channel(&self.channel.arn).await?;
        Ok(())
    }

    pub async fn create(
        &self,
        name: &str,
        spec: ContactChannelActivationSpec,
    ) -> Result<ContactChannelActivation> {
        let object = ContactChannelActivation::new(name, spec);
        Ok(self.api.create(&PostParams::default(), &object).await?)
    }

    /// Creates the object `name`, which the API server must refuse; its answer. `what`
    /// names the object in the error when it is accepted.
    pub async fn create_refused(
        &self,
        name: &str,
        spec: ContactChannelActivationSpec,
        what: &str,
    ) -> Result<String> {
        match self.create(name, spec).await {
            Ok(_) => Err(format!("{what} was accepted").into()),
            Err(error) => Ok(error.to_string()),
        }
    }

    /// Seeds `count` channels and creates one object on each, as fast as the API server takes
    /// them: `(object name, channel ARN)` pairs.
    pub async fn fleet(&self, prefix: &str, count: usize) -> Result<Vec<(String, String)>> {
        let mut fleet = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("{prefix}-{i:02}");
            let arn = self.seed(&name).await?;
            fleet.push((name, arn));
        }
        for (name, arn) in &fleet {
            self.create(name, Self::spec_for(arn)).await?;
        }
        Ok(fleet)
    }

    /// Waits until every object of `fleet` is Ready (CodeSent) for its current generation.
    pub async fn wait_fleet_ready(&self, fleet: &[(String, String)], deadline: Duration) -> Result {
        let result = eventually("every object Ready", deadline, || async {
            let list = self.api.list(&ListParams::default()).await?;
            let ready = fleet
                .iter()
                .filter(|(name, _)| {
                    list.items.iter().any(|o| {
                        o.metadata.name.as_deref() == Some(name.as_str())
                            && o.status
                                .as_ref()
                                .and_then(|s| conditions::find(&s.conditions, "Ready"))
                                .is_some_and(|c| {
                                    c.status == "True"
                                        && c.observed_generation == o.metadata.generation
                                })
                    })
                })
                .count();
            Ok((ready == fleet.len()).then_some(()))
        })
        .await;
        if let Err(error) = result {
            let list = self.api.list(&ListParams::default()).await?;
            let stuck: Vec<String> = list
                .items
                .iter()
                .filter_map(|o| {
                    let reason = o
                        .status
                        .as_ref()
                        .and_then(|s| conditions::find(&s.conditions, "Ready"))
                        .map(|c| format!("{}/{}", c.status, c.reason));
                    (reason.as_deref() != Some("True/Sent"))
                        .then(|| format!("{:?}: {reason:?}", o.metadata.name))
                })
                .collect();
            return Err(format!(
                "{error}; not Ready: {stuck:?}\noperator log:\n{}",
                self.operator.log_tail()
            )
            .into());
        }
        Ok(())
    }

    /// Every channel of `fleet` received exactly one code, counted by the emulator.
    pub async fn assert_one_code_each(&self, fleet: &[(String, String)]) -> Result {
        let sends = self.emulator.admin().sends_per_channel().await?;
        let wrong: Vec<String> = fleet
            .iter()
            .filter_map(|(name, arn)| {
                let codes = sends.get(arn).copied().unwrap_or(0);
                (codes != 1).then(|| format!("{name}: {codes} codes"))
            })
            .collect();
        let stats = self.emulator.admin().journal_stats().await?;
        if stats.dropped > 0 {
            return Err(format!("the journal dropped {} entries", stats.dropped).into());
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("not exactly one code per channel: {wrong:?}").into())
        }
    }

    /// Holds every SendActivationCode call `millis` before the emulator acts on it (a fault
    /// that stays until removed); returns the fault's id.
    pub async fn hold_sends(&self, millis: u64) -> Result<u64> {
        let fault = FaultSpec {
            operation: Some(SEND.to_owned()),
            ..FaultSpec::default()
        }
        .latency(millis);
        Ok(self.emulator.admin().inject_fault(&fault).await?)
    }

    /// Waits until `name`'s status announces a call (sendInFlight) and the emulator holds it
    /// (the latency fault `fault` has been hit `hits` times).
    pub async fn wait_call_held(&self, name: &str, fault: u64, hits: u64) -> Result<SendInFlight> {
        eventually(
            &format!("a call for {name} held by the emulator"),
            Duration::from_secs(30),
            || async {
                let flight = self.status(name).await?.send_in_flight;
                let hit = self
                    .emulator
                    .admin()
                    .faults()
                    .await?
                    .iter()
                    .find(|f| f.id == fault)
                    .map_or(0, |f| f.hits);
                Ok(flight.filter(|_| hit >= hits))
            },
        )
        .await
    }

    /// The crash window: `name` is created, its call is held by the emulator (2 s, below the
    /// call timeout), and the operator that made it is killed (SIGKILL) before the answer.
    /// Returns once the emulator has journaled the call `abandoned` (its client went away,
    /// so no code was sent), with the sendInFlight record the dead process left behind.
    pub async fn crash_mid_call(&mut self, name: &str) -> Result<SendInFlight> {
        let fault = self.hold_sends(2_000).await?;
        self.create(name, self.spec()).await?;
        let flight = self.wait_call_held(name, fault, 1).await?;
        self.operator.crash().await?;
        self.wait_calls("abandoned", 1).await?;
        let status = self.status(name).await?;
        assert_eq!(
            status.send_in_flight.as_ref(),
            Some(&flight),
            "the killed process's intent stays in status"
        );
        Ok(flight)
    }

    /// The SendActivationCode calls that reached the emulator, oldest first.
    pub async fn send_calls(&self) -> Result<Vec<JournalEntry>> {
        let filter = JournalFilter {
            operation: Some(SEND.to_owned()),
            ..JournalFilter::default()
        };
        Ok(self.emulator.admin().journal_filtered(&filter).await?)
    }

    /// Waits until at least `count` SendActivationCode calls ended in `outcome`.
    pub async fn wait_calls(&self, outcome: &str, count: usize) -> Result<Vec<JournalEntry>> {
        eventually(
            &format!("{count} SendActivationCode calls journaled {outcome:?}"),
            Duration::from_secs(30),
            || async {
                let calls = self.send_calls().await?;
                let matching = calls.iter().filter(|e| e.outcome == outcome).count();
                Ok((matching >= count).then_some(calls))
            },
        )
        .await
    }

    pub async fn sends(&self) -> Result<usize> {
        Ok(self.emulator.admin().sends_for(&self.channel.arn).await?)
    }

    /// Calls of SendActivationCode that reached the emulator, whatever their answer.
    pub async fn calls(&self) -> Result<usize> {
        Ok(self.send_calls().await?.len())
    }

    /// The object's status (empty if none was written).
    pub async fn status(&self, name: &str) -> Result<ContactChannelActivationStatus> {
        Ok(self.api.get(name).await?.status_or_default())
    }

    /// Writes `status` (merged) through the status subresource as the admin: a person, a
    /// restored backup.
    pub async fn write_status(&self, name: &str, status: serde_json::Value) -> Result {
        self.raw()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": status })),
            )
            .await?;
        Ok(())
    }

    /// Waits until the named condition has the given status and reason; returns the object
    /// as it was then.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Result<ContactChannelActivation> {
        let (_, object) = self.wait_raw_condition(name, type_, status, reason).await?;
        Ok(serde_json::from_value(serde_json::to_value(object)?)?)
    }

    /// Waits until `name` is Ready with its code sent (Ready=True/Sent); the object then.
    pub async fn wait_sent(&self, name: &str) -> Result<ContactChannelActivation> {
        self.wait_condition(name, "Ready", "True", "Sent").await
    }

    /// Waits until `name`'s code is sent (CodeSent=True/Sent); the object then.
    pub async fn wait_code_sent(&self, name: &str) -> Result<ContactChannelActivation> {
        self.wait_condition(name, "CodeSent", "True", "Sent").await
    }

    /// [`World::wait_condition`], then the lastError the object had then.
    pub async fn wait_last_error(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Result<LastError> {
        let object = self.wait_condition(name, type_, status, reason).await?;
        Ok(object
            .status
            .and_then(|s| s.last_error)
            .ok_or("no lastError")?)
    }

    /// [`World::wait_condition`] on the object as plain JSON: the condition and the object
    /// as they were when it held.
    pub async fn wait_raw_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Result<(Condition, DynamicObject)> {
        let raw = self.raw();
        let what = format!("{name} {type_}={status}/{reason}");
        let result = eventually(&what, Duration::from_secs(45), || async {
            let object = raw.get(name).await?;
            let found = object
                .data
                .pointer("/status/conditions")
                .and_then(|list| list.as_array())
                .into_iter()
                .flatten()
                .filter_map(|c| serde_json::from_value::<Condition>(c.clone()).ok())
                .find(|c| c.type_ == type_)
                .filter(|c| {
                    c.status == status
                        && c.reason == reason
                        && c.observed_generation == object.metadata.generation
                });
            Ok(found.map(|condition| (condition, object)))
        })
        .await;
        match result {
            Ok(found) => Ok(found),
            Err(error) => {
                let status = raw
                    .get(name)
                    .await
                    .map(|o| format!("{:#}", o.data["status"]))
                    .unwrap_or_default();
                Err(format!(
                    "{error}\nstatus: {status}\noperator log:\n{}",
                    self.operator.log_tail()
                )
                .into())
            }
        }
    }

    /// The objects as plain JSON: readable whatever their status holds.
    pub fn raw(&self) -> Api<DynamicObject> {
        let resource = ApiResource::erase::<ContactChannelActivation>(&());
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// What kstatus (Flux's health check) computes for the object `name` as the API server
    /// serves it now: `(status, message)`.
    pub async fn kstatus(&self, name: &str) -> Result<(String, String)> {
        kstatus_for(&self.raw().get(name).await?).await
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

    /// [`World::edit_spec`], then waits until the new generation is Ready with its code
    /// sent; the object then.
    pub async fn edit_until_sent(
        &self,
        name: &str,
        changes: serde_json::Value,
    ) -> Result<ContactChannelActivation> {
        self.edit_spec(name, changes).await?;
        self.wait_sent(name).await
    }

    /// Edits a label: a new resourceVersion, no new generation.
    pub async fn relabel(&self, name: &str) -> Result {
        let stamp = jiff::Timestamp::now().as_nanosecond().to_string();
        let label = serde_json::json!({"metadata": {"labels": {"touched": stamp}}});
        self.api
            .patch(name, &PatchParams::default(), &Patch::Merge(label))
            .await?;
        Ok(())
    }

    /// Edits a label (no new generation) and waits until the operator has reconciled it.
    pub async fn touch(&self, name: &str) -> Result {
        let before = self.operator.metric("ssmcontacts_reconciles_total").await?;
        self.relabel(name).await?;
        self.wait_reconciles(before, 1.0).await?;
        Ok(())
    }

    /// The Events on the object `name`, whole.
    pub async fn object_events(
        &self,
        name: &str,
    ) -> Result<Vec<k8s_openapi::api::events::v1::Event>> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let list = events.list(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect())
    }

    /// How many Events the world's namespace holds, counting each repeat of a series.
    pub async fn events_in_namespace(&self) -> Result<i64> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let list = events.list(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .map(|e| 1 + e.series.as_ref().map_or(0, |s| i64::from(s.count)))
            .sum())
    }

    /// The Events on the object `name`: `(reason, note)` pairs.
    pub async fn events(&self, name: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .object_events(name)
            .await?
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect())
    }

    /// The `action` of the Event with `reason` on the object `name`, once there is one.
    pub async fn event_action(&self, name: &str, reason: &str) -> Result<String> {
        self.wait_event(name, reason).await?;
        let events = self.object_events(name).await?;
        Ok(events
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
            .and_then(|e| e.action)
            .unwrap_or_default())
    }

    pub async fn event_reasons(&self, name: &str) -> Result<Vec<String>> {
        let events = self.events(name).await?;
        Ok(events.into_iter().map(|(reason, _)| reason).collect())
    }

    /// Waits for an Event with `reason` on the object `name`; returns its note.
    pub async fn wait_event(&self, name: &str, reason: &str) -> Result<String> {
        eventually(
            &format!("a {reason} Event on {name}"),
            Duration::from_secs(30),
            || async {
                let events = self.events(name).await?;
                Ok(events
                    .into_iter()
                    .find(|(r, _)| r == reason)
                    .map(|(_, note)| note))
            },
        )
        .await
    }

    /// Sets (or, with `None`, removes) the allowed-accounts annotation of the world's Namespace.
    pub async fn annotate_namespace(&self, accounts: Option<&str>) -> Result {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let annotation = ssm_contacts_operator::rules::tenancy::ALLOWED_ACCOUNTS_ANNOTATION;
        let patch = serde_json::json!({"metadata": {"annotations": {annotation: accounts}}});
        namespaces
            .patch(
                &self.namespace,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        Ok(())
    }

    /// The code the emulator drew for the world's channel last.
    pub async fn last_code(&self) -> Result<String> {
        Ok(self
            .emulator
            .admin()
            .last_code(&self.channel.arn)
            .await?
            .ok_or("no code drawn")?)
    }

    /// Replaces the operator with one logging at `rust_log` (empty: RUST_LOG unset), ready.
    pub async fn relaunch_logging(
        &mut self,
        suite: &Suite,
        args: &[&str],
        rust_log: &str,
    ) -> Result {
        self.operator.terminate().await?;
        self.operator = Operator::launch_with(
            &suite.kubeconfig,
            &self.namespace,
            &self.emulator.endpoint_url(),
            args,
            self.log_dir(),
            (&[], rust_log),
        )?;
        self.operator.wait_ready().await
    }

    pub async fn delete(&self, name: &str) -> Result {
        self.api.delete(name, &DeleteParams::default()).await?;
        Ok(())
    }
}

/// Runs `command`, failing with its output unless it succeeds; returns its stdout.
pub fn run(command: &mut std::process::Command) -> Result<String> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The chart's release, ServiceAccount and Role name.
pub const RELEASE: &str = "ssm-contacts-operator";

/// The Helm chart of this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/ssm-contacts-operator")
}

/// The real helm of the test control plane, acting as the suite's admin, with its cache,
/// config and data under `home` (nothing of the machine's own).
pub fn helm(suite: &Suite, home: &Path) -> Result<std::process::Command> {
    let bin = suite.kubectl.parent().ok_or("no bin dir")?;
    let mut command = std::process::Command::new(bin.join("helm"));
    command
        .env("KUBECONFIG", &suite.kubeconfig)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    Ok(command)
}

/// Leader election as the chart runs it, with a short lease.
pub const LEADER_ARGS: [&str; 5] = [
    "--leader-election",
    "--lease-duration-seconds",
    "3",
    "--lease-grace-seconds",
    "1",
];

/// One verb of one rule of one of the chart's Roles.
#[derive(Clone, Debug)]
pub struct Grant {
    pub role: String,
    rule: usize,
    pub group: String,
    /// `contactchannelactivations/status` for a subresource.
    pub resource: String,
    resource_names: Vec<String>,
    pub verb: String,
}

impl Grant {
    /// The API server's words when this verb is missing.
    pub fn denial(&self) -> String {
        format!("cannot {} resource \"{}\"", self.verb, self.resource)
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (Role {})", self.verb, self.resource, self.role)
    }
}

/// The chart installed with the real helm into a world's namespace (watching only it), and
/// a kubeconfig with a token of the chart's ServiceAccount: the operator's identity in a
/// real install.
pub struct Chart {
    pub kubeconfig: PathBuf,
    /// The proxy the kubeconfig goes through, when asked for.
    pub proxy: Option<ApiProxy>,
    namespace: String,
    client: Client,
    roles: Api<Role>,
    /// The Roles as the chart made them.
    original: Vec<Role>,
    cluster_roles: Api<ClusterRole>,
    /// The ClusterRoles the chart bound to its ServiceAccount, as the chart made them.
    original_cluster: Vec<ClusterRole>,
}

/// A Role or a ClusterRole: what the RBAC probes read and take verbs from.
trait Rules:
    kube::Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::Serialize
    + serde::de::DeserializeOwned
{
    fn rules(&self) -> &Option<Vec<PolicyRule>>;
    fn rules_mut(&mut self) -> &mut Option<Vec<PolicyRule>>;
}

impl Rules for Role {
    fn rules(&self) -> &Option<Vec<PolicyRule>> {
        &self.rules
    }
    fn rules_mut(&mut self) -> &mut Option<Vec<PolicyRule>> {
        &mut self.rules
    }
}

impl Rules for ClusterRole {
    fn rules(&self) -> &Option<Vec<PolicyRule>> {
        &self.rules
    }
    fn rules_mut(&mut self) -> &mut Option<Vec<PolicyRule>> {
        &mut self.rules
    }
}

/// Puts every role back as `originals` has it.
async fn restore_rules<K: Rules>(api: &Api<K>, originals: &[K]) -> Result {
    for original in originals {
        let name = original.meta().name.as_deref().unwrap_or_default();
        let mut current = api.get(name).await?;
        if current.rules() != original.rules() {
            current.rules_mut().clone_from(original.rules());
            api.replace(name, &PostParams::default(), &current).await?;
        }
    }
    Ok(())
}

/// Takes `grants` out of the roles in `originals` (a rule left without verbs goes).
async fn revoke_rules<K: Rules>(api: &Api<K>, originals: &[K], grants: &[Grant]) -> Result {
    for original in originals {
        let name = original.meta().name.as_deref().unwrap_or_default();
        let mut role = api.get(name).await?;
        let rules = role.rules_mut().get_or_insert_default();
        for grant in grants.iter().filter(|g| g.role == name) {
            let rule = rules.get_mut(grant.rule).ok_or("no such rule")?;
            rule.verbs.retain(|verb| *verb != grant.verb);
        }
        rules.retain(|rule| !rule.verbs.is_empty());
        api.replace(name, &PostParams::default(), &role).await?;
    }
    Ok(())
}

impl Chart {
    /// The chart with its default values (but watching only the world's namespace). Its
    /// admission policy is then bound to the watched namespaces alone, and admits every
    /// object the RBAC scenarios create (any account, no roleArn).
    pub async fn install(suite: &Suite, world: &World, through_proxy: bool) -> Result<Self> {
        Self::install_watching(suite, world, through_proxy, &[]).await
    }

    /// [`Chart::install`], watching `also` besides the world's namespace.
    pub async fn install_watching(
        suite: &Suite,
        world: &World,
        through_proxy: bool,
        also: &[&str],
    ) -> Result<Self> {
        Self::install_with(suite, world, through_proxy, also, &[]).await
    }

    /// [`Chart::install_watching`] with more `--set` values, e.g.
    /// `activation.secrets.enabled=false`.
    pub async fn install_with(
        suite: &Suite,
        world: &World,
        through_proxy: bool,
        also: &[&str],
        sets: &[&str],
    ) -> Result<Self> {
        let namespace = world.namespace.clone();
        let watched = std::iter::once(namespace.as_str())
            .chain(also.iter().copied())
            .collect::<Vec<_>>()
            .join(",");
        let mut install = helm(suite, &world.log_dir().join("helm"))?;
        install.args(["install", RELEASE]).arg(chart_dir()).args([
            "--namespace",
            &namespace,
            "--set",
            "crds.enabled=false",
            "--set",
            &format!("watchNamespaces={{{watched}}}"),
        ]);
        for set in sets {
            install.args(["--set", set]);
        }
        run(&mut install)?;
        let token = run(std::process::Command::new(&suite.kubectl)
            .arg("--kubeconfig")
            .arg(&suite.kubeconfig)
            .args(["--namespace", &namespace])
            .args(["create", "token", RELEASE, "--duration=1h"]))?;
        let proxy = if through_proxy {
            Some(ApiProxy::start(&suite.server_url).await?)
        } else {
            None
        };
        let server = proxy.as_ref().map_or(suite.server_url.as_str(), |p| &p.url);
        let kubeconfig = world.log_dir().join("chart-sa.kubeconfig");
        testenv::kubeconfig::write(
            &kubeconfig,
            &testenv::kubeconfig::render(
                server,
                &suite.ca_pem,
                "chart-sa",
                &testenv::kubeconfig::Credentials::Token(token.trim()),
            ),
        )?;
        let roles: Api<Role> = Api::namespaced(suite.client.clone(), &namespace);
        let original = roles.list(&ListParams::default()).await?.items;
        if original.is_empty() {
            return Err("the chart made no Role".into());
        }
        // The ClusterRoles bound to this release's ServiceAccount (the Namespaces it reads).
        let bindings: Api<ClusterRoleBinding> = Api::all(suite.client.clone());
        let cluster_roles: Api<ClusterRole> = Api::all(suite.client.clone());
        let mut original_cluster = Vec::new();
        for binding in bindings.list(&ListParams::default()).await?.items {
            let ours = binding.subjects.iter().flatten().any(|subject| {
                subject.kind == "ServiceAccount"
                    && subject.name == RELEASE
                    && subject.namespace.as_deref() == Some(namespace.as_str())
            });
            if ours {
                original_cluster.push(cluster_roles.get(&binding.role_ref.name).await?);
            }
        }
        Ok(Self {
            kubeconfig,
            proxy,
            namespace,
            client: suite.client.clone(),
            roles,
            original,
            cluster_roles,
            original_cluster,
        })
    }

    /// Whether the chart's ServiceAccount may `verb` `resource` in the world's namespace, as
    /// `kubectl auth can-i` says.
    pub fn may(&self, suite: &Suite, verb: &str, resource: &str) -> Result<bool> {
        let allowed = std::process::Command::new(&suite.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["auth", "can-i", verb, resource, "-n", &self.namespace])
            .output()?;
        Ok(allowed.status.success())
    }

    /// Starts an operator with the chart's identity, without waiting for readiness.
    pub fn launch(&self, world: &World, args: &[&str], log_dir: &Path) -> Result<Operator> {
        Operator::launch_as(
            &self.kubeconfig,
            &self.namespace,
            &world.emulator.endpoint_url(),
            args,
            log_dir,
        )
    }

    /// Every verb the chart's Roles and bound ClusterRoles grant, one entry each.
    pub fn grants(&self) -> Result<Vec<Grant>> {
        let mut grants = Vec::new();
        let roles = self.original.iter().map(|r| (&r.metadata, r.rules()));
        let cluster = self
            .original_cluster
            .iter()
            .map(|r| (&r.metadata, r.rules()));
        for (meta, rules) in roles.chain(cluster) {
            let name = meta.name.clone().unwrap_or_default();
            for (index, rule) in rules.iter().flatten().enumerate() {
                let groups = rule.api_groups.clone().unwrap_or_default();
                let resources = rule.resources.clone().unwrap_or_default();
                let ([group], [resource]) = (groups.as_slice(), resources.as_slice()) else {
                    return Err(format!(
                        "Role {name} rule {index} names several groups or resources: {rule:?}"
                    )
                    .into());
                };
                for verb in &rule.verbs {
                    grants.push(Grant {
                        role: name.clone(),
                        rule: index,
                        group: group.clone(),
                        resource: resource.clone(),
                        resource_names: rule.resource_names.clone().unwrap_or_default(),
                        verb: verb.clone(),
                    });
                }
            }
        }
        Ok(grants)
    }

    /// Puts every role back as the chart made it and waits until RBAC says so.
    pub async fn restore(&self) -> Result {
        restore_rules(&self.roles, &self.original).await?;
        restore_rules(&self.cluster_roles, &self.original_cluster).await?;
        for grant in self.grants()? {
            self.wait_allowed(&grant, true).await?;
        }
        Ok(())
    }

    /// The chart's roles with exactly `grants` taken away (a rule left without verbs goes);
    /// returns once RBAC denies each of them.
    pub async fn revoke(&self, grants: &[Grant]) -> Result {
        self.restore().await?;
        revoke_rules(&self.roles, &self.original, grants).await?;
        revoke_rules(&self.cluster_roles, &self.original_cluster, grants).await?;
        for grant in grants {
            self.wait_allowed(grant, false).await?;
        }
        Ok(())
    }

    /// Whether the API server lets the chart's ServiceAccount do `grant` (SubjectAccessReview).
    pub async fn allowed(&self, grant: &Grant) -> Result<bool> {
        let (resource, subresource) = match grant.resource.split_once('/') {
            Some((resource, sub)) => (resource.to_owned(), Some(sub.to_owned())),
            None => (grant.resource.clone(), None),
        };
        let namespace = &self.namespace;
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(format!("system:serviceaccount:{namespace}:{RELEASE}")),
                groups: Some(vec![
                    "system:serviceaccounts".to_owned(),
                    format!("system:serviceaccounts:{namespace}"),
                    "system:authenticated".to_owned(),
                ]),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.clone()),
                    verb: Some(grant.verb.clone()),
                    group: Some(grant.group.clone()),
                    resource: Some(resource),
                    subresource,
                    name: grant.resource_names.first().cloned(),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let reviews: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = reviews.create(&PostParams::default(), &review).await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    async fn wait_allowed(&self, grant: &Grant, allowed: bool) -> Result {
        let what = format!("RBAC to {} {grant}", if allowed { "allow" } else { "deny" });
        eventually(&what, Duration::from_secs(20), || async {
            Ok((self.allowed(grant).await? == allowed).then_some(()))
        })
        .await
    }
}

/// A TCP proxy on 127.0.0.1 in front of the API server (TLS passes through untouched, the
/// serving certificate names 127.0.0.1). [`ApiProxy::cut`] closes every connection through
/// it, as a network blip or a load balancer would: open watches end, clients reconnect.
pub struct ApiProxy {
    pub url: String,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl ApiProxy {
    pub async fn start(server_url: &str) -> Result<Self> {
        let upstream: std::net::SocketAddr = server_url
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://{}", listener.local_addr()?);
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accepted = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(link.abort_handle());
            }
        });
        Ok(Self { url, links, accept })
    }

    /// Closes every connection open through the proxy; returns how many were open.
    pub fn cut(&self) -> usize {
        let links: Vec<_> = self
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        let open = links.iter().filter(|link| !link.is_finished()).count();
        for link in links {
            link.abort();
        }
        open
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
