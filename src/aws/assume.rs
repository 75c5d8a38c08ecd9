//! Cross-account calls: `spec.roleArn` assumed through STS AssumeRole with the operator's own
//! credential chain, one session per object (its name says which object), cached and
//! refreshed before it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::config::Region;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::RequestId;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::http::Response as RawResponse;

use crate::api::reason::Reason;
use crate::aws::requests::{AwsRequests, SUCCESS, known_code};
use crate::rules::note::Call;
use crate::rules::outcome::SendFailure;

/// AssumeRole's own limit on session names.
const MAX_SESSION_NAME: usize = 64;
/// Sessions kept; past it the oldest is dropped (it is assumed again when needed).
const MAX_SESSIONS: usize = 10_000;
/// Refresh this long before expiry at most (a quarter of a shorter lifetime otherwise), so
/// that no call goes out with credentials that expire on the way.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// A role to assume for one object's calls.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleSession {
    pub role_arn: String,
    pub session_name: String,
}

impl RoleSession {
    /// The session for the object `namespace/name`: AWS CloudTrail then names the object
    /// behind every call made with the role.
    pub fn for_object(role_arn: &str, namespace: &str, name: &str) -> Self {
        let wanted = format!("{namespace}.{name}");
        let session_name: String = wanted
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .take(MAX_SESSION_NAME)
            .collect();
        Self {
            role_arn: role_arn.to_owned(),
            session_name,
        }
    }
}

struct Cached {
    credentials: Credentials,
    refresh_at: SystemTime,
    fetched_at: SystemTime,
}

/// Assumed-role credentials by session.
pub struct AssumedRoles {
    base: SdkConfig,
    call_timeout: Duration,
    sessions: Mutex<HashMap<RoleSession, Cached>>,
    requests: AwsRequests,
}

impl AssumedRoles {
    pub fn new(base: SdkConfig, call_timeout: Duration) -> Self {
        Self {
            base,
            call_timeout,
            sessions: Mutex::default(),
            requests: AwsRequests::default(),
        }
    }

    /// Counts every AssumeRole request into `requests`.
    #[must_use]
    pub fn counting(mut self, requests: AwsRequests) -> Self {
        self.requests = requests;
        self
    }

    /// Credentials of the session, assumed now unless cached ones are still fresh. STS is
    /// called in the region of the call, as AWS recommends for regional endpoints.
    pub async fn credentials(
        &self,
        session: &RoleSession,
        region: &str,
    ) -> Result<Credentials, SendFailure> {
        let now = SystemTime::now();
        if let Some(cached) = self.lock().get(session)
            && cached.refresh_at > now
        {
            return Ok(cached.credentials.clone());
        }
        let credentials = self.assume(session, region).await?;
        let expiry = credentials.expiry().unwrap_or(now);
        let lifetime = expiry.duration_since(now).unwrap_or_default();
        let margin = REFRESH_BEFORE.min(lifetime / 4);
        let refresh_at = expiry.checked_sub(margin).unwrap_or(now);
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, cached)| cached.fetched_at)
                .map(|(key, _)| key.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            session.clone(),
            Cached {
                credentials: credentials.clone(),
                refresh_at,
                fetched_at: now,
            },
        );
        Ok(credentials)
    }

    async fn assume(
        &self,
        session: &RoleSession,
        region: &str,
    ) -> Result<Credentials, SendFailure> {
        let config = aws_sdk_sts::config::Builder::from(&self.base)
            .region(Region::new(region.to_owned()))
            .timeout_config(
                aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(self.call_timeout)
                    .build(),
            )
            .build();
        let answer = aws_sdk_sts::Client::from_conf(config)
            .assume_role()
            .role_arn(&session.role_arn)
            .role_session_name(&session.session_name)
            .send()
            .await;
        let output = answer.map_err(|error| {
            self.requests.count(Call::AssumeRole, request_code(&error));
            failure(&session.role_arn, &error)
        })?;
        let Some(issued) = output.credentials() else {
            self.requests
                .count(Call::AssumeRole, Reason::UnexpectedResponse.as_str());
            return Err(SendFailure::local(
                Reason::AssumeRoleFailed,
                format!(
                    "STS AssumeRole of {} answered without credentials",
                    session.role_arn
                ),
            ));
        };
        self.requests.count(Call::AssumeRole, SUCCESS);
        let expiry = SystemTime::try_from(*issued.expiration()).ok();
        Ok(Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            expiry,
            "sts-assume-role",
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoleSession, Cached>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `code` label of a failed AssumeRole: STS's error code when known, else what the
/// operator makes of the failure, as for SSM Contacts calls.
fn request_code(error: &SdkError<AssumeRoleError, RawResponse>) -> &'static str {
    match error {
        SdkError::ServiceError(context) => context
            .err()
            .code()
            .map_or(Reason::UnexpectedResponse.as_str(), known_code),
        other => crate::aws::classify::transport_reason(other).as_str(),
    }
}

/// Any STS failure, in the status's words: the AWS code and message where STS answered.
fn failure(role: &str, error: &SdkError<AssumeRoleError, RawResponse>) -> SendFailure {
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let error = context.err();
            SendFailure {
                reason: Reason::AssumeRoleFailed,
                code: error.code().unwrap_or("AssumeRoleFailed").to_owned(),
                message: format!(
                    "STS AssumeRole of {role} failed: {}",
                    error.message().unwrap_or("no message")
                ),
                http_status: Some(status),
                request_id: error.request_id().map(str::to_owned),
                retry_after: None,
            }
        }
        other => SendFailure::local(
            Reason::AssumeRoleFailed,
            format!(
                "STS AssumeRole of {role} failed: {}",
                crate::aws::classify::chain_text(other)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Session names name the object and keep to AssumeRole's characters and length.
    fn session_names() {
        let session = RoleSession::for_object("arn:aws:iam::1:role/r", "team-a", "pager");
        assert_eq!(session.session_name, "team-a.pager");
        let long = RoleSession::for_object("r", &"n".repeat(63), &"x".repeat(253));
        assert_eq!(long.session_name.len(), MAX_SESSION_NAME);
        assert!(long.session_name.starts_with(&"n".repeat(63)));
    }

    fn sts_error(code: Option<&str>) -> SdkError<AssumeRoleError, RawResponse> {
        let mut metadata = aws_sdk_sts::error::ErrorMetadata::builder();
        if let Some(code) = code {
            metadata = metadata.code(code);
        }
        let status = aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("a status");
        SdkError::service_error(
            AssumeRoleError::generic(metadata.build()),
            RawResponse::new(status, "<ErrorResponse/>".into()),
        )
    }

    #[test]
    /// An AssumeRole request is labelled with STS's code when known, Other when not, and the
    /// operator's reason when STS gave no code.
    fn request_codes() {
        assert_eq!(
            request_code(&sts_error(Some("AccessDenied"))),
            "AccessDenied"
        );
        assert_eq!(
            request_code(&sts_error(Some("RegionDisabledException"))),
            "RegionDisabledException"
        );
        assert_eq!(request_code(&sts_error(Some("BrandNewError"))), "Other");
        assert_eq!(request_code(&sts_error(None)), "UnexpectedResponse");
        assert_eq!(
            request_code(&SdkError::timeout_error("no answer in time")),
            "OutcomeUnknown"
        );
    }
}
