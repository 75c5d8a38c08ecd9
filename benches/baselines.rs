//! Baselines for the fleet benchmark: the same job (one accepted SendActivationCode per
//! channel against the emulator's quota) done without the operator and without Kubernetes,
//! the way a controller with no global limiter, or a user's script, would do it.
//!
//! - [`naive`]: the Rust SDK with its standard retry mode (3 attempts), 32 workers, no
//!   global limiter; a channel whose call failed waits 1 s, 2 s, 4 s ... (60 s at most,
//!   full jitter) before its next call, until one is accepted.
//! - [`adaptive_script`]: `benches/adaptive_baseline.py`, botocore's adaptive retry mode
//!   (10 attempts) on a pool of 32 threads, no retries of its own.
//!
//! Each run needs channels of its own that nothing has sent a code to (seed a fresh set per
//! baseline). What a run counts (calls, accepted, throttled, unsent) comes from the
//! emulator's journal: the SendActivationCode calls for those channels only, recorded after
//! the run started. The quota in force is set again before each run (which refills its
//! bucket), so every run starts from the same full bucket.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::config::retry::RetryConfig;
use aws_sdk_ssmcontacts::config::timeout::TimeoutConfig;
use aws_sdk_ssmcontacts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssmcontacts::error::{ProvideErrorMetadata, SdkError};
use rand::Rng;
use ssm_contacts_emulator::admin::AdminClient;
use ssm_contacts_emulator::journal::{JournalFilter, OUTCOME_OK};
use ssm_contacts_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY};
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Workers (concurrent calls) of both baselines, as the operator's `--concurrency 32`.
const WORKERS: usize = 32;
/// A run gives up on the channels still without a code after this long.
const DEADLINE: Duration = Duration::from_secs(30 * 60);
/// The naive policy's backoff: 1 s after a channel's first failure, doubling, at most 60 s.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const SEND: &str = "SendActivationCode";
const THROTTLED: &str = "ThrottlingException";

/// What one baseline run did, counted by the emulator for the run's channels.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineRun {
    pub name: &'static str,
    /// From making the clients to the last answer (the script reports its own, so the
    /// interpreter's start-up and botocore's import are left out).
    pub seconds: f64,
    /// SendActivationCode calls that reached the emulator, whatever their answer.
    pub calls: usize,
    /// Calls answered with success: codes sent (one per channel when all went well).
    pub accepted: usize,
    /// Calls answered ThrottlingException.
    pub throttled: usize,
    /// Channels that never had a call accepted.
    pub unsent: usize,
}

impl fmt::Display for BaselineRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.2} s, {} calls, {} accepted, {} throttled ({:.2}% of calls), {} unsent",
            self.name,
            self.seconds,
            self.calls,
            self.accepted,
            self.throttled,
            100.0 * self.throttled as f64 / self.calls.max(1) as f64,
            self.unsent
        )
    }
}

/// The naive policy: the SDK's standard retries, 32 workers and per-channel exponential
/// backoff, until every channel of `arns` had a call accepted (or 30 minutes passed).
/// `endpoint` is the emulator's `http://127.0.0.1:PORT`.
pub async fn naive(endpoint: &str, arns: &[String]) -> Result<BaselineRun, Error> {
    let run = Run::start(endpoint, arns).await?;
    let clients = clients_by_region(endpoint, arns);
    let workers = Arc::new(Semaphore::new(WORKERS));
    let deadline = Instant::now() + DEADLINE;
    let mut tasks = tokio::task::JoinSet::new();
    for arn in arns {
        let client = clients
            .get(region_of(arn))
            .ok_or("no client for the channel's region")?
            .clone();
        let (arn, workers) = (arn.clone(), Arc::clone(&workers));
        tasks.spawn(async move { send_until_accepted(&client, &arn, &workers, deadline).await });
    }
    let mut first_refusal = None;
    while let Some(joined) = tasks.join_next().await {
        if let Some(refusal) = joined? {
            first_refusal.get_or_insert(refusal);
        }
    }
    let seconds = run.started.elapsed().as_secs_f64();
    if let Some(refusal) = first_refusal {
        eprintln!("naive baseline: some channels were refused for good, e.g. {refusal}");
    }
    run.finish("naive policy", seconds).await
}

/// `benches/adaptive_baseline.py` (python3, or `PYTHON`) sending to every channel of
/// `arns`, with the emulator's key and nothing else from the environment's AWS settings.
/// A script that ran but left channels without a code is not an error: they count as
/// unsent. A script that did not get as far as its summary line is.
pub async fn adaptive_script(endpoint: &str, arns: &[String]) -> Result<BaselineRun, Error> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/adaptive_baseline.py");
    let python = std::env::var("PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_owned());
    let mut list = tempfile::NamedTempFile::new()?;
    for arn in arns {
        std::io::Write::write_all(&mut list, format!("{arn}\n").as_bytes())?;
    }
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&script)
        .args(["--endpoint-url", endpoint])
        .arg("--deadline-seconds")
        .arg(DEADLINE.as_secs().to_string())
        .arg(list.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SSM_CONTACTS",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1,localhost,::1")
        .env("no_proxy", "127.0.0.1,localhost,::1");

    let run = Run::start(endpoint, arns).await?;
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {python} {}: {e}", script.display()))?;
    // The script stops itself at its deadline; this one is for a script that hangs.
    let output =
        match tokio::time::timeout(DEADLINE + Duration::from_secs(60), child.wait_with_output())
            .await
        {
            Ok(output) => Some(output?),
            // The child is killed as it is dropped.
            Err(_) => None,
        };
    let wall = run.started.elapsed().as_secs_f64();
    let seconds = match &output {
        Some(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let summary = stdout
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|_| matches!(output.status.code(), Some(0 | 1)))
                .ok_or_else(|| {
                    format!(
                        "{} ended {} without a summary; stdout: {stdout} stderr: {stderr}",
                        script.display(),
                        output.status
                    )
                })?;
            if summary["failed"].as_u64().unwrap_or(0) > 0 {
                eprintln!("adaptive script: some channels got no code: {summary}");
            }
            summary["seconds"].as_f64().unwrap_or(wall)
        }
        None => {
            eprintln!("adaptive script: killed after {wall:.0} s");
            wall
        }
    };
    run.finish("adaptive script", seconds).await
}

/// One baseline run's bookkeeping: where the journal stood when it started.
struct Run<'a> {
    admin: AdminClient,
    arns: &'a [String],
    after_seq: u64,
    started: Instant,
}

impl<'a> Run<'a> {
    /// Checks that the channels are fresh, refills the quota and notes the journal's end.
    async fn start(endpoint: &str, arns: &'a [String]) -> Result<Self, Error> {
        if !is_loopback(endpoint) {
            return Err(
                format!("the baselines talk to a local emulator only, not {endpoint}").into(),
            );
        }
        let admin = AdminClient::new(endpoint);
        let sends = admin.sends_per_channel().await?;
        if let Some(used) = arns.iter().find(|arn| sends.contains_key(*arn)) {
            return Err(format!("channel {used} already got a code: seed fresh channels").into());
        }
        // Setting the quota again refills its bucket: each run starts as the first did.
        if let Some(quota) = admin.quota().await? {
            admin.set_quota(quota).await?;
        }
        let after_seq = admin.journal_stats().await?.recorded;
        Ok(Self {
            admin,
            arns,
            after_seq,
            started: Instant::now(),
        })
    }

    /// Counts the run's calls in the journal.
    async fn finish(self, name: &'static str, seconds: f64) -> Result<BaselineRun, Error> {
        let stats = self.admin.journal_stats().await?;
        if stats.dropped > self.after_seq {
            return Err(format!(
                "the journal let go of {} entries of the {name} run: counts would be short",
                stats.dropped - self.after_seq
            )
            .into());
        }
        let filter = JournalFilter {
            operation: Some(SEND.to_owned()),
            after_seq: Some(self.after_seq),
            ..JournalFilter::default()
        };
        let ours: HashSet<&str> = self.arns.iter().map(String::as_str).collect();
        let mut run = BaselineRun {
            name,
            seconds,
            calls: 0,
            accepted: 0,
            throttled: 0,
            unsent: 0,
        };
        let mut sent = HashSet::new();
        for entry in self.admin.journal_filtered(&filter).await? {
            let Some(arn) = entry.channel_arn.as_deref().filter(|a| ours.contains(a)) else {
                continue;
            };
            run.calls += 1;
            if entry.outcome == OUTCOME_OK {
                run.accepted += 1;
                sent.insert(arn.to_owned());
            } else if entry.outcome == THROTTLED {
                run.throttled += 1;
            }
        }
        run.unsent = ours.len() - sent.len();
        Ok(run)
    }
}

/// Calls SendActivationCode for `arn` (holding one of the `workers` permits only while a
/// call is out) until one is accepted. Returns `None` once accepted or at the deadline,
/// or the error that ends the channel's attempts: an answer that no retry can change
/// (e.g. ResourceNotFoundException), which no worker should spin on for 30 minutes.
async fn send_until_accepted(
    client: &Client,
    arn: &str,
    workers: &Semaphore,
    deadline: Instant,
) -> Option<String> {
    let mut failures = 0u32;
    loop {
        let answer = tokio::time::timeout_at(deadline, async {
            let _worker = workers.acquire().await.ok()?;
            Some(
                client
                    .send_activation_code()
                    .contact_channel_id(arn)
                    .send()
                    .await,
            )
        })
        .await;
        let error = match answer {
            Ok(Some(Ok(_))) | Ok(None) | Err(_) => return None,
            Ok(Some(Err(error))) => error,
        };
        if let SdkError::ServiceError(service) = &error {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            if code != THROTTLED && status != 429 && status < 500 {
                return Some(format!("{arn}: {code} (HTTP {status})"));
            }
        }
        failures = failures.saturating_add(1);
        let wait = backoff(failures);
        if Instant::now() + wait >= deadline {
            return None;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Full jitter: a uniform pick in [0, min(60 s, 1 s x 2^(failures - 1))].
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let cap = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX);
    cap.mul_f64(rand::rng().random_range(0.0..=1.0))
}

/// One client per region the ARNs name: the SDK's standard retry mode with its default
/// attempts, the emulator's key, and nothing read from the environment.
fn clients_by_region(endpoint: &str, arns: &[String]) -> HashMap<String, Client> {
    let mut clients = HashMap::new();
    for arn in arns {
        let region = region_of(arn);
        if clients.contains_key(region) {
            continue;
        }
        let config = aws_sdk_ssmcontacts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_SECRET_ACCESS_KEY,
                None,
                None,
                "fleet-baseline",
            ))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::standard())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build();
        clients.insert(region.to_owned(), Client::from_conf(config));
    }
    clients
}

/// The region field of a channel ARN (`arn:aws:ssm-contacts:REGION:...`); us-east-1 when
/// there is none.
fn region_of(arn: &str) -> &str {
    arn.split(':')
        .nth(3)
        .filter(|region| !region.is_empty())
        .unwrap_or("us-east-1")
}

fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host, |(host, _port)| host)
        .trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
