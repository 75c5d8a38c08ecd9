//! What the emulated service remembers: contacts, channels with their codes, the journal of
//! wire calls, idempotency tokens, and the faults, chaos and quota in force.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::faults::chaos::Chaos;
use crate::faults::injected::{FaultBook, TokenBucket};
use crate::model::arn::{self, Arn};
use crate::model::journal::Journal;
use crate::model::roles::Roles;
use crate::model::sessions::{Sessions, Settings};
// The journal types lived here first; their old paths keep working.
pub use crate::model::journal::{
    JournalEntry, JournalFilter, JournalStats, OUTCOME_ABANDONED, OUTCOME_DROPPED, OUTCOME_OK,
};
use crate::protocol::wire::AwsError;

/// Region of channels seeded with neither an ARN nor a region.
pub const DEFAULT_REGION: &str = "us-east-1";

/// `ChannelType` in the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChannelType {
    Sms,
    Voice,
    #[default]
    Email,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Sms => "SMS",
            ChannelType::Voice => "VOICE",
            ChannelType::Email => "EMAIL",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [ChannelType::Sms, ChannelType::Voice, ChannelType::Email]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// `ActivationStatus` in the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivationStatus {
    Activated,
    #[default]
    NotActivated,
}

/// A contact channel, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub arn: String,
    pub contact_arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub channel_type: ChannelType,
    pub delivery_address: String,
    /// The only region the channel answers in; absent = every region (an ARN with an
    /// empty region part, seeded without `region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub activation_status: ActivationStatus,
    /// Activation codes generated so far (SendActivationCode, and creation without
    /// DeferActivation).
    pub codes_sent: u64,
    /// The latest code: the only one ActivateContactChannel accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_code: Option<String>,
    #[serde(skip)]
    order: u64,
}

impl Channel {
    /// Generates a new 6-digit code; the latest code wins.
    pub fn issue_code(&mut self) -> String {
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        self.codes_sent += 1;
        self.last_code = Some(code.clone());
        code
    }
}

/// A contact: what channels and ListContacts need of it (no engagement plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub arn: String,
    pub alias: String,
    pub display_name: Option<String>,
    /// `PERSONAL`, `ESCALATION` or `ONCALL_SCHEDULE`, as created (checked by CreateContact).
    pub contact_type: String,
    pub region: Option<String>,
}

/// A channel to create through the admin API, with no signature (`POST /_emulator/channels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedChannel {
    /// Used verbatim when given (any ARN, even one with an empty region part).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Default: the ARN's region, else us-east-1 when the ARN is generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Default: the emulator's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Default: the alias in the ARN, else `oncall`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_alias: Option<String>,
    pub name: String,
    #[serde(rename = "type")]
    pub channel_type: ChannelType,
    pub delivery_address: String,
    /// Default `NOT_ACTIVATED`; `ACTIVATED` seeds a channel someone already activated.
    pub activation_status: ActivationStatus,
}

impl Default for SeedChannel {
    fn default() -> Self {
        Self {
            arn: None,
            region: None,
            account_id: None,
            contact_alias: None,
            name: "primary-email".into(),
            channel_type: ChannelType::Email,
            delivery_address: "oncall@example.com".into(),
            activation_status: ActivationStatus::NotActivated,
        }
    }
}

impl SeedChannel {
    /// A channel with exactly this ARN.
    pub fn with_arn(arn: impl Into<String>) -> Self {
        Self {
            arn: Some(arn.into()),
            ..Self::default()
        }
    }

    /// A channel with a generated ARN in `region`.
    pub fn in_region(region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            ..Self::default()
        }
    }

    /// This type and delivery address (e.g. `ChannelType::Sms`, `+15555550100`).
    pub fn of_type(
        mut self,
        channel_type: ChannelType,
        delivery_address: impl Into<String>,
    ) -> Self {
        self.channel_type = channel_type;
        self.delivery_address = delivery_address.into();
        self
    }

    /// Seeded `ACTIVATED`, as if its owner had already typed a code in.
    pub fn activated(mut self) -> Self {
        self.activation_status = ActivationStatus::Activated;
        self
    }
}

/// A channel's latest activation code, as its phone or mailbox would show it
/// (`GET /_emulator/channels/{arn}/code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelCode {
    pub arn: String,
    /// The only code ActivateContactChannel accepts; absent until a code was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Codes sent so far (the latest replaced the earlier ones).
    pub codes_sent: u64,
    pub activation_status: ActivationStatus,
}

impl From<&Channel> for ChannelCode {
    fn from(channel: &Channel) -> Self {
        Self {
            arn: channel.arn.clone(),
            code: channel.last_code.clone(),
            codes_sent: channel.codes_sent,
            activation_status: channel.activation_status,
        }
    }
}

/// An admin call named a channel that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no channel with ARN {0}")]
pub struct UnknownChannel(pub String);

/// Why a seed was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("a channel with ARN {0} already exists")]
    Exists(String),
}

/// Everything the emulator remembers, behind one lock.
#[derive(Debug, Default)]
pub struct State {
    channels: BTreeMap<String, Channel>,
    contacts: BTreeMap<String, Contact>,
    journal: Journal,
    idempotency: HashMap<(&'static str, String), Value>,
    pub faults: FaultBook,
    pub quota: Option<TokenBucket>,
    /// Quotas of one region each (AWS's hold per account and region): a call signed for a
    /// region listed here counts against that region's bucket instead of `quota`.
    pub region_quotas: BTreeMap<String, TokenBucket>,
    /// Random faults in force, if any (applied when no injected fault matches).
    pub chaos: Option<Chaos>,
    /// The roles STS AssumeRole accepts.
    pub roles: Roles,
    /// Temporary credentials issued by AssumeRole.
    pub sessions: Sessions,
    /// STS settings in force, and those of start-up.
    pub sts: Settings,
    next_order: u64,
}

impl State {
    /// An empty state whose journal keeps at most `journal_capacity` entries.
    pub fn new(journal_capacity: NonZeroUsize) -> Self {
        Self {
            journal: Journal::new(journal_capacity),
            ..Self::default()
        }
    }

    /// This state with its start-up roles and STS settings.
    pub fn with_sts(mut self, roles: Roles, sts: Settings) -> Self {
        self.roles = roles;
        self.sts = sts;
        self
    }

    /// Forgets channels, contacts, journal, faults, chaos and quota (the journal's
    /// capacity stays), and goes back to the start-up roles and STS settings. Issued
    /// sessions survive, as a client's cached credentials would stay valid at AWS.
    pub fn reset(&mut self) {
        let mut journal = std::mem::take(&mut self.journal);
        journal.clear();
        let mut roles = std::mem::take(&mut self.roles);
        roles.reset();
        *self = Self {
            journal,
            roles,
            sessions: std::mem::take(&mut self.sessions),
            sts: Settings::new(self.sts.startup),
            ..Self::default()
        };
    }

    pub fn seed_channel(&mut self, seed: SeedChannel, account: &str) -> Result<Channel, SeedError> {
        let default_account = seed.account_id.as_deref().unwrap_or(account);
        let (arn, region, partition, account, alias) = match &seed.arn {
            Some(given) => {
                let parsed = Arn::parse(given);
                let arn_region = parsed.as_ref().map(|a| a.region).filter(|r| !r.is_empty());
                let region = arn_region.map(str::to_string).or(seed.region.clone());
                let alias = seed
                    .contact_alias
                    .clone()
                    .or_else(|| {
                        parsed
                            .as_ref()
                            .and_then(|a| a.contact_alias())
                            .map(String::from)
                    })
                    .unwrap_or_else(|| "oncall".into());
                let partition = parsed.as_ref().map_or("aws", |a| a.partition).to_string();
                let account = parsed
                    .as_ref()
                    .map_or(default_account, |a| a.account)
                    .to_string();
                (given.clone(), region, partition, account, alias)
            }
            None => {
                let region = seed.region.clone().unwrap_or_else(|| DEFAULT_REGION.into());
                let alias = seed
                    .contact_alias
                    .clone()
                    .unwrap_or_else(|| "oncall".into());
                let partition = arn::partition_for(&region).to_string();
                let id = uuid::Uuid::new_v4().to_string();
                let arn = arn::channel_arn(&partition, &region, default_account, &alias, &id);
                let account = default_account.to_string();
                (arn, Some(region), partition, account, alias)
            }
        };
        if self.channels.contains_key(&arn) {
            return Err(SeedError::Exists(arn));
        }
        let contact_region = region.as_deref().unwrap_or("");
        let contact_arn = arn::contact_arn(&partition, contact_region, &account, &alias);
        self.contacts
            .entry(contact_arn.clone())
            .or_insert_with(|| Contact {
                arn: contact_arn.clone(),
                alias,
                display_name: None,
                contact_type: "PERSONAL".into(),
                region: region.clone(),
            });
        let mut channel = self.insert_channel(
            arn,
            contact_arn,
            seed.name,
            seed.channel_type,
            seed.delivery_address,
            region,
        );
        if let Some(stored) = self.channels.get_mut(&channel.arn) {
            stored.activation_status = seed.activation_status;
            channel.activation_status = seed.activation_status;
        }
        Ok(channel)
    }

    pub fn insert_channel(
        &mut self,
        arn: String,
        contact_arn: String,
        name: String,
        channel_type: ChannelType,
        delivery_address: String,
        region: Option<String>,
    ) -> Channel {
        self.next_order += 1;
        let channel = Channel {
            arn: arn.clone(),
            contact_arn,
            name,
            channel_type,
            delivery_address,
            region,
            activation_status: ActivationStatus::NotActivated,
            codes_sent: 0,
            last_code: None,
            order: self.next_order,
        };
        self.channels.insert(arn, channel.clone());
        channel
    }

    /// The channel, if it exists in `region` (as real AWS, a channel is invisible from
    /// other regions).
    pub fn channel_in_region(&mut self, arn: &str, region: &str) -> Result<&mut Channel, AwsError> {
        match self.channels.get_mut(arn) {
            Some(channel) if channel.region.as_deref().is_none_or(|r| r == region) => Ok(channel),
            _ => Err(AwsError::ResourceNotFound {
                message: format!("Contact channel {arn} not found in {region}."),
                resource_id: arn.to_string(),
                resource_type: "CONTACT_CHANNEL".into(),
            }),
        }
    }

    /// One channel by ARN, whatever its region (admin view).
    pub fn channel(&self, arn: &str) -> Option<&Channel> {
        self.channels.get(arn)
    }

    /// Sets a channel's activation status "from the console": no code needed, no code
    /// used up (the latest code, if any, still activates after a deactivation).
    pub fn set_activation_status(
        &mut self,
        arn: &str,
        status: ActivationStatus,
    ) -> Result<Channel, UnknownChannel> {
        let channel = self
            .channels
            .get_mut(arn)
            .ok_or_else(|| UnknownChannel(arn.to_string()))?;
        channel.activation_status = status;
        Ok(channel.clone())
    }

    pub fn remove_channel(&mut self, arn: &str) -> Option<Channel> {
        self.channels.remove(arn)
    }

    /// Every channel, in creation order.
    pub fn channels(&self) -> Vec<Channel> {
        let mut all: Vec<Channel> = self.channels.values().cloned().collect();
        all.sort_by_key(|channel| channel.order);
        all
    }

    /// The channels of a contact, in creation order.
    pub fn channels_of(&self, contact_arn: &str) -> Vec<Channel> {
        let mut all = self.channels();
        all.retain(|channel| channel.contact_arn == contact_arn);
        all
    }

    pub fn contact_in_region(&self, arn: &str, region: &str) -> Option<&Contact> {
        self.contacts
            .get(arn)
            .filter(|contact| contact.region.as_deref().is_none_or(|r| r == region))
    }

    /// The contacts of `account` visible from `region`, in ARN order (stable across calls,
    /// so that NextToken offsets stay meaningful between pages).
    pub fn contacts_in(&self, account: &str, region: &str) -> Vec<&Contact> {
        self.contacts
            .values()
            .filter(|contact| contact.region.as_deref().is_none_or(|r| r == region))
            .filter(|contact| Arn::parse(&contact.arn).is_some_and(|arn| arn.account == account))
            .collect()
    }

    pub fn insert_contact(&mut self, contact: Contact) -> bool {
        if self.contacts.contains_key(&contact.arn) {
            return false;
        }
        self.contacts.insert(contact.arn.clone(), contact);
        true
    }

    /// The answer already given to a call with this idempotency token.
    pub fn idempotent(&self, operation: &'static str, token: &str) -> Option<Value> {
        self.idempotency
            .get(&(operation, token.to_string()))
            .cloned()
    }

    pub fn remember(&mut self, operation: &'static str, token: String, answer: Value) {
        self.idempotency.insert((operation, token), answer);
    }

    /// Appends to the journal (letting its oldest entry go when full); returns the `seq`.
    pub fn record(&mut self, entry: JournalEntry) -> u64 {
        self.journal.record(entry)
    }

    pub fn journal(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        self.journal.select(filter)
    }

    pub fn journal_stats(&self) -> JournalStats {
        self.journal.stats()
    }
}

#[cfg(test)]
mod tests {
    use crate::model::state::*;

    /// A seed without ARN gets one in its region; a verbatim ARN keeps its region,
    /// and an empty region part makes the channel answer in every region.
    #[test]
    fn seeded_channels_live_in_their_region() {
        let mut state = State::default();
        let generated = state
            .seed_channel(SeedChannel::in_region("eu-west-1"), "111122223333")
            .expect("seed");
        assert!(
            generated
                .arn
                .starts_with("arn:aws:ssm-contacts:eu-west-1:111122223333:contact-channel/oncall/")
        );
        assert_eq!(
            generated.contact_arn,
            "arn:aws:ssm-contacts:eu-west-1:111122223333:contact/oncall"
        );
        assert!(state.channel_in_region(&generated.arn, "eu-west-1").is_ok());
        let elsewhere = state.channel_in_region(&generated.arn, "us-east-1");
        assert!(matches!(elsewhere, Err(AwsError::ResourceNotFound { .. })));

        let regionless = "arn:aws:ssm-contacts::123456789012:contact-channel/team/abc";
        state
            .seed_channel(SeedChannel::with_arn(regionless), "123456789012")
            .expect("seed");
        assert!(state.channel_in_region(regionless, "ap-south-1").is_ok());
        assert!(state.channel_in_region(regionless, "us-east-1").is_ok());
        assert_eq!(
            state.seed_channel(SeedChannel::with_arn(regionless), "1"),
            Err(SeedError::Exists(regionless.into()))
        );
        assert_eq!(state.channels().len(), 2);
        assert_eq!(state.channels()[0].arn, generated.arn);
    }

    /// Each code is six digits, and the latest one is the one remembered.
    #[test]
    fn codes_are_six_digits_and_latest_wins() {
        let mut state = State::default();
        let channel = state
            .seed_channel(SeedChannel::default(), "1")
            .expect("seed");
        let target = state
            .channel_in_region(&channel.arn, DEFAULT_REGION)
            .expect("found");
        let first = target.issue_code();
        let second = target.issue_code();
        for code in [&first, &second] {
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(target.codes_sent, 2);
        assert_eq!(target.last_code.as_deref(), Some(second.as_str()));
    }

    /// A seed may start ACTIVATED; the console sets either status with no code and keeps
    /// the latest code; an unknown ARN is refused.
    #[test]
    fn activation_status_from_seed_and_console() {
        let mut state = State::default();
        let activated = state
            .seed_channel(SeedChannel::default().activated(), "1")
            .expect("seed");
        assert_eq!(activated.activation_status, ActivationStatus::Activated);
        let sms = state
            .seed_channel(
                SeedChannel::in_region("eu-west-1").of_type(ChannelType::Sms, "+15555550100"),
                "1",
            )
            .expect("seed");
        assert_eq!(sms.channel_type, ChannelType::Sms);
        assert_eq!(sms.activation_status, ActivationStatus::NotActivated);
        let code = state
            .channel_in_region(&sms.arn, "eu-west-1")
            .expect("found")
            .issue_code();
        let on = state
            .set_activation_status(&sms.arn, ActivationStatus::Activated)
            .expect("known");
        assert_eq!(on.activation_status, ActivationStatus::Activated);
        let off = state
            .set_activation_status(&sms.arn, ActivationStatus::NotActivated)
            .expect("known");
        assert_eq!(off.activation_status, ActivationStatus::NotActivated);
        assert_eq!(off.last_code.as_deref(), Some(code.as_str()));
        let shown = ChannelCode::from(state.channel(&sms.arn).expect("known"));
        assert_eq!((shown.code, shown.codes_sent), (Some(code), 1));
        assert_eq!(
            state.set_activation_status("arn:nope", ActivationStatus::Activated),
            Err(UnknownChannel("arn:nope".into()))
        );
        // The seed's JSON: `activationStatus` is optional and defaults to NOT_ACTIVATED.
        let seed: SeedChannel = serde_json::from_value(serde_json::json!({
            "type": "VOICE", "deliveryAddress": "+15555550101", "activationStatus": "ACTIVATED"
        }))
        .expect("parses");
        assert_eq!(
            seed,
            SeedChannel::default()
                .of_type(ChannelType::Voice, "+15555550101")
                .activated()
        );
        let plain: SeedChannel = serde_json::from_value(serde_json::json!({})).expect("parses");
        assert_eq!(plain.activation_status, ActivationStatus::NotActivated);
    }

    /// Reset goes back to the start-up roles and STS settings and keeps issued sessions.
    #[test]
    fn reset_restores_sts_startup_and_keeps_sessions() {
        use crate::model::roles::RoleArn;
        use crate::model::sessions::{Session, StsSettings, StsSettingsUpdate};
        let startup = "arn:aws:iam::210987654321:role/a";
        let added = "arn:aws:iam::210987654321:role/b";
        let mut state = State::default().with_sts(
            Roles::new([startup]).expect("valid"),
            Settings::new(StsSettings::default()),
        );
        state.roles.add(added).expect("valid");
        state.roles.remove(startup);
        state.sts.current = state
            .sts
            .current
            .updated(StsSettingsUpdate {
                credential_lifetime_seconds: Some(1),
                strict_accounts: Some(true),
            })
            .expect("valid");
        let role = RoleArn::parse(added).expect("valid");
        let session = Session::issue(&role, added, "s", jiff::Timestamp::UNIX_EPOCH, 60);
        let key = session.access_key_id.clone();
        state.sessions.insert(session);

        state.reset();
        assert_eq!(state.roles.list(), [startup]);
        assert_eq!(state.sts.current, StsSettings::default());
        assert!(state.sessions.get(&key).is_some());
    }

    /// Reset forgets the journal but keeps its configured capacity.
    #[test]
    fn reset_keeps_journal_capacity() {
        let capacity = NonZeroUsize::new(7).expect("non-zero");
        let mut state = State::new(capacity);
        state.record(JournalEntry {
            seq: 0,
            time: jiff::Timestamp::UNIX_EPOCH,
            operation: "X".into(),
            channel_arn: None,
            region: None,
            access_key_id: None,
            caller_arn: None,
            role_arn: None,
            role_session_name: None,
            issued_access_key_id: None,
            outcome: OUTCOME_OK.into(),
            http_status: None,
            request_id: "r".into(),
            connection_dropped: false,
            fault: None,
            chaos_draw: None,
            activation_code: None,
        });
        state.reset();
        assert!(state.journal(&JournalFilter::default()).is_empty());
        assert_eq!(state.journal_stats().capacity, 7);
        assert_eq!(state.journal_stats().recorded, 0);
    }
}
