//! Reasons: where an object stands, each with how it is retried. What a SendActivationCode
//! attempt, an activation check or a guard can end in.
//!
//! One `Reason` is at once the `CodeSent`/`Ready` condition reason, the Event reason and the
//! metric label, so a person reading `kubectl describe`, an alert and a log line see one name.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    Pending,
    Sent,
    Suspended,
    Throttled,
    AwsInternalError,
    QuotaExceeded,
    AccessDenied,
    DataEncryptionError,
    ChannelNotFound,
    ValidationFailed,
    UnexpectedResponse,
    OutcomeUnknown,
    EndpointUnreachable,
    CredentialsUnavailable,
    RegionUnknown,
    InvalidSpec,
    InvalidStatus,
    AlreadyActivated,
    Activated,
    AwaitingCode,
    CodeRejected,
    CodeSecretInvalid,
    NotAllowed,
    ChannelCooldown,
    AssumeRoleFailed,
    Deactivated,
}

/// How soon, if ever, a failed attempt is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Exponential backoff from the short base (transient trouble).
    Fast,
    /// Exponential backoff from the long base (needs a fix outside the operator, which may come).
    Slow,
    /// Not until the spec (or the operator's configuration) changes.
    Never,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Sent => "Sent",
            Self::Suspended => "Suspended",
            Self::Throttled => "Throttled",
            Self::AwsInternalError => "AwsInternalError",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::AccessDenied => "AccessDenied",
            Self::DataEncryptionError => "DataEncryptionError",
            Self::ChannelNotFound => "ChannelNotFound",
            Self::ValidationFailed => "ValidationFailed",
            Self::UnexpectedResponse => "UnexpectedResponse",
            Self::OutcomeUnknown => "OutcomeUnknown",
            Self::EndpointUnreachable => "EndpointUnreachable",
            Self::CredentialsUnavailable => "CredentialsUnavailable",
            Self::RegionUnknown => "RegionUnknown",
            Self::InvalidSpec => "InvalidSpec",
            Self::InvalidStatus => "InvalidStatus",
            Self::AlreadyActivated => "AlreadyActivated",
            Self::Activated => "Activated",
            Self::AwaitingCode => "AwaitingCode",
            Self::CodeRejected => "CodeRejected",
            Self::CodeSecretInvalid => "CodeSecretInvalid",
            Self::NotAllowed => "NotAllowed",
            Self::ChannelCooldown => "ChannelCooldown",
            Self::AssumeRoleFailed => "AssumeRoleFailed",
            Self::Deactivated => "Deactivated",
        }
    }

    pub fn parse(reason: &str) -> Option<Self> {
        ALL_REASONS.into_iter().find(|r| r.as_str() == reason)
    }

    /// The retry policy of a failure with this reason. `OutcomeUnknown` depends on the
    /// operator's `--on-unknown-outcome` and is decided by the caller.
    pub const fn retry(self) -> Retry {
        match self {
            Self::Throttled
            | Self::AwsInternalError
            | Self::UnexpectedResponse
            | Self::OutcomeUnknown
            | Self::EndpointUnreachable => Retry::Fast,
            Self::QuotaExceeded
            | Self::AccessDenied
            | Self::DataEncryptionError
            | Self::ChannelNotFound
            | Self::CredentialsUnavailable
            | Self::AssumeRoleFailed => Retry::Slow,
            Self::ValidationFailed
            | Self::RegionUnknown
            | Self::InvalidSpec
            | Self::InvalidStatus
            | Self::AlreadyActivated
            | Self::Activated
            | Self::AwaitingCode
            | Self::CodeRejected
            | Self::CodeSecretInvalid
            | Self::Deactivated
            | Self::NotAllowed
            | Self::ChannelCooldown
            | Self::Pending
            | Self::Sent
            | Self::Suspended => Retry::Never,
        }
    }

    /// Whether a person must act before this can progress (kstatus `Stalled`). Some stalled
    /// reasons are still retried slowly, since IAM or KMS may be fixed without a spec change.
    pub const fn needs_a_person(self) -> bool {
        matches!(
            self,
            Self::AccessDenied
                | Self::DataEncryptionError
                | Self::ValidationFailed
                | Self::CredentialsUnavailable
                | Self::RegionUnknown
                | Self::InvalidSpec
                | Self::InvalidStatus
                | Self::NotAllowed
                | Self::AssumeRoleFailed
                | Self::Deactivated
        )
    }
}

pub const ALL_REASONS: [Reason; 26] = [
    Reason::Pending,
    Reason::Sent,
    Reason::Suspended,
    Reason::Throttled,
    Reason::AwsInternalError,
    Reason::QuotaExceeded,
    Reason::AccessDenied,
    Reason::DataEncryptionError,
    Reason::ChannelNotFound,
    Reason::ValidationFailed,
    Reason::UnexpectedResponse,
    Reason::OutcomeUnknown,
    Reason::EndpointUnreachable,
    Reason::CredentialsUnavailable,
    Reason::RegionUnknown,
    Reason::InvalidSpec,
    Reason::InvalidStatus,
    Reason::AlreadyActivated,
    Reason::Activated,
    Reason::AwaitingCode,
    Reason::CodeRejected,
    Reason::CodeSecretInvalid,
    Reason::NotAllowed,
    Reason::ChannelCooldown,
    Reason::AssumeRoleFailed,
    Reason::Deactivated,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Reason names round-trip, so a status written by one version is read by the next.
    fn reasons_round_trip() {
        for reason in ALL_REASONS {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("Nope"), None);
    }
}
