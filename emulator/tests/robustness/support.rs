//! Shared set-up: emulators, SDK clients that read nothing from the environment, and
//! one SendActivationCode call.
//!
//! Clients are built from an `SdkConfig` set field by field (`sdk_config::own_key_in_east`), not
//! through the aws-config loader: static credentials, explicit region and endpoint, no
//! retries, so no provider chain runs and instance metadata is never asked (the
//! edition-2024 `set_var` is unsafe, and the crate forbids unsafe code, so
//! `AWS_EC2_METADATA_DISABLED` cannot be set here).

use std::time::Duration;

use aws_sdk_ssmcontacts::Client;
use ssm_contacts_emulator::admin::{JournalEntry, JournalFilter, SeedChannel};
use ssm_contacts_emulator::{EmulatorConfig, RunningEmulator};

#[allow(dead_code, reason = "`last_entry` serves the other test crates")]
#[path = "../common/calls.rs"]
mod calls;
#[allow(dead_code, reason = "`loaded` serves the other test crates")]
#[path = "../common/sdk_config.rs"]
mod sdk_config;

pub use calls::{SendResult, send};

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    RunningEmulator::start(config)
        .await
        .expect("emulator starts")
}

/// A us-east-1 client of `emulator` that gives up on a call after `timeout`.
pub fn client(emulator: &RunningEmulator, timeout: Duration) -> Client {
    let config = sdk_config::own_key_in_east(&emulator.endpoint_url(), Some(timeout));
    Client::new(&config)
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
