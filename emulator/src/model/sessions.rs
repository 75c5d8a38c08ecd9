//! Temporary credentials issued by STS AssumeRole, and the STS settings tests steer.
//!
//! A session is what AWS encodes in its session token: the role, the session name, the
//! account the holder acts in, and when it expires. The emulator keeps sessions in a bounded
//! store instead, and a wire call signed with an `ASIA` key is checked against it (secret,
//! token, expiry). Sessions outlive `/_emulator/reset`, as a client's cached credentials
//! would stay valid at AWS; they end by expiring or being pushed out of the store.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::roles::{RoleArn, role_id};

/// Sessions kept at most; issuing one more forgets the oldest.
pub const SESSION_CAPACITY: usize = 10_000;
/// The shortest and longest `DurationSeconds` AssumeRole accepts (AWS's bounds).
pub const MIN_DURATION_SECONDS: u32 = 900;
pub const MAX_DURATION_SECONDS: u32 = 43_200;
/// `DurationSeconds` when the caller sends none.
pub const DEFAULT_DURATION_SECONDS: u32 = 3_600;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// STS behaviour a test may change at run time (`GET`/`PUT /_emulator/sts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StsSettings {
    /// Issued credentials expire after `min(DurationSeconds, this)`: lower it to make a
    /// client refresh soon. 1 to 43 200; default 43 200 (no cap below AWS's own).
    pub credential_lifetime_seconds: u32,
    /// Long-term keys may only touch channels and contacts of the emulator's own account
    /// (as the operator's own credentials would at AWS); assumed roles are always held to
    /// the role's account.
    pub strict_accounts: bool,
}

impl Default for StsSettings {
    fn default() -> Self {
        Self {
            credential_lifetime_seconds: MAX_DURATION_SECONDS,
            strict_accounts: false,
        }
    }
}

/// Body of `PUT /_emulator/sts`: the fields given change, the others stay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StsSettingsUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_lifetime_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict_accounts: Option<bool>,
}

/// A settings update that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`credentialLifetimeSeconds` must be between 1 and {MAX_DURATION_SECONDS}, got {0}")]
pub struct LifetimeOutOfRange(pub u32);

impl StsSettings {
    /// These settings, if in range.
    pub fn checked(self) -> Result<Self, LifetimeOutOfRange> {
        if (1..=MAX_DURATION_SECONDS).contains(&self.credential_lifetime_seconds) {
            Ok(self)
        } else {
            Err(LifetimeOutOfRange(self.credential_lifetime_seconds))
        }
    }

    /// These settings with `update` applied, or why not (nothing changes then).
    pub fn updated(self, update: StsSettingsUpdate) -> Result<Self, LifetimeOutOfRange> {
        Self {
            credential_lifetime_seconds: update
                .credential_lifetime_seconds
                .unwrap_or(self.credential_lifetime_seconds),
            strict_accounts: update.strict_accounts.unwrap_or(self.strict_accounts),
        }
        .checked()
    }

    /// How long credentials asked for `duration_seconds` (AssumeRole's `DurationSeconds`,
    /// default one hour) live under these settings.
    pub fn lifetime_seconds(&self, duration_seconds: Option<u32>) -> u32 {
        duration_seconds
            .unwrap_or(DEFAULT_DURATION_SECONDS)
            .min(self.credential_lifetime_seconds)
    }
}

/// The settings in force and the start-up ones `/_emulator/reset` goes back to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub startup: StsSettings,
    pub current: StsSettings,
}

impl Settings {
    pub fn new(startup: StsSettings) -> Self {
        Self {
            startup,
            current: startup,
        }
    }
}

/// One set of temporary credentials and who they stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `ASIA` + 16 upper-case letters and digits.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Must come with every call, in `X-Amz-Security-Token`.
    pub session_token: String,
    pub expiration: Timestamp,
    pub role_arn: String,
    pub session_name: String,
    /// `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`.
    pub assumed_role_arn: String,
    /// `<role id>:<session>`.
    pub assumed_role_id: String,
    /// The role's account: where calls with these credentials act.
    pub account: String,
}

impl Session {
    /// Fresh random credentials for `role` that expire `lifetime_seconds` after `now`.
    pub fn issue(
        role: &RoleArn<'_>,
        role_arn: &str,
        session_name: &str,
        now: Timestamp,
        lifetime_seconds: u32,
    ) -> Self {
        let mut rng = rand::rng();
        let mut draw = |alphabet: &[u8], len: usize| -> String {
            (0..len)
                .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
                .collect()
        };
        let access_key_id = format!("ASIA{}", draw(KEY_ALPHABET, 16));
        let secret_access_key = draw(SECRET_ALPHABET, 40);
        let session_token = format!("EMULATOR/{}", draw(SECRET_ALPHABET, 320));
        Self {
            access_key_id,
            secret_access_key,
            session_token,
            expiration: now + SignedDuration::from_secs(i64::from(lifetime_seconds)),
            role_arn: role_arn.to_string(),
            session_name: session_name.to_string(),
            assumed_role_arn: role.assumed_role_arn(session_name),
            assumed_role_id: format!("{}:{session_name}", role_id(role_arn)),
            account: role.account.to_string(),
        }
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expiration
    }
}

/// Issued sessions by access key id, the oldest forgotten first beyond the capacity.
/// Expired sessions stay (until pushed out), so their use is `ExpiredToken`, not an
/// unknown key.
#[derive(Debug)]
pub struct Sessions {
    by_key: HashMap<String, Session>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_capacity(SESSION_CAPACITY)
    }
}

impl Sessions {
    /// A store of at most `capacity` sessions (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn insert(&mut self, session: Session) {
        while self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
        self.order.push_back(session.access_key_id.clone());
        self.by_key.insert(session.access_key_id.clone(), session);
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Session> {
        self.by_key.get(access_key_id)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use crate::model::sessions::*;

    const ROLE: &str = "arn:aws:iam::210987654321:role/ops/sender";

    fn issue(now: Timestamp, lifetime: u32) -> Session {
        let role = RoleArn::parse(ROLE).expect("role");
        Session::issue(&role, ROLE, "s-1", now, lifetime)
    }

    /// Credentials have AWS's shapes, differ each time, and name the role's account.
    #[test]
    fn issued_credentials_have_aws_shapes() {
        let now = Timestamp::UNIX_EPOCH;
        let session = issue(now, 60);
        assert_eq!(session.access_key_id.len(), 20);
        assert!(session.access_key_id.starts_with("ASIA"));
        assert!(
            session.access_key_id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(session.secret_access_key.len(), 40);
        assert!(session.session_token.len() > 100);
        assert_eq!(
            session.assumed_role_arn,
            "arn:aws:sts::210987654321:assumed-role/sender/s-1"
        );
        assert!(session.assumed_role_id.starts_with("AROA"));
        assert!(session.assumed_role_id.ends_with(":s-1"));
        assert_eq!(session.account, "210987654321");
        assert_eq!(session.expiration, now + SignedDuration::from_secs(60));
        assert!(!session.is_expired(now + SignedDuration::from_secs(59)));
        assert!(session.is_expired(now + SignedDuration::from_secs(60)));
        let other = issue(now, 60);
        assert_ne!(other.access_key_id, session.access_key_id);
        assert_ne!(other.secret_access_key, session.secret_access_key);
        assert_ne!(other.session_token, session.session_token);
    }

    /// The store keeps the newest sessions up to its capacity.
    #[test]
    fn store_forgets_the_oldest() {
        let mut sessions = Sessions::with_capacity(2);
        let issued: Vec<Session> = (0..3).map(|_| issue(Timestamp::UNIX_EPOCH, 60)).collect();
        for session in &issued {
            sessions.insert(session.clone());
        }
        assert_eq!(sessions.len(), 2);
        assert!(sessions.get(&issued[0].access_key_id).is_none());
        assert_eq!(sessions.get(&issued[2].access_key_id), Some(&issued[2]));
        assert_eq!(Sessions::default().capacity, SESSION_CAPACITY);
    }

    /// Updates change only the fields given, and refuse an out-of-range lifetime whole.
    #[test]
    fn settings_update_partially() {
        let settings = StsSettings::default();
        assert_eq!(settings.credential_lifetime_seconds, 43_200);
        let strict = settings
            .updated(StsSettingsUpdate {
                strict_accounts: Some(true),
                ..StsSettingsUpdate::default()
            })
            .expect("valid");
        assert!(strict.strict_accounts);
        let short = strict
            .updated(StsSettingsUpdate {
                credential_lifetime_seconds: Some(1),
                ..StsSettingsUpdate::default()
            })
            .expect("valid");
        assert_eq!(
            (short.credential_lifetime_seconds, short.strict_accounts),
            (1, true)
        );
        for bad in [0, 43_201] {
            let update = StsSettingsUpdate {
                credential_lifetime_seconds: Some(bad),
                strict_accounts: Some(false),
            };
            assert_eq!(short.updated(update), Err(LifetimeOutOfRange(bad)));
        }
        let parsed: StsSettingsUpdate =
            serde_json::from_str(r#"{"credentialLifetimeSeconds": 60}"#).expect("json");
        assert_eq!(parsed.credential_lifetime_seconds, Some(60));
        assert!(serde_json::from_str::<StsSettingsUpdate>(r#"{"lifetime": 60}"#).is_err());
    }
}
