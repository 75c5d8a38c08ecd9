//! The SSM Contacts call most tests make, and the journal entry it leaves.

use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::error::SdkError;
use aws_sdk_ssmcontacts::operation::send_activation_code::{
    SendActivationCodeError, SendActivationCodeOutput,
};
use ssm_contacts_emulator::RunningEmulator;
use ssm_contacts_emulator::admin::JournalEntry;

pub type SendResult = Result<SendActivationCodeOutput, SdkError<SendActivationCodeError>>;

/// One SendActivationCode call for `channel`, as the operator makes it.
pub async fn send(client: &Client, channel: &str) -> SendResult {
    client
        .send_activation_code()
        .contact_channel_id(channel)
        .send()
        .await
}

/// The newest journal entry.
pub async fn last_entry(emulator: &RunningEmulator) -> JournalEntry {
    emulator
        .admin()
        .journal()
        .await
        .expect("journal")
        .pop()
        .expect("an entry")
}
