//! STS errors as the awsQuery protocol answers them: an `ErrorResponse` document with the
//! error's `Type` (Sender or Receiver), `Code` and `Message`, and the request id.

use axum::http::StatusCode;
use axum::response::Response;

use super::xml::{XMLNS, XmlWriter};
use crate::faults::injected::{FaultKind, FaultSpec};
use crate::protocol::wire::{self, AwsError};

/// Content type of every STS answer, errors included.
pub(crate) const CONTENT_TYPE: &str = "text/xml";

/// One STS error: the code clients branch on, its message and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StsError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl StsError {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status,
        }
    }

    pub(crate) fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn invalid_action(message: impl Into<String>) -> Self {
        Self::new("InvalidAction", StatusCode::BAD_REQUEST, message)
    }

    /// A refused signature, in STS's words: the same causes SSM Contacts reports with its
    /// awsJson exception names carry the Query protocol's common error codes here.
    pub(crate) fn from_auth(error: &AwsError, has_authorization: bool) -> Self {
        let message = error.message().to_string();
        match error {
            AwsError::IncompleteSignature { .. } if !has_authorization => {
                Self::new("MissingAuthenticationToken", StatusCode::FORBIDDEN, message)
            }
            AwsError::IncompleteSignature { .. } => {
                Self::new("IncompleteSignature", StatusCode::BAD_REQUEST, message)
            }
            AwsError::InvalidSignature { .. } => {
                Self::new("SignatureDoesNotMatch", StatusCode::FORBIDDEN, message)
            }
            AwsError::UnrecognizedClient { .. } => {
                Self::new("InvalidClientTokenId", StatusCode::FORBIDDEN, message)
            }
            AwsError::ExpiredToken { .. } => {
                Self::new("ExpiredToken", StatusCode::FORBIDDEN, message)
            }
            // Authentication produces none of the others; were it to, the caller still
            // gets a well-formed answer.
            _ => Self::new(
                "InternalFailure",
                StatusCode::INTERNAL_SERVER_ERROR,
                message,
            ),
        }
    }

    /// The answer of an injected error fault, in STS's codes; `None` for the kinds that
    /// are no error answer (and for those STS has no counterpart of, which never match an
    /// STS call: see [`FaultKind::applies_to_sts`]).
    pub(crate) fn from_fault(spec: &FaultSpec) -> Option<Self> {
        let message = |default: &str| spec.message.clone().unwrap_or_else(|| default.into());
        Some(match spec.error? {
            FaultKind::ThrottlingException => Self::new(
                "Throttling",
                StatusCode::BAD_REQUEST,
                message("Rate exceeded"),
            ),
            FaultKind::InternalServerException => Self::new(
                "InternalFailure",
                StatusCode::INTERNAL_SERVER_ERROR,
                message("An internal error occurred (injected by the emulator)."),
            ),
            FaultKind::AccessDeniedException => Self::access_denied(message(
                "User is not authorized to perform: sts:AssumeRole (injected by the emulator).",
            )),
            FaultKind::ValidationException => {
                Self::validation(message("Invalid request (injected by the emulator)."))
            }
            FaultKind::ServiceQuotaExceededException
            | FaultKind::DataEncryptionException
            | FaultKind::ResourceNotFoundException
            | FaultKind::Html502
            | FaultKind::MalformedJson
            | FaultKind::DropBeforeProcessing
            | FaultKind::DropAfterProcessing => return None,
        })
    }

    /// `Receiver` for the service's own failures (5xx), `Sender` for the caller's.
    fn fault_type(&self) -> &'static str {
        if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    pub(crate) fn to_xml(&self, request_id: &str) -> String {
        XmlWriter::document("ErrorResponse", XMLNS, |w| {
            w.element("Error", |w| {
                w.text("Type", self.fault_type())
                    .text("Code", self.code)
                    .text("Message", &self.message);
            })
            .text("RequestId", request_id);
        })
    }

    pub(crate) fn to_response(&self, request_id: &str) -> Response {
        wire::raw_response(
            self.status,
            CONTENT_TYPE,
            self.to_xml(request_id),
            Some(request_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::sts::error::*;

    /// The error document has AWS's shape, with the markup of echoed values escaped.
    #[test]
    fn error_documents_are_awsquery_shaped() {
        let denied = StsError::access_denied("User: a is not authorized on <b>");
        assert_eq!(
            denied.to_xml("req-1"),
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>User: a is not authorized on &lt;b&gt;</Message></Error>\
             <RequestId>req-1</RequestId></ErrorResponse>"
        );
        let response = denied.to_response("req-1");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()["content-type"], "text/xml");
        assert_eq!(response.headers()["x-amzn-requestid"], "req-1");

        let internal = StsError::from_fault(&FaultSpec::error(
            "AssumeRole",
            FaultKind::InternalServerException,
        ))
        .expect("an error");
        assert_eq!(internal.code, "InternalFailure");
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(internal.to_xml("r").contains("<Type>Receiver</Type>"));
    }

    /// Each authentication failure gets STS's code and status; faults map to STS codes.
    #[test]
    fn codes_are_sts_codes() {
        let auth = |error: AwsError, has_authorization| {
            let mapped = StsError::from_auth(&error, has_authorization);
            (mapped.code, mapped.status.as_u16())
        };
        let message = || "m".to_string();
        assert_eq!(
            auth(AwsError::IncompleteSignature { message: message() }, false),
            ("MissingAuthenticationToken", 403)
        );
        assert_eq!(
            auth(AwsError::IncompleteSignature { message: message() }, true),
            ("IncompleteSignature", 400)
        );
        assert_eq!(
            auth(AwsError::InvalidSignature { message: message() }, true),
            ("SignatureDoesNotMatch", 403)
        );
        assert_eq!(
            auth(AwsError::UnrecognizedClient { message: message() }, true),
            ("InvalidClientTokenId", 403)
        );
        assert_eq!(
            auth(AwsError::ExpiredToken { message: message() }, true),
            ("ExpiredToken", 403)
        );

        let fault = |kind| {
            StsError::from_fault(&FaultSpec::error("AssumeRole", kind))
                .map(|e| (e.code, e.status.as_u16()))
        };
        assert_eq!(
            fault(FaultKind::ThrottlingException),
            Some(("Throttling", 400))
        );
        assert_eq!(
            fault(FaultKind::AccessDeniedException),
            Some(("AccessDenied", 403))
        );
        assert_eq!(
            fault(FaultKind::ValidationException),
            Some(("ValidationError", 400))
        );
        assert_eq!(fault(FaultKind::ResourceNotFoundException), None);
        assert_eq!(fault(FaultKind::DropAfterProcessing), None);
        let worded = FaultSpec {
            message: Some("custom".into()),
            ..FaultSpec::error("AssumeRole", FaultKind::AccessDeniedException)
        };
        assert_eq!(
            StsError::from_fault(&worded).map(|e| e.message),
            Some("custom".to_string())
        );
    }
}
