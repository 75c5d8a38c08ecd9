//! Counting AWS requests by operation and error code, with a label set that stays bounded
//! whatever an endpoint answers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::api::reason::Reason;
use crate::rules::note::Call;
use crate::rules::outcome::{SendFailure, normalize_code};

/// The `code` of a request that succeeded.
pub const SUCCESS: &str = "Success";
/// The `code` of an AWS error code outside [`KNOWN_CODES`].
pub const OTHER: &str = "Other";

/// AWS error codes exported as they are. Any other code an endpoint sends is [`OTHER`]: a
/// proxy or a misbehaving endpoint must not be able to make new series.
pub const KNOWN_CODES: [&str; 30] = [
    // SSM Contacts, as its service model lists them.
    "ThrottlingException",
    "InternalServerException",
    "ServiceQuotaExceededException",
    "AccessDeniedException",
    "DataEncryptionException",
    "ResourceNotFoundException",
    "ValidationException",
    "ConflictException",
    // Common to every AWS JSON service: authentication and the front door.
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "InternalFailure",
    "ServiceUnavailable",
    "TooManyRequestsException",
    // STS AssumeRole.
    "AccessDenied",
    "ExpiredToken",
    "MalformedPolicyDocument",
    "PackedPolicyTooLarge",
    "RegionDisabledException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "Throttling",
    "IDPCommunicationError",
    "IDPRejectedClaim",
    "InvalidIdentityToken",
    "OptInRequired",
    "RequestExpired",
    "InvalidParameterValue",
];

/// Failures the operator names itself because AWS gave no error code to read.
const LOCAL_REASONS: [Reason; 4] = [
    Reason::OutcomeUnknown,
    Reason::EndpointUnreachable,
    Reason::CredentialsUnavailable,
    Reason::UnexpectedResponse,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: String,
    pub code: String,
}

/// `ssmcontacts_aws_requests_total`: one count per request that was attempted on the wire.
/// A default one counts into a family that no registry exports.
#[derive(Clone, Debug, Default)]
pub struct AwsRequests(pub Family<RequestLabels, Counter>);

impl AwsRequests {
    pub fn count(&self, operation: Call, code: &str) {
        self.0
            .get_or_create(&RequestLabels {
                operation: operation.as_str().to_owned(),
                code: code.to_owned(),
            })
            .inc();
    }

    /// Counts a call's result, classified as [`result_code`] does.
    pub fn count_result<T>(&self, operation: Call, result: &Result<T, SendFailure>) {
        self.count(operation, result_code(result));
    }
}

/// The `code` label of an AWS error code: itself when known, else [`OTHER`].
pub fn known_code(code: &str) -> &'static str {
    let code = normalize_code(code);
    KNOWN_CODES
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or(OTHER)
}

/// The `code` label of a classified failure: AWS's error code when it is a known one, the
/// reason when the operator classified the failure itself, else [`OTHER`].
pub fn failure_code(failure: &SendFailure) -> &'static str {
    match known_code(&failure.code) {
        OTHER => local_code(failure.reason, &failure.code),
        known => known,
    }
}

/// The reason's name when the failure carries no AWS code (its code is the reason's name).
fn local_code(reason: Reason, code: &str) -> &'static str {
    if LOCAL_REASONS.contains(&reason) && code == reason.as_str() {
        reason.as_str()
    } else {
        OTHER
    }
}

pub fn result_code<T>(result: &Result<T, SendFailure>) -> &'static str {
    match result {
        Ok(_) => SUCCESS,
        Err(failure) => failure_code(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str, reason: Reason) -> SendFailure {
        SendFailure {
            code: code.to_owned(),
            http_status: Some(400),
            ..SendFailure::local(reason, "from AWS")
        }
    }

    #[test]
    /// Known AWS codes are labelled as they are, decorated or not; any other code is Other.
    fn aws_codes() {
        let long = "x".repeat(500);
        let table = [
            (
                "ThrottlingException",
                Reason::Throttled,
                "ThrottlingException",
            ),
            (
                "ConflictException",
                Reason::UnexpectedResponse,
                "ConflictException",
            ),
            (
                "com.amazonaws.ssmcontacts#ResourceNotFoundException",
                Reason::ChannelNotFound,
                "ResourceNotFoundException",
            ),
            ("AccessDenied", Reason::AssumeRoleFailed, "AccessDenied"),
            ("Throttling", Reason::AssumeRoleFailed, "Throttling"),
            (
                "RegionDisabledException",
                Reason::AssumeRoleFailed,
                "RegionDisabledException",
            ),
            ("SomethingNew", Reason::UnexpectedResponse, OTHER),
            (long.as_str(), Reason::UnexpectedResponse, OTHER),
            // An endpoint naming one of our reasons as its code does not pass for it.
            ("OutcomeUnknown", Reason::UnexpectedResponse, OTHER),
        ];
        for (code, reason, label) in table {
            assert_eq!(failure_code(&aws(code, reason)), label, "{code}");
        }
    }

    #[test]
    /// Failures without an AWS code are labelled with the operator's own reason.
    fn local_failures() {
        for reason in LOCAL_REASONS {
            let failure = SendFailure::local(reason, "no AWS code");
            assert_eq!(failure_code(&failure), reason.as_str());
        }
        // An answer that is not SSM Contacts JSON carries the reason as its code.
        let unreadable = SendFailure {
            http_status: Some(502),
            ..SendFailure::local(Reason::UnexpectedResponse, "HTML")
        };
        assert_eq!(failure_code(&unreadable), "UnexpectedResponse");
        // A reason that never comes without an AWS code is not a label of its own.
        let other = SendFailure::local(Reason::AssumeRoleFailed, "STS said nothing");
        assert_eq!(failure_code(&other), OTHER);
        assert_eq!(result_code::<()>(&Ok(())), SUCCESS);
    }

    #[test]
    /// However many codes an endpoint invents, the label set stays within the fixed list.
    fn labels_are_bounded() {
        let mut labels = std::collections::BTreeSet::new();
        for n in 0..1000 {
            labels.insert(failure_code(&aws(
                &format!("Made{n}Up"),
                Reason::UnexpectedResponse,
            )));
        }
        for code in KNOWN_CODES {
            labels.insert(failure_code(&aws(code, reason_of(code))));
        }
        assert!(labels.len() <= KNOWN_CODES.len() + 1, "{labels:?}");
    }

    fn reason_of(code: &str) -> Reason {
        crate::rules::outcome::reason_for_code(code)
    }
}
