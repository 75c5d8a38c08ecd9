//! Command line and environment: every knob of the operator, grouped by concern.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser};

use crate::backoff::BackoffPolicy;
use crate::decide::UnknownOutcomePolicy;
use crate::pacing::RateSettings;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "ssm-contacts-operator",
    version,
    about = "Sends AWS SSM Contacts activation codes for ContactChannelActivation resources"
)]
pub struct Args {
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub pacing: PacingArgs,
    #[command(flatten)]
    pub ops: OpsArgs,
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
    #[arg(long, env = "SSMC_ON_UNKNOWN_OUTCOME", value_enum, default_value_t = UnknownOutcomePolicy::Resend)]
    pub on_unknown_outcome: UnknownOutcomePolicy,
}

#[derive(Debug, ClapArgs)]
pub struct PacingArgs {
    /// Global sends per second when AWS is not throttling.
    #[arg(long, env = "SSMC_SEND_RATE", default_value_t = 10.0)]
    pub send_rate: f64,
    /// The floor that throttling never pushes the global send rate below.
    #[arg(long, env = "SSMC_MIN_SEND_RATE", default_value_t = 0.2)]
    pub min_send_rate: f64,
    /// Sends that may go out at once after a quiet period.
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
    /// Address of the admin server (/livez, /readyz, /metrics).
    #[arg(long, env = "SSMC_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,
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
        let args = Args::try_parse_from(["ssm-contacts-operator"]).unwrap();
        assert!(args.watch.namespaces.is_empty());
        assert_eq!(args.aws.on_unknown_outcome, UnknownOutcomePolicy::Resend);
        assert_eq!(args.pacing.backoff(), BackoffPolicy::default());
        let args =
            Args::try_parse_from(["x", "--namespace", "a,b", "--on-unknown-outcome", "hold"])
                .unwrap();
        assert_eq!(args.watch.namespaces, ["a", "b"]);
        assert_eq!(args.aws.on_unknown_outcome, UnknownOutcomePolicy::Hold);
    }
}
