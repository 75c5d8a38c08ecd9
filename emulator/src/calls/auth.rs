//! Who signed a wire call, and which account's resources it may touch.
//!
//! A call is signed either with a configured long-term key (the emulator's one IAM user,
//! in `--account-id`) or with temporary credentials the emulator issued through STS
//! AssumeRole (an `ASIA` key, its secret, and the session token in `X-Amz-Security-Token`).
//! SSM Contacts (awsJson) and STS (awsQuery) authenticate alike here; each protocol words
//! the refusals its own way.

use axum::http::request::Parts;
use jiff::Timestamp;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::calls::app::App;
use crate::model::arn::Arn;
use crate::model::roles::user_arn;
use crate::model::sessions::Session;
use crate::protocol::sigv4::{self, Rejected, Verifier};
use crate::protocol::wire::{AwsError, EXPIRED_TOKEN_MESSAGE, INVALID_TOKEN_MESSAGE, Operation};

/// The header temporary credentials carry their session token in.
pub(crate) const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";

/// The identity behind verified credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A configured long-term key: the emulator's IAM user.
    User { arn: String, account: String },
    /// Temporary credentials of an assumed role.
    AssumedRole(Box<Session>),
}

impl Identity {
    /// The caller's ARN, as the journal's `callerArn` and AccessDenied messages show it.
    pub(crate) fn arn(&self) -> &str {
        match self {
            Identity::User { arn, .. } => arn,
            Identity::AssumedRole(session) => &session.assumed_role_arn,
        }
    }

    /// The account the caller acts in.
    pub(crate) fn account(&self) -> &str {
        match self {
            Identity::User { account, .. } => account,
            Identity::AssumedRole(session) => &session.account,
        }
    }
}

/// A caller whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub access_key_id: String,
    /// The credential scope's region: the region the client called.
    pub region: String,
    pub identity: Identity,
}

/// Verifies the call's signature for `service` against the long-term keys or, for a key
/// the emulator issued, against its session: the session token must come along and the
/// session must not have expired (checked before the signature, as AWS reads the token
/// first).
pub(crate) fn authenticate(
    app: &App,
    service: &str,
    parts: &Parts,
    body: &[u8],
) -> Result<Principal, Box<Rejected>> {
    let now = Timestamp::now();
    let claimed = sigv4::claimed_credential(&parts.headers);
    let long_term = |key: &str| app.config.credentials.iter().any(|(id, _)| id == key);
    let session = claimed
        .as_ref()
        .filter(|(key, _)| !long_term(key))
        .and_then(|(key, _)| app.state().sessions.get(key).cloned());
    let verify = |credentials: &[(String, String)]| {
        Verifier {
            service,
            credentials,
            now,
        }
        .verify(&parts.method, &parts.uri, &parts.headers, body)
    };
    let (Some(session), Some((key, region))) = (session, claimed) else {
        // A long-term key, an unknown key or no usable Authorization: the verifier words
        // each case.
        let verified = verify(&app.config.credentials)?;
        return Ok(Principal {
            access_key_id: verified.access_key_id,
            region: verified.region,
            identity: Identity::User {
                arn: user_arn(&app.config.account_id),
                account: app.config.account_id.clone(),
            },
        });
    };
    let reject = |error: AwsError| {
        Box::new(Rejected {
            error,
            access_key_id: Some(key.clone()),
            region: Some(region.clone()),
        })
    };
    let token_matches = parts
        .headers
        .get(SECURITY_TOKEN_HEADER)
        .is_some_and(|token| {
            token
                .as_bytes()
                .ct_eq(session.session_token.as_bytes())
                .into()
        });
    if !token_matches {
        return Err(reject(AwsError::UnrecognizedClient {
            message: INVALID_TOKEN_MESSAGE.into(),
        }));
    }
    if session.is_expired(now) {
        return Err(reject(AwsError::ExpiredToken {
            message: EXPIRED_TOKEN_MESSAGE.into(),
        }));
    }
    let verified = verify(&[(
        session.access_key_id.clone(),
        session.secret_access_key.clone(),
    )])?;
    Ok(Principal {
        access_key_id: verified.access_key_id,
        region: verified.region,
        identity: Identity::AssumedRole(Box::new(session)),
    })
}

/// Refuses an SSM Contacts call on a channel or contact of another account than the
/// caller's: always for an assumed role (it acts in the role's account), and for the
/// long-term keys only under `strict_accounts`. A resource that does not parse as an ARN
/// is left to the operation's validation.
pub(crate) fn authorize(
    identity: &Identity,
    strict_accounts: bool,
    operation: Operation,
    body: &[u8],
) -> Result<(), AwsError> {
    if matches!(identity, Identity::User { .. }) && !strict_accounts {
        return Ok(());
    }
    let Some(resource) = resource_of(body) else {
        return Ok(());
    };
    match Arn::parse(&resource) {
        Some(arn) if arn.account != identity.account() => {
            let action = format!("ssm-contacts:{}", operation.name());
            Err(AwsError::AccessDenied {
                message: format!(
                    "User: {} is not authorized to perform: {action} on resource: {resource} \
                     because no resource-based policy allows the {action} action",
                    identity.arn()
                ),
            })
        }
        _ => Ok(()),
    }
}

/// The channel or contact a call names, read leniently (validation comes later).
fn resource_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["ContactChannelId", "ContactId"]
        .iter()
        .find_map(|member| value.get(member)?.as_str().map(String::from))
}

#[cfg(test)]
mod tests {
    use crate::calls::auth::*;
    use crate::model::roles::RoleArn;

    const ROLE: &str = "arn:aws:iam::210987654321:role/sender";
    const OWN: &str = "arn:aws:ssm-contacts:us-east-1:123456789012:contact-channel/a/1";
    const OTHER: &str = "arn:aws:ssm-contacts:us-east-1:210987654321:contact-channel/a/1";

    fn user() -> Identity {
        Identity::User {
            arn: user_arn("123456789012"),
            account: "123456789012".into(),
        }
    }

    fn role() -> Identity {
        let parsed = RoleArn::parse(ROLE).expect("role");
        let session = Session::issue(&parsed, ROLE, "s", Timestamp::UNIX_EPOCH, 60);
        Identity::AssumedRole(Box::new(session))
    }

    fn body(member: &str, arn: &str) -> Vec<u8> {
        serde_json::json!({ member: arn }).to_string().into_bytes()
    }

    /// Long-term keys touch any account unless strict; a role only its own account.
    #[test]
    fn accounts_are_enforced_for_roles_and_strict_users() {
        let send = Operation::SendActivationCode;
        assert!(authorize(&user(), false, send, &body("ContactChannelId", OTHER)).is_ok());
        assert!(authorize(&user(), true, send, &body("ContactChannelId", OWN)).is_ok());
        let denied =
            authorize(&user(), true, send, &body("ContactChannelId", OTHER)).expect_err("strict");
        assert_eq!(denied.type_name(), "AccessDeniedException");
        assert!(
            denied.to_string().contains(
                "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: \
                 ssm-contacts:SendActivationCode on resource: arn:aws:ssm-contacts"
            ),
            "{denied}"
        );

        assert!(authorize(&role(), false, send, &body("ContactChannelId", OTHER)).is_ok());
        let denied = authorize(
            &role(),
            false,
            Operation::ListContactChannels,
            &body("ContactId", OWN),
        )
        .expect_err("other account");
        assert!(
            denied
                .to_string()
                .contains("User: arn:aws:sts::210987654321:assumed-role/sender/s is not"),
            "{denied}"
        );
        // Unparseable resources and bodies are for validation to refuse.
        assert!(authorize(&role(), true, send, &body("ContactChannelId", "nope")).is_ok());
        assert!(authorize(&role(), true, send, b"not json").is_ok());
        assert!(authorize(&role(), true, Operation::CreateContact, b"{}").is_ok());
    }
}
