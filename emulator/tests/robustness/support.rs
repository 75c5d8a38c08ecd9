//! Shared set-up: emulators, SDK clients that read nothing from the environment, and
//! one SendActivationCode call.
//!
//! Clients are built from `aws_sdk_ssmcontacts::Config` directly, not the aws-config
//! loader: static credentials, explicit region and endpoint, no retries, so no provider
//! chain runs and instance metadata is never asked (the edition-2024 `set_var` is unsafe,
//! and the crate forbids unsafe code, so `AWS_EC2_METADATA_DISABLED` cannot be set here).

use std::time::Duration;

use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::config::retry::RetryConfig;
use aws_sdk_ssmcontacts::config::timeout::TimeoutConfig;
use aws_sdk_ssmcontacts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssmcontacts::error::SdkError;
use aws_sdk_ssmcontacts::operation::send_activation_code::{
    SendActivationCodeError, SendActivationCodeOutput,
};
use ssm_contacts_emulator::admin::{JournalEntry, JournalFilter, SeedChannel};
use ssm_contacts_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig, RunningEmulator,
};

pub type SendResult = Result<SendActivationCodeOutput, SdkError<SendActivationCodeError>>;

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    RunningEmulator::start(config)
        .await
        .expect("emulator starts")
}

/// A us-east-1 client of `emulator` that gives up on a call after `timeout`.
pub fn client(emulator: &RunningEmulator, timeout: Duration) -> Client {
    let config = aws_sdk_ssmcontacts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_SECRET_ACCESS_KEY,
            None,
            None,
            "emulator-test",
        ))
        .endpoint_url(emulator.endpoint_url())
        .retry_config(RetryConfig::disabled())
        .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
        .build();
    Client::from_conf(config)
}

pub async fn send(client: &Client, channel: &str) -> SendResult {
    client
        .send_activation_code()
        .contact_channel_id(channel)
        .send()
        .await
}

pub async fn seeded(emulator: &RunningEmulator) -> String {
    emulator
        .admin()
        .seed_channel(&SeedChannel::in_region("us-east-1"))
        .await
        .expect("seed")
        .arn
}

/// The journal's SendActivationCode entries, oldest first.
pub async fn sends_journal(emulator: &RunningEmulator) -> Vec<JournalEntry> {
    let filter = JournalFilter {
        operation: Some("SendActivationCode".into()),
        ..JournalFilter::default()
    };
    emulator
        .admin()
        .journal_filtered(&filter)
        .await
        .expect("journal")
}

/// Codes each channel received, from the emulator's own counters (not the journal).
pub async fn codes_sent(emulator: &RunningEmulator, channel: &str) -> u64 {
    emulator
        .admin()
        .channel(channel)
        .await
        .expect("admin")
        .expect("channel")
        .codes_sent
}
