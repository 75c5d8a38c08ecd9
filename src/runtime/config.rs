//! Command line and environment: every knob of the operator, grouped by concern.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser};
use kube::core::Selector;

use crate::api::resource::MAX_RECENT_SENDS;
use crate::pacing::bucket::RateSettings;
use crate::pacing::line::MAX_CALL_SPACING_WAIT;
use crate::reconcile::context::ActivationSettings;
use crate::rules::activation::CheckPolicy;
use crate::rules::backoff::BackoffPolicy;
use crate::rules::cooldown::{self, ChannelLimits};
use crate::rules::decide::UnknownOutcomePolicy;
use crate::rules::tenancy::{Accounts, RolePatterns, Tenancy};
use crate::runtime::admin::{Serves, listeners};
use crate::runtime::logging::LogFormat;
use crate::runtime::selector;

#[derive(Debug, Parser)]
#[command(
    name = "ssm-contacts-operator",
    version,
    about = "Sends AWS SSM Contacts activation codes for ContactChannelActivation resources"
)]
pub struct Args {
    /// Without a subcommand, the operator runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub pacing: PacingArgs,
    #[command(flatten)]
    pub activation: ActivationArgs,
    #[command(flatten)]
    pub tenancy: TenancyArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ask a running operator's probe (or /metrics) and exit 0 on a 2xx answer; what
    /// `helm test` runs, on the operator's own image.
    Healthcheck(HealthcheckArgs),
}

/// `healthcheck`'s arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// What to ask, `http://HOST:PORT/PATH` (no TLS: probes and metrics are plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8081/readyz")]
    pub url: String,
    /// How long one ask may take.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How many times to ask before giving up (an operator just installed may still be
    /// syncing its caches).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
    /// The wait between two asks.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// Abuse guards: which accounts and roles objects may name, and how often a channel may
/// receive a code.
#[derive(Debug, ClapArgs)]
pub struct TenancyArgs {
    /// AWS account ids whose channels may get codes (comma-separated, 12 digits each);
    /// empty allows any. The Namespace annotation ssmcontacts.oncall.dev/allowed-accounts
    /// narrows it per namespace.
    #[arg(
        long,
        env = "SSMC_ALLOWED_ACCOUNTS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_accounts: Vec<String>,
    /// Role ARNs that spec.roleArn may name (comma-separated; `*` matches any run of
    /// characters); empty allows no role.
    #[arg(
        long,
        env = "SSMC_ALLOWED_ROLE_ARNS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_role_arns: Vec<String>,
    /// Least time between two codes to one channel, whichever objects ask (0s turns it off).
    #[arg(long, env = "SSMC_CHANNEL_COOLDOWN", default_value = "60s", value_parser = parse_duration)]
    pub channel_cooldown: Duration,
    /// Most codes one channel receives in any rolling hour, whichever objects ask.
    #[arg(long, env = "SSMC_CHANNEL_SENDS_PER_HOUR", default_value_t = 5)]
    pub channel_sends_per_hour: u32,
}

impl TenancyArgs {
    /// The admission rules, or what is wrong with the flags.
    pub fn tenancy(&self) -> Result<Tenancy, Vec<String>> {
        let accounts = Accounts::parse(&self.allowed_accounts.join(","))
            .map_err(|problem| format!("--allowed-accounts: {problem}"));
        let roles = RolePatterns::parse(&self.allowed_role_arns)
            .map_err(|problem| format!("--allowed-role-arns: {problem}"));
        match (accounts, roles) {
            (Ok(accounts), Ok(roles)) => Ok(Tenancy { accounts, roles }),
            (accounts, roles) => Err([accounts.err(), roles.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    pub fn limits(&self) -> ChannelLimits {
        ChannelLimits {
            cooldown: self.channel_cooldown,
            per_hour: self.channel_sends_per_hour,
        }
    }
}

#[derive(Debug, ClapArgs)]
pub struct ActivationArgs {
    /// GetContactChannel and ActivateContactChannel calls per second, a budget apart from
    /// sends.
    #[arg(long, env = "SSMC_ACTIVATION_CHECK_RATE", default_value_t = 2.0)]
    pub activation_check_rate: f64,
    /// Wait before the first activation check after a code was sent; it doubles per check.
    #[arg(long, env = "SSMC_ACTIVATION_CHECK_FIRST", default_value = "30s", value_parser = parse_duration)]
    pub activation_check_first: Duration,
    /// Longest wait between two activation checks.
    #[arg(long, env = "SSMC_ACTIVATION_CHECK_MAX", default_value = "1h", value_parser = parse_duration)]
    pub activation_check_max: Duration,
    /// How often a channel AWS reported ACTIVATED is read again, to catch one that fell back
    /// to NOT_ACTIVATED (status Deactivated); timed from status.lastActivationCheckTime, so a
    /// restart reads nothing early. 0s never reads it again.
    #[arg(long, env = "SSMC_ACTIVATION_RECHECK", default_value = "12h", value_parser = parse_duration)]
    pub activation_recheck: Duration,
    /// Read activation codes from Secrets (spec.activationCodeSecretRef). Off: no Secret is
    /// watched or read, and the chart grants no Secret permission.
    #[arg(long, env = "SSMC_CODE_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub code_secrets: bool,
}

impl ActivationArgs {
    pub fn settings(&self) -> ActivationSettings {
        ActivationSettings {
            rate: RateSettings {
                max_rate: self.activation_check_rate,
                min_rate: self.activation_check_rate,
                burst: self.activation_check_rate.max(1.0),
            },
            checks: CheckPolicy {
                first: self.activation_check_first,
                max: self.activation_check_max,
                recheck: self.activation_recheck,
            },
            code_secrets: self.code_secrets,
        }
    }
}

#[derive(Debug, ClapArgs)]
pub struct WatchArgs {
    /// Namespaces to watch (repeat or comma-separate); none means the whole cluster.
    #[arg(
        long = "namespace",
        env = "SSMC_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Objects reconciled at the same time.
    #[arg(long, env = "SSMC_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Only objects whose labels match this selector (kubectl syntax, e.g. `shard=a` or
    /// `shard notin (a)`); several operators with complementary selectors split the objects.
    #[arg(long, env = "SSMC_SELECTOR", default_value = "")]
    pub selector: String,
    /// `selector` as parsed by [`Args::validate`].
    #[arg(skip)]
    pub label_selector: Selector,
}

#[derive(Debug, ClapArgs)]
pub struct AwsArgs {
    /// Region for channels whose ARN has no region and whose spec names none. Defaults to
    /// the AWS SDK's region (AWS_REGION, profile).
    #[arg(long, env = "SSMC_DEFAULT_REGION")]
    pub default_region: Option<String>,
    /// Time allowed for one SendActivationCode call; past it the outcome is unknown.
    #[arg(long, env = "SSMC_CALL_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub call_timeout: Duration,
    /// Time allowed to connect to the SSM Contacts endpoint.
    #[arg(long, env = "SSMC_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// What to do when a call's outcome was lost: send again (default) or hold the object
    /// as OutcomeUnknown until its spec changes.
    #[arg(long, env = "SSMC_ON_UNKNOWN_OUTCOME", value_enum, default_value_t = OnUnknownOutcome::Resend)]
    pub on_unknown_outcome: OnUnknownOutcome,
}

/// `--on-unknown-outcome`; the decision module's policy, spelled for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnUnknownOutcome {
    Resend,
    Hold,
}

impl From<OnUnknownOutcome> for UnknownOutcomePolicy {
    fn from(value: OnUnknownOutcome) -> Self {
        match value {
            OnUnknownOutcome::Resend => Self::Resend,
            OnUnknownOutcome::Hold => Self::Hold,
        }
    }
}

#[derive(Debug, ClapArgs)]
pub struct PacingArgs {
    /// Global sends per second when AWS is not throttling.
    #[arg(long, env = "SSMC_SEND_RATE", default_value_t = 10.0)]
    pub send_rate: f64,
    /// The floor that throttling never pushes the global send rate below.
    #[arg(long, env = "SSMC_MIN_SEND_RATE", default_value_t = 0.2)]
    pub min_send_rate: f64,
    /// Deprecated, no longer used: sends go out one interval of their scope's rate apart,
    /// never in bursts, since AWS does not say how large a burst its quota admits. Still
    /// accepted (and checked) so that existing configurations start.
    #[arg(long, env = "SSMC_SEND_BURST", default_value_t = 10.0)]
    pub send_burst: f64,
    /// First retry delay after a transient failure (throttling, AWS 5xx).
    #[arg(long, env = "SSMC_BACKOFF_BASE", default_value = "1s", value_parser = parse_duration)]
    pub backoff_base: Duration,
    #[arg(long, env = "SSMC_BACKOFF_MAX", default_value = "5m", value_parser = parse_duration)]
    pub backoff_max: Duration,
    /// First retry delay after a failure that needs an outside fix (IAM, KMS, quota, missing channel).
    #[arg(long, env = "SSMC_SLOW_BACKOFF_BASE", default_value = "1m", value_parser = parse_duration)]
    pub slow_backoff_base: Duration,
    #[arg(long, env = "SSMC_SLOW_BACKOFF_MAX", default_value = "1h", value_parser = parse_duration)]
    pub slow_backoff_max: Duration,
    /// How long another instance's in-flight call is waited for before its outcome counts as lost.
    #[arg(long, env = "SSMC_IN_FLIGHT_GRACE", default_value = "60s", value_parser = parse_duration)]
    pub in_flight_grace: Duration,
}

#[derive(Debug, ClapArgs)]
pub struct OpsArgs {
    /// Address of the probes (/livez, /readyz).
    #[arg(long, env = "SSMC_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,
    /// Address of /metrics (the same as --health-addr serves both on one port).
    #[arg(long, env = "SSMC_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Probes and metrics on this one address instead (overrides --health-addr and
    /// --metrics-addr).
    #[arg(long, env = "SSMC_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    #[arg(long, env = "SSMC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Take a Lease before reconciling, so that several replicas run with one active.
    #[arg(long, env = "SSMC_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    #[arg(long, env = "SSMC_LEASE_NAME", default_value = "ssm-contacts-operator")]
    pub lease_name: String,
    /// How long a leader's Lease stays valid without renewal, in seconds: the failover time.
    #[arg(long, env = "SSMC_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// How long before expiry the leader renews its Lease, in seconds.
    #[arg(long, env = "SSMC_LEASE_GRACE_SECONDS", default_value_t = 5)]
    pub lease_grace_seconds: u64,
    /// Namespace of the Lease; defaults to the pod's namespace (POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// This replica's name, in the Lease and in in-flight records; defaults to the pod name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Deadline of every single Kubernetes API call (status writes, reads, Events).
    #[arg(long, env = "SSMC_API_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub api_timeout: Duration,
    /// How long the watches may keep failing (RBAC removed, CRD deleted) before /readyz fails.
    #[arg(long, env = "SSMC_UNREADY_AFTER_WATCH_FAILURE", default_value = "60s", value_parser = parse_duration)]
    pub unready_after_watch_failure: Duration,
}

/// Start-up refuses values outside these ranges: a typo must not become a silent outage.
const MAX_RATE: f64 = 10_000.0;
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// The longest --activation-recheck: a channel nobody re-reads for a month is not watched.
const MAX_ACTIVATION_RECHECK: Duration = Duration::from_secs(30 * 24 * 3600);
const CALL_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
const API_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(120));
const MAX_NAME: usize = 63;
/// A status keeps at most this many recent sends (the CRD's limit).
const MAX_SENDS_PER_HOUR: u32 = MAX_RECENT_SENDS as u32;

impl OpsArgs {
    /// Where probes and metrics are served.
    pub fn listeners(&self) -> Vec<(SocketAddr, Serves)> {
        match self.admin_addr {
            Some(addr) => listeners(addr, addr),
            None => listeners(self.health_addr, self.metrics_addr),
        }
    }
}

impl Args {
    /// Parses the command line and environment, then checks every value; on a bad value
    /// prints what is wrong and exits with code 2, like clap does for a malformed one.
    pub fn load() -> Self {
        let mut args = Self::parse();
        if args.command.is_some() {
            return args;
        }
        if let Err(problems) = args.validate() {
            let mut command = <Self as clap::CommandFactory>::command();
            command
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!("invalid configuration:\n  {}", problems.join("\n  ")),
                )
                .exit();
        }
        args
    }

    /// Normalises the namespace list (trimmed, de-duplicated) and checks every range. All
    /// problems are reported at once.
    pub fn validate(&mut self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut namespaces = Vec::new();
        for namespace in self.watch.namespaces.iter().map(|n| n.trim()) {
            if namespace.is_empty() {
                continue;
            }
            if !is_dns_label(namespace) {
                problems.push(format!(
                    "--namespace {namespace:?} is not a namespace name (lowercase letters, digits and '-', at most {MAX_NAME})"
                ));
            }
            // A namespace listed twice would start two controllers over the same objects.
            if seen.insert(namespace.to_owned()) {
                namespaces.push(namespace.to_owned());
            }
        }
        self.watch.namespaces = namespaces;
        match selector::parse(&self.watch.selector) {
            Ok(parsed) => self.watch.label_selector = parsed,
            Err(problem) => problems.push(format!("--selector: {problem}")),
        }
        if self.watch.concurrency == 0 {
            problems.push("--concurrency must be at least 1".into());
        }

        let pacing = &self.pacing;
        let rate_ok = |value: f64| value.is_finite() && value > 0.0 && value <= MAX_RATE;
        for (flag, value) in [
            ("--send-rate", pacing.send_rate),
            ("--min-send-rate", pacing.min_send_rate),
        ] {
            if !rate_ok(value) {
                problems.push(format!(
                    "{flag} must be a number above 0 and at most {MAX_RATE}, got {value}"
                ));
            }
        }
        if !(rate_ok(pacing.send_burst) && pacing.send_burst >= 1.0) {
            problems.push(format!(
                "--send-burst must be a number from 1 to {MAX_RATE}, got {}",
                pacing.send_burst
            ));
        }
        if pacing.min_send_rate > pacing.send_rate {
            problems.push(format!(
                "--min-send-rate ({}) must not exceed --send-rate ({})",
                pacing.min_send_rate, pacing.send_rate
            ));
        }
        for (base_flag, base, max_flag, max) in [
            (
                "--backoff-base",
                pacing.backoff_base,
                "--backoff-max",
                pacing.backoff_max,
            ),
            (
                "--slow-backoff-base",
                pacing.slow_backoff_base,
                "--slow-backoff-max",
                pacing.slow_backoff_max,
            ),
        ] {
            if base < Duration::from_millis(10) {
                problems.push(format!("{base_flag} must be at least 10ms, got {base:?}"));
            }
            if max < base {
                problems.push(format!(
                    "{max_flag} ({max:?}) must not be shorter than {base_flag} ({base:?})"
                ));
            }
            if max > MAX_BACKOFF {
                problems.push(format!("{max_flag} must be at most 24h, got {max:?}"));
            }
        }

        let activation = &self.activation;
        if !rate_ok(activation.activation_check_rate) {
            problems.push(format!(
                "--activation-check-rate must be a number above 0 and at most {MAX_RATE}, got {}",
                activation.activation_check_rate
            ));
        }
        if activation.activation_check_first < Duration::from_secs(1)
            || activation.activation_check_max < activation.activation_check_first
            || activation.activation_check_max > MAX_BACKOFF
        {
            problems.push(format!(
                "--activation-check-first must be at least 1s and --activation-check-max between it and 24h, got {:?} and {:?}",
                activation.activation_check_first, activation.activation_check_max
            ));
        }

        if activation.activation_recheck > MAX_ACTIVATION_RECHECK
            || (!activation.activation_recheck.is_zero()
                && activation.activation_recheck < Duration::from_secs(1))
        {
            problems.push(format!(
                "--activation-recheck must be 0s (never) or between 1s and 30 days, got {:?}",
                activation.activation_recheck
            ));
        }

        let tenancy = &self.tenancy;
        if let Err(found) = tenancy.tenancy() {
            problems.extend(found);
        }
        // Sends are remembered for an hour (status.recentSends): a longer cooldown would be
        // forgotten across a restart.
        if tenancy.channel_cooldown > cooldown::WINDOW {
            problems.push(format!(
                "--channel-cooldown must be at most 1h, got {:?}",
                tenancy.channel_cooldown
            ));
        }
        if !(1..=MAX_SENDS_PER_HOUR).contains(&tenancy.channel_sends_per_hour) {
            problems.push(format!(
                "--channel-sends-per-hour must be between 1 and {MAX_SENDS_PER_HOUR}, got {}",
                tenancy.channel_sends_per_hour
            ));
        }

        let call = self.aws.call_timeout;
        let api = self.ops.api_timeout;
        let within =
            |value: Duration, (low, high): (Duration, Duration)| value >= low && value <= high;
        if !within(call, CALL_TIMEOUT) {
            problems.push(format!(
                "--call-timeout must be between 1s and 10m, got {call:?}"
            ));
        }
        if !within(api, API_TIMEOUT) {
            problems.push(format!(
                "--api-timeout must be between 1s and 2m, got {api:?}"
            ));
        }
        let connect = self.aws.connect_timeout;
        // The call timeout bounds the whole call, connecting included; a longer connect
        // timeout is merely never reached.
        if connect < Duration::from_millis(100) || connect > CALL_TIMEOUT.1 {
            problems.push(format!(
                "--connect-timeout must be between 100ms and 10m, got {connect:?}"
            ));
        }
        // Another instance waits the grace from when it first sees an intent; the holder may
        // take up to the status write's deadline to see that intent committed, then wait for
        // its call's spacing, then the call. (AssumeRole and the pre-send read come before
        // the intent.)
        let grace = pacing.in_flight_grace;
        let longest = api
            .saturating_add(MAX_CALL_SPACING_WAIT)
            .saturating_add(call);
        if grace <= longest || grace > MAX_BACKOFF {
            problems.push(format!(
                "--in-flight-grace ({grace:?}) must be longer than --api-timeout plus --call-timeout plus the 0.5s call spacing ({longest:?}) and at most 24h"
            ));
        }

        let ops = &self.ops;
        if ops.lease_duration_seconds < 2 || ops.lease_duration_seconds > 3600 {
            problems.push(format!(
                "--lease-duration-seconds must be between 2 and 3600, got {}",
                ops.lease_duration_seconds
            ));
        }
        if ops.lease_grace_seconds == 0 || ops.lease_grace_seconds >= ops.lease_duration_seconds {
            problems.push(format!(
                "--lease-grace-seconds must be at least 1 and below --lease-duration-seconds, got {}",
                ops.lease_grace_seconds
            ));
        }
        let unready = ops.unready_after_watch_failure;
        if unready < Duration::from_secs(1) || unready > MAX_BACKOFF {
            problems.push(format!(
                "--unready-after-watch-failure must be between 1s and 24h, got {unready:?}"
            ));
        }
        if ops
            .identity
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 200)
        {
            problems.push("--identity (POD_NAME) must be 1 to 200 characters".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// How long shutdown waits for calls already in flight: the intent write, the call, and
    /// the outcome write, each at its own deadline, plus a margin.
    pub fn drain_timeout(&self) -> Duration {
        self.ops
            .api_timeout
            .saturating_mul(2)
            .saturating_add(self.aws.call_timeout)
            .saturating_add(Duration::from_secs(5))
    }
}

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

impl PacingArgs {
    pub fn rate(&self) -> RateSettings {
        RateSettings {
            max_rate: self.send_rate,
            min_rate: self.min_send_rate,
            burst: self.send_burst,
        }
    }

    pub fn backoff(&self) -> BackoffPolicy {
        BackoffPolicy {
            fast_base: self.backoff_base,
            fast_max: self.backoff_max,
            slow_base: self.slow_backoff_base,
            slow_max: self.slow_backoff_max,
        }
    }
}

/// Accepts "90s", "5m", "1h 30m", or ISO 8601 ("PT5M").
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a duration: {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("{text:?} is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Durations read the way people write them.
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    /// Defaults parse and describe a sane operator.
    fn defaults() {
        let mut args = Args::try_parse_from(["ssm-contacts-operator"]).unwrap();
        assert_eq!(args.validate(), Ok(()));
        assert!(args.watch.namespaces.is_empty());
        assert_eq!(args.aws.on_unknown_outcome, OnUnknownOutcome::Resend);
        assert_eq!(args.tenancy.tenancy(), Ok(Tenancy::default()));
        assert_eq!(
            args.tenancy.limits(),
            ChannelLimits {
                cooldown: Duration::from_secs(60),
                per_hour: 5
            }
        );
        assert_eq!(args.pacing.backoff(), BackoffPolicy::default());
        let args =
            Args::try_parse_from(["x", "--namespace", "a,b", "--on-unknown-outcome", "hold"])
                .unwrap();
        assert_eq!(args.watch.namespaces, ["a", "b"]);
        assert_eq!(
            UnknownOutcomePolicy::from(args.aws.on_unknown_outcome),
            UnknownOutcomePolicy::Hold
        );
    }

    fn problems(argv: &[&str]) -> Vec<String> {
        let mut args = Args::try_parse_from(argv).unwrap();
        args.validate().err().unwrap_or_default()
    }

    #[test]
    /// A namespace listed twice, or with stray spaces, watches it once.
    fn namespaces_are_deduplicated() {
        let mut args =
            Args::try_parse_from(["x", "--namespace", "a,a, b,,a", "--namespace", "b"]).unwrap();
        assert_eq!(args.validate(), Ok(()));
        assert_eq!(args.watch.namespaces, ["a", "b"]);
    }

    #[test]
    /// Every value out of range is refused, each with a message naming its flag.
    fn out_of_range_values_are_refused() {
        for (argv, flag) in [
            (&["x", "--send-rate", "0"][..], "--send-rate"),
            (&["x", "--send-rate", "NaN"][..], "--send-rate"),
            (&["x", "--send-rate", "inf"][..], "--send-rate"),
            (&["x", "--send-rate=-1"][..], "--send-rate"),
            (&["x", "--min-send-rate", "0"][..], "--min-send-rate"),
            (&["x", "--min-send-rate", "20"][..], "--min-send-rate"),
            (&["x", "--send-burst", "0.5"][..], "--send-burst"),
            (&["x", "--backoff-base", "0s"][..], "--backoff-base"),
            (&["x", "--backoff-max", "30000h"][..], "--backoff-max"),
            (&["x", "--slow-backoff-max", "1s"][..], "--slow-backoff-max"),
            (&["x", "--call-timeout", "0s"][..], "--call-timeout"),
            (&["x", "--api-timeout", "1h"][..], "--api-timeout"),
            (&["x", "--in-flight-grace", "40s"][..], "--in-flight-grace"),
            (&["x", "--call-timeout", "2m"][..], "--in-flight-grace"),
            (&["x", "--concurrency", "0"][..], "--concurrency"),
            (&["x", "--namespace", "Bad_Name"][..], "--namespace"),
            (&["x", "--selector", "shard in a"][..], "--selector"),
            (
                &["x", "--allowed-accounts", "12345"][..],
                "--allowed-accounts",
            ),
            (
                &["x", "--allowed-role-arns", "*"][..],
                "--allowed-role-arns",
            ),
            (&["x", "--channel-cooldown", "2h"][..], "--channel-cooldown"),
            (
                &["x", "--channel-sends-per-hour", "0"][..],
                "--channel-sends-per-hour",
            ),
            (
                &["x", "--channel-sends-per-hour", "65"][..],
                "--channel-sends-per-hour",
            ),
            (
                &["x", "--lease-grace-seconds", "15"][..],
                "--lease-grace-seconds",
            ),
        ] {
            let found = problems(argv);
            assert!(
                found.iter().any(|p| p.contains(flag)),
                "{argv:?}: expected a problem naming {flag}, got {found:?}"
            );
        }
        assert!(problems(&["x", "--in-flight-grace", "41s"]).is_empty());
    }

    #[test]
    /// The drain covers an intent write, a call and an outcome write.
    fn drain_covers_a_whole_send() {
        let args =
            Args::try_parse_from(["x", "--call-timeout", "20s", "--api-timeout", "3s"]).unwrap();
        assert_eq!(args.drain_timeout(), Duration::from_secs(31));
    }
}
