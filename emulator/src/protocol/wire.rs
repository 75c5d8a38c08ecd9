//! The awsJson1.1 protocol: operation names, error shapes and how answers are encoded.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// `X-Amz-Target` prefix of the service (`targetPrefix` in the model).
pub const TARGET_PREFIX: &str = "SSMContacts.";
/// Content type of every JSON request and answer.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Real Coral services append a namespace URL to `x-amzn-ErrorType`; clients strip it, and
/// sending it here makes sure the operator's error-code parsing handles it too.
const ERROR_TYPE_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazonaws.ssmcontacts/";
/// Message of `UnrecognizedClientException` (and STS `InvalidClientTokenId`): an unknown
/// access key, or temporary credentials without their session token.
pub const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";
/// Message of `ExpiredTokenException` (and STS `ExpiredToken`).
pub const EXPIRED_TOKEN_MESSAGE: &str = "The security token included in the request is expired";
/// Filled in the quota members of throttling and quota errors.
pub const SERVICE_CODE: &str = "ssm-contacts";

/// `Message` of the ValidationException (reason `OTHER`, no `Fields`) that
/// ActivateContactChannel answers to a well-formed code that is not the channel's latest.
/// The public API reference documents no text for this case; this one is the emulator's
/// choice. It never quotes the code.
pub const WRONG_ACTIVATION_CODE_MESSAGE: &str =
    "The activation code is invalid. Use the latest code sent to the contact channel.";

/// The one STS action the emulator serves (over awsQuery, on the same endpoint); faults
/// and the journal name it as an operation too.
pub const ASSUME_ROLE: &str = "AssumeRole";

/// The SSM Contacts operations the emulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    SendActivationCode,
    GetContactChannel,
    ActivateContactChannel,
    CreateContact,
    CreateContactChannel,
    ListContactChannels,
    DeleteContactChannel,
    ListContacts,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::SendActivationCode,
        Operation::GetContactChannel,
        Operation::ActivateContactChannel,
        Operation::CreateContact,
        Operation::CreateContactChannel,
        Operation::ListContactChannels,
        Operation::DeleteContactChannel,
        Operation::ListContacts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::SendActivationCode => "SendActivationCode",
            Operation::GetContactChannel => "GetContactChannel",
            Operation::ActivateContactChannel => "ActivateContactChannel",
            Operation::CreateContact => "CreateContact",
            Operation::CreateContactChannel => "CreateContactChannel",
            Operation::ListContactChannels => "ListContactChannels",
            Operation::DeleteContactChannel => "DeleteContactChannel",
            Operation::ListContacts => "ListContacts",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

/// `ValidationExceptionReason` in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationReason {
    UnknownOperation,
    CannotParse,
    FieldValidationFailed,
    Other,
}

/// `ValidationExceptionField` in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationField {
    pub name: String,
    pub message: String,
}

/// Every error the emulator answers on the wire, with the members of its model shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
    #[error("AccessDeniedException: {message}")]
    AccessDenied { message: String },
    #[error("ConflictException: {message}")]
    Conflict {
        message: String,
        resource_id: String,
        resource_type: String,
    },
    #[error("DataEncryptionException: {message}")]
    DataEncryption { message: String },
    #[error("InternalServerException: {message}")]
    InternalServer {
        message: String,
        retry_after_seconds: Option<u32>,
    },
    #[error("ResourceNotFoundException: {message}")]
    ResourceNotFound {
        message: String,
        resource_id: String,
        resource_type: String,
    },
    #[error("ServiceQuotaExceededException: {message}")]
    ServiceQuotaExceeded {
        message: String,
        quota_code: String,
        resource_id: Option<String>,
        resource_type: Option<String>,
    },
    #[error("ThrottlingException: {message}")]
    Throttling {
        message: String,
        quota_code: Option<String>,
        retry_after_seconds: Option<u32>,
    },
    #[error("ValidationException: {message}")]
    Validation {
        message: String,
        reason: ValidationReason,
        fields: Vec<ValidationField>,
    },
    /// Protocol-level: the body is not JSON of the expected shape.
    #[error("SerializationException: {message}")]
    Serialization { message: String },
    /// Protocol-level: the target names no operation the emulator knows.
    #[error("UnknownOperationException: {message}")]
    UnknownOperation { message: String },
    /// Authentication: no or partial SigV4 data.
    #[error("IncompleteSignatureException: {message}")]
    IncompleteSignature { message: String },
    /// Authentication: the signature does not verify, is expired or mis-scoped.
    #[error("InvalidSignatureException: {message}")]
    InvalidSignature { message: String },
    /// Authentication: the access key id is not one the emulator was configured with.
    #[error("UnrecognizedClientException: {message}")]
    UnrecognizedClient { message: String },
    /// Authentication: temporary credentials the emulator issued, past their expiration.
    #[error("ExpiredTokenException: {message}")]
    ExpiredToken { message: String },
}

impl AwsError {
    /// The shape name: `__type` in the body, and the code clients branch on.
    pub fn type_name(&self) -> &'static str {
        match self {
            AwsError::AccessDenied { .. } => "AccessDeniedException",
            AwsError::Conflict { .. } => "ConflictException",
            AwsError::DataEncryption { .. } => "DataEncryptionException",
            AwsError::InternalServer { .. } => "InternalServerException",
            AwsError::ResourceNotFound { .. } => "ResourceNotFoundException",
            AwsError::ServiceQuotaExceeded { .. } => "ServiceQuotaExceededException",
            AwsError::Throttling { .. } => "ThrottlingException",
            AwsError::Validation { .. } => "ValidationException",
            AwsError::Serialization { .. } => "SerializationException",
            AwsError::UnknownOperation { .. } => "UnknownOperationException",
            AwsError::IncompleteSignature { .. } => "IncompleteSignatureException",
            AwsError::InvalidSignature { .. } => "InvalidSignatureException",
            AwsError::UnrecognizedClient { .. } => "UnrecognizedClientException",
            AwsError::ExpiredToken { .. } => "ExpiredTokenException",
        }
    }

    /// The error's message, as the body carries it.
    pub fn message(&self) -> &str {
        match self {
            AwsError::AccessDenied { message }
            | AwsError::Conflict { message, .. }
            | AwsError::DataEncryption { message }
            | AwsError::InternalServer { message, .. }
            | AwsError::ResourceNotFound { message, .. }
            | AwsError::ServiceQuotaExceeded { message, .. }
            | AwsError::Throttling { message, .. }
            | AwsError::Validation { message, .. }
            | AwsError::Serialization { message }
            | AwsError::UnknownOperation { message }
            | AwsError::IncompleteSignature { message }
            | AwsError::InvalidSignature { message }
            | AwsError::UnrecognizedClient { message }
            | AwsError::ExpiredToken { message } => message,
        }
    }

    /// The HTTP status the service model binds to the shape (`smithy.api#httpError`);
    /// the API reference pages say 400 for all but 500, but clients branch on the code.
    pub fn status(&self) -> StatusCode {
        match self {
            AwsError::Throttling { .. } => StatusCode::TOO_MANY_REQUESTS,
            AwsError::ServiceQuotaExceeded { .. } => StatusCode::PAYMENT_REQUIRED,
            AwsError::AccessDenied { .. }
            | AwsError::IncompleteSignature { .. }
            | AwsError::InvalidSignature { .. }
            | AwsError::UnrecognizedClient { .. }
            | AwsError::ExpiredToken { .. } => StatusCode::FORBIDDEN,
            AwsError::InternalServer { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            AwsError::Conflict { .. } => StatusCode::CONFLICT,
            AwsError::DataEncryption { .. }
            | AwsError::ResourceNotFound { .. }
            | AwsError::Validation { .. }
            | AwsError::Serialization { .. }
            | AwsError::UnknownOperation { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body: `__type` plus the shape's members, PascalCase as in the model.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("__type".into(), Value::from(self.type_name()));
        let mut put = |key: &str, value: Value| {
            body.insert(key.into(), value);
        };
        match self {
            AwsError::AccessDenied { message } | AwsError::DataEncryption { message } => {
                put("Message", message.as_str().into());
            }
            AwsError::Conflict {
                message,
                resource_id,
                resource_type,
            }
            | AwsError::ResourceNotFound {
                message,
                resource_id,
                resource_type,
            } => {
                put("Message", message.as_str().into());
                put("ResourceId", resource_id.as_str().into());
                put("ResourceType", resource_type.as_str().into());
            }
            AwsError::InternalServer {
                message,
                retry_after_seconds,
            } => {
                put("Message", message.as_str().into());
                if let Some(seconds) = retry_after_seconds {
                    put("RetryAfterSeconds", (*seconds).into());
                }
            }
            AwsError::ServiceQuotaExceeded {
                message,
                quota_code,
                resource_id,
                resource_type,
            } => {
                put("Message", message.as_str().into());
                put("QuotaCode", quota_code.as_str().into());
                put("ServiceCode", SERVICE_CODE.into());
                if let Some(id) = resource_id {
                    put("ResourceId", id.as_str().into());
                }
                if let Some(kind) = resource_type {
                    put("ResourceType", kind.as_str().into());
                }
            }
            AwsError::Throttling {
                message,
                quota_code,
                retry_after_seconds,
            } => {
                put("Message", message.as_str().into());
                if let Some(code) = quota_code {
                    put("QuotaCode", code.as_str().into());
                    put("ServiceCode", SERVICE_CODE.into());
                }
                if let Some(seconds) = retry_after_seconds {
                    put("RetryAfterSeconds", (*seconds).into());
                }
            }
            AwsError::Validation {
                message,
                reason,
                fields,
            } => {
                put("Message", message.as_str().into());
                put("Reason", json!(reason));
                if !fields.is_empty() {
                    put("Fields", json!(fields));
                }
            }
            // Protocol and authentication errors are not modeled shapes; AWS spells their
            // member in lower case.
            AwsError::Serialization { message }
            | AwsError::UnknownOperation { message }
            | AwsError::IncompleteSignature { message }
            | AwsError::InvalidSignature { message }
            | AwsError::UnrecognizedClient { message }
            | AwsError::ExpiredToken { message } => {
                put("message", message.as_str().into());
            }
        }
        Value::Object(body)
    }

    /// The full HTTP answer, with the `x-amzn-ErrorType` header next to `__type`.
    pub fn to_response(&self, request_id: &str) -> Response {
        let mut response = json_response(self.status(), &self.body(), request_id);
        let error_type = format!("{}{ERROR_TYPE_SUFFIX}", self.type_name());
        if let Ok(value) = HeaderValue::from_str(&error_type) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }

    /// A `ValidationException` naming one field, as the service answers a bad member.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::fields(vec![ValidationField {
            name: name.to_string(),
            message: message.into(),
        }])
    }

    /// A `ValidationException` listing every bad field, worded like the service's.
    pub fn fields(fields: Vec<ValidationField>) -> Self {
        let count = fields.len();
        let details: Vec<String> = fields
            .iter()
            .map(|f| {
                format!(
                    "Value at '{}' failed to satisfy constraint: {}",
                    f.name, f.message
                )
            })
            .collect();
        AwsError::Validation {
            message: format!(
                "{count} validation error{} detected: {}",
                if count == 1 { "" } else { "s" },
                details.join("; ")
            ),
            reason: ValidationReason::FieldValidationFailed,
            fields,
        }
    }
}

/// A JSON answer carrying the request id header every answer of the service has.
pub fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    raw_response(status, CONTENT_TYPE, body.to_string(), Some(request_id))
}

/// Any answer; `request_id` is `None` only for what a proxy in front of AWS would send.
pub fn raw_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    request_id: Option<&str>,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use crate::protocol::wire::*;

    /// Each error carries the members of its model shape and the status the model binds.
    #[test]
    fn errors_serialise_as_the_model_shapes() {
        let throttled = AwsError::Throttling {
            message: "Rate exceeded".into(),
            quota_code: Some("L-1".into()),
            retry_after_seconds: Some(7),
        };
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            throttled.body(),
            json!({"__type": "ThrottlingException", "Message": "Rate exceeded",
                   "QuotaCode": "L-1", "ServiceCode": "ssm-contacts", "RetryAfterSeconds": 7})
        );

        let missing = AwsError::ResourceNotFound {
            message: "no such channel".into(),
            resource_id: "arn:x".into(),
            resource_type: "CONTACT_CHANNEL".into(),
        };
        assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            missing.body(),
            json!({"__type": "ResourceNotFoundException", "Message": "no such channel",
                   "ResourceId": "arn:x", "ResourceType": "CONTACT_CHANNEL"})
        );

        let invalid = AwsError::field("ContactChannelId", "Member must not be null");
        assert_eq!(
            invalid.body(),
            json!({"__type": "ValidationException",
                   "Message": "1 validation error detected: Value at 'ContactChannelId' failed to satisfy constraint: Member must not be null",
                   "Reason": "FIELD_VALIDATION_FAILED",
                   "Fields": [{"Name": "ContactChannelId", "Message": "Member must not be null"}]})
        );

        let quota = AwsError::ServiceQuotaExceeded {
            message: "too many".into(),
            quota_code: "L-2".into(),
            resource_id: None,
            resource_type: None,
        };
        assert_eq!(quota.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(quota.body()["ServiceCode"], "ssm-contacts");

        let internal = AwsError::InternalServer {
            message: "boom".into(),
            retry_after_seconds: None,
        };
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(internal.body().get("RetryAfterSeconds").is_none());
    }

    /// The answer carries the request id, the JSON content type and a Coral-style error type.
    #[test]
    fn error_responses_carry_the_headers_clients_read() {
        let denied = AwsError::AccessDenied {
            message: "no".into(),
        };
        let response = denied.to_response("req-1");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let headers = response.headers();
        assert_eq!(headers["x-amzn-requestid"], "req-1");
        assert_eq!(headers[header::CONTENT_TYPE], CONTENT_TYPE);
        let error_type = headers["x-amzn-errortype"].to_str().expect("ascii");
        assert_eq!(error_type.split(':').next(), Some("AccessDeniedException"));
    }

    /// Operation names round-trip, and unknown names are refused.
    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
        assert_eq!(Operation::from_name("GetContact"), None);
    }
}
