//! Every SDK error, classified once into the contract's table: a [`Reason`] with the AWS
//! code, message, HTTP status and request id. The code decides (see
//! [`reason_for_code`]); transport failures are told apart by what is known to have reached
//! AWS.

use std::error::Error as StdError;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssmcontacts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssmcontacts::operation::RequestId;
use aws_sdk_ssmcontacts::operation::activate_contact_channel::ActivateContactChannelError;
use aws_sdk_ssmcontacts::operation::get_contact_channel::GetContactChannelError;
use aws_sdk_ssmcontacts::operation::send_activation_code::SendActivationCodeError;
use aws_smithy_runtime_api::http::Response as RawResponse;

use crate::api::reason::Reason;
use crate::rules::outcome::{SendFailure, reason_for_code};

/// How much of an unexpected body goes into the status message.
const BODY_EXCERPT: usize = 200;

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

/// An error and its sources, as one line (the innermost often says what really failed).
pub fn chain_text(error: &(dyn StdError + 'static)) -> String {
    sources(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
