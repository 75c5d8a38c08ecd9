//! The AWS edge: one SSM Contacts client per region, built from the SDK's default chain, and
//! the translation of every SDK result into a classified [`SendOutcome`].
//!
//! The SDK's own retries are off: a retried 5xx could send a second code that no status
//! records. The controller owns every retry, and every retry is written down first.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssmcontacts::Client;
use aws_sdk_ssmcontacts::config::retry::RetryConfig;
use aws_sdk_ssmcontacts::config::timeout::TimeoutConfig;
use aws_sdk_ssmcontacts::config::{Builder as ConfigBuilder, Region};
use aws_sdk_ssmcontacts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssmcontacts::operation::RequestId;
use aws_sdk_ssmcontacts::operation::activate_contact_channel::ActivateContactChannelError;
use aws_sdk_ssmcontacts::operation::get_contact_channel::GetContactChannelError;
use aws_sdk_ssmcontacts::operation::send_activation_code::SendActivationCodeError;
use aws_smithy_runtime_api::http::Response as RawResponse;

use crate::activation::{ChannelState, CheckOutcome};
use crate::arn::ChannelArn;
use crate::assume::{AssumedRoles, RoleSession};
use crate::outcome::{Reason, SendFailure, SendOutcome, Sent, reason_for_code};
use crate::requests::AwsRequests;
use crate::telemetry::Call;

/// AWS has about 40 regions; the cap leaves room for every one of them and all partitions.
const MAX_CACHED_REGIONS: usize = 64;

/// How much of an unexpected body goes into the status message.
const BODY_EXCERPT: usize = 200;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole call; past it the outcome is unknown, since the request may have left.
    pub call: Duration,
}

/// SSM Contacts clients, one per region, sharing the SDK configuration loaded at start-up.
pub struct SsmContacts {
    base: SdkConfig,
    timeouts: Timeouts,
    clients: Mutex<HashMap<String, Client>>,
    roles: AssumedRoles,
    requests: AwsRequests,
}

impl SsmContacts {
    /// Loads the default chain: credentials (IRSA web identity, EKS Pod Identity, env,
    /// profile), region and the endpoint override (`AWS_ENDPOINT_URL_SSM_CONTACTS` or
    /// `AWS_ENDPOINT_URL`).
    pub async fn from_env(timeouts: Timeouts) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(base, timeouts)
    }

    pub fn new(base: SdkConfig, timeouts: Timeouts) -> Self {
        Self {
            roles: AssumedRoles::new(base.clone(), timeouts.call),
            base,
            timeouts,
            clients: Mutex::default(),
            requests: AwsRequests::default(),
        }
    }

    /// Counts every request made from here on, STS AssumeRole included, into `requests`.
    #[must_use]
    pub fn counting(mut self, requests: AwsRequests) -> Self {
        self.roles = self.roles.counting(requests.clone());
        self.requests = requests;
        self
    }

    /// The region of the SDK's own chain (AWS_REGION, profile), used as the operator default.
    pub fn sdk_region(&self) -> Option<String> {
        self.base.region().map(ToString::to_string)
    }

    fn build_client(&self, region: &str, credentials: Option<Credentials>) -> Client {
        let mut builder = ConfigBuilder::from(&self.base);
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        let config = builder
            .region(Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.timeouts.connect)
                    .operation_timeout(self.timeouts.call)
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }

    /// The client of `region`. Region names come from user-written specs, so the cache is
    /// capped: past [`MAX_CACHED_REGIONS`] a client is built for the one call.
    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(region) {
            return client.clone();
        }
        let client = self.build_client(region, None);
        if clients.len() < MAX_CACHED_REGIONS {
            clients.insert(region.to_owned(), client.clone());
        }
        client
    }

    /// The client for one call: the operator's own credentials, or the object's assumed
    /// role (a failure to assume it is `AssumeRoleFailed`, and nothing reaches SSM Contacts).
    async fn client_as(
        &self,
        region: &str,
        role: Option<&RoleSession>,
    ) -> Result<Client, SendFailure> {
        match role {
            None => Ok(self.client(region)),
            Some(session) => {
                let credentials = self.roles.credentials(session, region).await?;
                Ok(self.build_client(region, Some(credentials)))
            }
        }
    }

    /// The client for sends to `region` as `role`, with the role assumed now (AssumeRole comes
    /// before the intent is written, so that the intent-to-answer window is one call long).
    pub async fn sender(&self, region: &str, role: Option<&RoleSession>) -> Sender {
        Sender {
            client: self.client_as(region, role).await,
            requests: self.requests.clone(),
        }
    }
}

/// A client ready to send, or why none could be had (nothing reaches SSM Contacts then).
pub struct Sender {
    client: Result<Client, SendFailure>,
    requests: AwsRequests,
}

impl Sender {
    /// Calls SendActivationCode once and classifies what happened.
    pub async fn send_activation_code(self, channel: &ChannelArn) -> SendOutcome {
        let result = self
            .client?
            .send_activation_code()
            .contact_channel_id(channel.as_str())
            .send()
            .await;
        let outcome = match result {
            Ok(output) => Ok(Sent {
                request_id: output.request_id().map(str::to_owned),
            }),
            Err(error) => Err(classify(error)),
        };
        self.requests
            .count_result(Call::SendActivationCode, &outcome);
        outcome
    }
}

/// What differs between the operations' error types: the members beyond code and message.
pub trait ErrorDetails {
    /// RetryAfterSeconds of a ThrottlingException or InternalServerException.
    fn retry_after(&self) -> Option<Duration>;
    /// Reason and fields of a ValidationException.
    fn validation_detail(&self) -> Option<String>;
}

fn validation_text(
    reason: Option<&aws_sdk_ssmcontacts::types::ValidationExceptionReason>,
    fields: &[aws_sdk_ssmcontacts::types::ValidationExceptionField],
) -> String {
    let mut text = String::new();
    if let Some(reason) = reason {
        text.push_str(&format!(" [reason {}]", reason.as_str()));
    }
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.message()))
        .collect();
    if !fields.is_empty() {
        text.push_str(&format!(" [fields {}]", fields.join("; ")));
    }
    text
}

macro_rules! error_details {
    ($($error:ty),*) => {$(
        impl ErrorDetails for $error {
            fn retry_after(&self) -> Option<Duration> {
                match self {
                    Self::ThrottlingException(e) => seconds(e.retry_after_seconds()),
                    Self::InternalServerException(e) => seconds(e.retry_after_seconds()),
                    _ => None,
                }
            }
            fn validation_detail(&self) -> Option<String> {
                match self {
                    Self::ValidationException(e) => Some(validation_text(e.reason(), e.fields())),
                    _ => None,
                }
            }
        }
    )*};
}

error_details!(
    SendActivationCodeError,
    GetContactChannelError,
    ActivateContactChannelError
);

impl SsmContacts {
    /// Calls GetContactChannel once: the channel's activation status and type.
    pub async fn get_contact_channel(
        &self,
        region: &str,
        channel: &ChannelArn,
        role: Option<&RoleSession>,
    ) -> CheckOutcome {
        let result = self
            .client_as(region, role)
            .await?
            .get_contact_channel()
            .contact_channel_id(channel.as_str())
            .send()
            .await;
        let outcome = match result {
            Ok(output) => Ok(ChannelState {
                activation_status: output
                    .activation_status()
                    .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                channel_type: Some(output.r#type().as_str().to_owned()),
            }),
            Err(error) => Err(classify(error)),
        };
        self.requests
            .count_result(Call::GetContactChannel, &outcome);
        outcome
    }

    /// Calls ActivateContactChannel once with `code`. The code goes to AWS and nowhere else:
    /// errors are classified from AWS's answer, which does not echo it.
    pub async fn activate_contact_channel(
        &self,
        region: &str,
        channel: &ChannelArn,
        code: &crate::secret::ActivationCode,
        role: Option<&RoleSession>,
    ) -> Result<(), SendFailure> {
        let outcome = self
            .client_as(region, role)
            .await?
            .activate_contact_channel()
            .contact_channel_id(channel.as_str())
            .activation_code(code.expose())
            .send()
            .await
            .map(|_| ())
            .map_err(classify);
        self.requests
            .count_result(Call::ActivateContactChannel, &outcome);
        outcome
    }
}

/// Maps an SDK error onto the contract's table.
pub fn classify<E>(error: SdkError<E, RawResponse>) -> SendFailure
where
    E: ProvideErrorMetadata + RequestId + ErrorDetails + StdError + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let raw = context.raw();
            let status = raw.status().as_u16();
            let body = excerpt(raw.body().bytes().unwrap_or_default());
            let error = context.err();
            let request_id = error.request_id().map(str::to_owned);
            let Some(code) = error.code() else {
                return SendFailure {
                    reason: Reason::UnexpectedResponse,
                    code: Reason::UnexpectedResponse.as_str().to_owned(),
                    message: format!(
                        "an answer that is not SSM Contacts JSON (HTTP {status}): {body}"
                    ),
                    http_status: Some(status),
                    request_id,
                    retry_after: None,
                };
            };
            let retry_after = error.retry_after();
            let reason = reason_for_code(code);
            let mut message = error.message().map_or_else(|| body.clone(), str::to_owned);
            if let Some(detail) = error.validation_detail() {
                message.push_str(&detail);
            }
            SendFailure {
                reason,
                code: code.to_owned(),
                message,
                http_status: Some(status),
                request_id,
                retry_after,
            }
        }
        SdkError::ResponseError(context) => {
            let raw = context.raw();
            let status = raw.status().as_u16();
            let body = excerpt(raw.body().bytes().unwrap_or_default());
            SendFailure {
                reason: Reason::UnexpectedResponse,
                code: Reason::UnexpectedResponse.as_str().to_owned(),
                message: format!("an answer that could not be read (HTTP {status}): {body}"),
                http_status: Some(status),
                request_id: header(raw, "x-amzn-requestid"),
                retry_after: None,
            }
        }
        SdkError::DispatchFailure(failure) => {
            let Some(connector) = failure.as_connector_error() else {
                return SendFailure::local(
                    Reason::OutcomeUnknown,
                    "the call failed in an unknown way; AWS may or may not have sent a code",
                );
            };
            let chain = chain_text(connector);
            let reason = dispatch_reason(connector);
            let message = match reason {
                Reason::CredentialsUnavailable => {
                    format!("no AWS credentials could be loaded; nothing was sent: {chain}")
                }
                Reason::EndpointUnreachable => {
                    format!("could not connect to SSM Contacts; nothing was sent: {chain}")
                }
                _ => format!(
                    "the connection failed after the request was sent, so AWS may or may not have sent a code: {chain}"
                ),
            };
            SendFailure::local(reason, message)
        }
        SdkError::TimeoutError(_) => SendFailure::local(
            Reason::OutcomeUnknown,
            "no answer within the call timeout; AWS may or may not have sent a code",
        ),
        // Building the request failed: nothing left this process.
        other => SendFailure::local(
            Reason::UnexpectedResponse,
            format!(
                "the request could not be built; nothing was sent: {}",
                chain_text(&other)
            ),
        ),
    }
}

/// What became of a request that failed before its answer was read: no credentials, no
/// connection, or sent with the outcome unknown.
fn dispatch_reason(connector: &(dyn StdError + 'static)) -> Reason {
    if has_source::<CredentialsError>(connector) {
        Reason::CredentialsUnavailable
    } else if connect_failed(connector) {
        Reason::EndpointUnreachable
    } else {
        Reason::OutcomeUnknown
    }
}

/// The reason of a call that ended without an AWS error code, as [`classify`] names it; for
/// a service error without a code as well (`UnexpectedResponse`). Used where the call's own
/// failure keeps another reason (STS AssumeRole is always `AssumeRoleFailed`).
pub fn transport_reason<E, R>(error: &SdkError<E, R>) -> Reason {
    match error {
        SdkError::DispatchFailure(failure) => failure
            .as_connector_error()
            .map_or(Reason::OutcomeUnknown, |connector| {
                dispatch_reason(connector)
            }),
        SdkError::TimeoutError(_) => Reason::OutcomeUnknown,
        _ => Reason::UnexpectedResponse,
    }
}

fn seconds(value: i32) -> Option<Duration> {
    // The SDK reads a missing RetryAfterSeconds as 0: "not sent", not "retry now".
    u64::try_from(value)
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT)]);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > BODY_EXCERPT {
        format!("{flat}...")
    } else {
        flat
    }
}

fn header(raw: &RawResponse, name: &str) -> Option<String> {
    raw.headers().get(name).map(str::to_owned)
}

fn sources<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> + 'a {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

fn has_source<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    sources(error).any(|e| e.is::<T>())
}

fn connect_failed(error: &(dyn StdError + 'static)) -> bool {
    sources(error)
        .filter_map(|e| e.downcast_ref::<hyper_util::client::legacy::Error>())
        .any(hyper_util::client::legacy::Error::is_connect)
}

pub fn chain_text(error: &(dyn StdError + 'static)) -> String {
    sources(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
