//! How an emulator is set up (`EmulatorConfig`) and the defaults of a test setup.

use std::num::NonZeroUsize;

use super::journal::DEFAULT_JOURNAL_CAPACITY;
use super::sessions::StsSettings;

/// How an emulator is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Accepted SigV4 keys: (access key id, secret access key).
    pub credentials: Vec<(String, String)>,
    /// The account in generated ARNs.
    pub account_id: String,
    /// Journal entries kept (the newest); older ones are dropped and counted.
    pub journal_capacity: NonZeroUsize,
    /// Role ARNs STS AssumeRole accepts at start (and after `/_emulator/reset`); any
    /// other role is AccessDenied, as a role that does not exist or does not trust the
    /// caller is at AWS. Default: none.
    pub roles: Vec<String>,
    /// STS settings at start (and after `/_emulator/reset`).
    pub sts: StsSettings,
}

/// Access key id of [`EmulatorConfig::default`].
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIDEMULATOR";
/// Secret access key of [`EmulatorConfig::default`].
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "emulator-secret";
/// Account of [`EmulatorConfig::default`].
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            credentials: vec![(
                DEFAULT_ACCESS_KEY_ID.to_string(),
                DEFAULT_SECRET_ACCESS_KEY.to_string(),
            )],
            account_id: DEFAULT_ACCOUNT_ID.to_string(),
            journal_capacity: DEFAULT_JOURNAL_CAPACITY,
            roles: Vec::new(),
            sts: StsSettings::default(),
        }
    }
}

impl EmulatorConfig {
    /// Keeps at most `capacity` journal entries (default [`DEFAULT_JOURNAL_CAPACITY`]).
    pub fn with_journal_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.journal_capacity = capacity;
        self
    }

    /// Lets STS AssumeRole assume `arn` (e.g. `arn:aws:iam::210987654321:role/sender`);
    /// checked when the emulator starts.
    pub fn with_role(mut self, arn: impl Into<String>) -> Self {
        self.roles.push(arn.into());
        self
    }

    /// Lets STS AssumeRole assume each of `arns`.
    pub fn with_roles<I, S>(mut self, arns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(arns.into_iter().map(Into::into));
        self
    }

    /// Starts with these STS settings (credential lifetime cap, strict accounts).
    pub fn with_sts_settings(mut self, settings: StsSettings) -> Self {
        self.sts = settings;
        self
    }
}
