//! What a call to AWS ended in: sent, or a failure classified into a [`Reason`] with
//! everything AWS said; and the contract's error table (AWS error code -> reason).

use std::time::Duration;

use crate::api::reason::Reason;

/// A failed attempt, classified, with everything AWS told us about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFailure {
    pub reason: Reason,
    /// The AWS error code, or the reason's name when AWS gave none.
    pub code: String,
    pub message: String,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// RetryAfterSeconds from the error body, when AWS sent one.
    pub retry_after: Option<Duration>,
}

impl SendFailure {
    /// A failure the operator detected itself, without an answer from AWS.
    pub fn local(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            code: reason.as_str().to_owned(),
            message: message.into(),
            http_status: None,
            request_id: None,
            retry_after: None,
        }
    }
}

/// The result of one SendActivationCode call.
pub type SendOutcome = Result<Sent, SendFailure>;

/// Whether a call may have made AWS send a code: it did, or nobody knows. Such calls count
/// for the channel's cooldown and hourly cap.
pub fn may_have_sent(outcome: &SendOutcome) -> bool {
    match outcome {
        Ok(_) => true,
        Err(failure) => failure.reason == Reason::OutcomeUnknown,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub request_id: Option<String>,
}

/// Maps an AWS error code to its reason. The code, not the HTTP status, decides: the
/// documentation and the service model disagree on the statuses.
pub fn reason_for_code(code: &str) -> Reason {
    match normalize_code(code) {
        "ThrottlingException" | "TooManyRequestsException" | "ThrottledException" => {
            Reason::Throttled
        }
        "InternalServerException" | "InternalFailure" | "ServiceUnavailable" => {
            Reason::AwsInternalError
        }
        "ServiceQuotaExceededException" => Reason::QuotaExceeded,
        // Authentication failures are the caller's identity being refused: a person fixes it.
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "IncompleteSignatureException"
        | "MissingAuthenticationToken"
        | "ExpiredTokenException" => Reason::AccessDenied,
        "DataEncryptionException" => Reason::DataEncryptionError,
        "ResourceNotFoundException" => Reason::ChannelNotFound,
        "ValidationException" => Reason::ValidationFailed,
        _ => Reason::UnexpectedResponse,
    }
}

/// `aws.protocols#Foo:http://...` and `prefix#Foo` both name `Foo`.
pub fn normalize_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::reason::Retry;

    #[test]
    /// Every AWS error in the contract maps to its documented reason.
    fn error_table() {
        let table = [
            ("ThrottlingException", Reason::Throttled, Retry::Fast, false),
            (
                "InternalServerException",
                Reason::AwsInternalError,
                Retry::Fast,
                false,
            ),
            (
                "ServiceQuotaExceededException",
                Reason::QuotaExceeded,
                Retry::Slow,
                false,
            ),
            (
                "AccessDeniedException",
                Reason::AccessDenied,
                Retry::Slow,
                true,
            ),
            (
                "DataEncryptionException",
                Reason::DataEncryptionError,
                Retry::Slow,
                true,
            ),
            (
                "ResourceNotFoundException",
                Reason::ChannelNotFound,
                Retry::Slow,
                false,
            ),
            (
                "ValidationException",
                Reason::ValidationFailed,
                Retry::Never,
                true,
            ),
            (
                "SomethingNew",
                Reason::UnexpectedResponse,
                Retry::Fast,
                false,
            ),
        ];
        for (code, reason, retry, stalled) in table {
            assert_eq!(reason_for_code(code), reason, "{code}");
            assert_eq!(reason.retry(), retry, "{code}");
            assert_eq!(reason.needs_a_person(), stalled, "{code}");
        }
    }

    #[test]
    /// Codes arrive decorated (`ns#Code`, `Code:uri`); the bare name decides.
    fn decorated_codes() {
        assert_eq!(
            normalize_code("com.amazonaws.ssmcontacts#ThrottlingException"),
            "ThrottlingException"
        );
        assert_eq!(
            normalize_code("ThrottlingException:http://internal.amazon.com/"),
            "ThrottlingException"
        );
        assert_eq!(
            reason_for_code("aws.protocols#ValidationException:http://x"),
            Reason::ValidationFailed
        );
    }
}
