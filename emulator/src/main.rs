//! `ssm-contacts-emulator`: serve the emulator on a loopback address until interrupted.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Parser;
use ssm_contacts_emulator::sessions::{MAX_DURATION_SECONDS, StsSettings};
use ssm_contacts_emulator::state::SeedChannel;
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCOUNT_ID, DEFAULT_JOURNAL_CAPACITY, DEFAULT_SECRET_ACCESS_KEY,
    EmulatorConfig, RunningEmulator,
};
use tracing_subscriber::EnvFilter;

/// Local AWS SSM Contacts emulator (awsJson1.1, SigV4, fault injection; admin API under
/// /_emulator/), with STS AssumeRole (awsQuery) on the same endpoint.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "EMULATOR_LISTEN", default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Access key id that requests must be signed with.
    #[arg(long, env = "EMULATOR_ACCESS_KEY_ID", default_value = DEFAULT_ACCESS_KEY_ID)]
    access_key_id: String,
    /// Secret access key that requests must be signed with.
    #[arg(
        long,
        env = "EMULATOR_SECRET_ACCESS_KEY",
        default_value = DEFAULT_SECRET_ACCESS_KEY,
        hide_env_values = true
    )]
    secret_access_key: String,
    /// Account id in generated ARNs.
    #[arg(long, env = "EMULATOR_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Channel ARN to create at start (repeatable; comma-separated in the env var).
    #[arg(
        long = "seed-channel",
        env = "EMULATOR_SEED_CHANNELS",
        value_delimiter = ','
    )]
    seed_channels: Vec<String>,
    /// Role ARN that STS AssumeRole may assume (repeatable; comma-separated in the env
    /// var); any other role is AccessDenied.
    #[arg(long = "role", env = "EMULATOR_ROLES", value_delimiter = ',')]
    roles: Vec<String>,
    /// Issued credentials expire after min(DurationSeconds, this) seconds (1 to 43200).
    #[arg(
        long,
        env = "EMULATOR_CREDENTIAL_LIFETIME_SECONDS",
        default_value_t = MAX_DURATION_SECONDS
    )]
    credential_lifetime_seconds: u32,
    /// The long-term key may only touch channels and contacts of --account-id (assumed
    /// roles are always held to the role's account).
    #[arg(long, env = "EMULATOR_STRICT_ACCOUNTS")]
    strict_accounts: bool,
    /// Journal entries kept (the newest); older ones are dropped and counted in
    /// /_emulator/journal/stats.
    #[arg(long, env = "EMULATOR_JOURNAL_CAPACITY", default_value_t = DEFAULT_JOURNAL_CAPACITY)]
    journal_capacity: NonZeroUsize,
    /// Allow listening on an address other than loopback.
    #[arg(long, env = "EMULATOR_ALLOW_NON_LOOPBACK")]
    allow_non_loopback: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssm-contacts-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // An emulator accepts a fixed, published key: exposing it beyond this host would let
    // anyone on the network drive it.
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        anyhow::bail!(
            "refusing to listen on non-loopback address {} (pass --allow-non-loopback to insist)",
            args.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let config = EmulatorConfig {
        credentials: vec![(args.access_key_id, args.secret_access_key)],
        account_id: args.account_id,
        journal_capacity: args.journal_capacity,
        roles: args
            .roles
            .into_iter()
            .filter(|arn| !arn.is_empty())
            .collect(),
        sts: StsSettings {
            credential_lifetime_seconds: args.credential_lifetime_seconds,
            strict_accounts: args.strict_accounts,
        },
    };
    let emulator = RunningEmulator::start_on(listener, config).await?;
    for arn in args.seed_channels.iter().filter(|arn| !arn.is_empty()) {
        let channel = emulator.seed_channel(SeedChannel::with_arn(arn.clone()))?;
        tracing::info!(arn = %channel.arn, "seeded channel");
    }
    println!(
        "ssm-contacts-emulator listening on {}",
        emulator.endpoint_url()
    );
    shutdown_signal().await?;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
