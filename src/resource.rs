//! The `ContactChannelActivation` custom resource: the public API, and the source of the CRD.
//!
//! Doc comments on fields become the CRD's descriptions that `kubectl explain` shows, so
//! they are written for the people applying these objects, not for this crate's readers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The ARN pattern and length that SSM Contacts itself enforces on `ContactChannelId`.
pub const CHANNEL_ARN_PATTERN: &str =
    r"^arn:(aws|aws-cn|aws-us-gov):ssm-contacts:[-\w+=\/,.@]*:[0-9]+:([\w+=\/,.@:-])*$";

/// Asks AWS Systems Manager Incident Manager (SSM Contacts) to send an activation code to a
/// contact channel, exactly once for each generation of this object.
#[derive(
    CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema,
)]
#[kube(
    group = "ssmcontacts.oncall.dev",
    version = "v1alpha1",
    kind = "ContactChannelActivation",
    plural = "contactchannelactivations",
    shortname = "cca",
    category = "ssmcontacts",
    namespaced,
    doc = "Asks SSM Contacts to send one activation code to a contact channel for each generation of the spec.",
    status = "ContactChannelActivationStatus",
    printcolumn = r#"{"name":"Channel","type":"string","jsonPath":".spec.contactChannelId"}"#,
    printcolumn = r#"{"name":"CodeSent","type":"string","jsonPath":".status.conditions[?(@.type==\"CodeSent\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Attempts","type":"integer","jsonPath":".status.attempts","priority":1}"#,
    printcolumn = r#"{"name":"Next Attempt","type":"date","jsonPath":".status.nextAttemptTime","priority":1}"#,
    printcolumn = r#"{"name":"Last Error","type":"string","jsonPath":".status.lastError.code","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ContactChannelActivationSpec {
    /// ARN of the SSM Contacts contact channel that should receive an activation code, for
    /// example arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a.
    #[schemars(length(min = 1, max = 2048), regex(pattern = CHANNEL_ARN_PATTERN))]
    pub contact_channel_id: String,

    /// AWS region to call. Defaults to the region inside contactChannelId, or, where the ARN
    /// has no region, to the operator's default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"), length(max = 64))]
    pub region: Option<String>,

    /// Opaque value. Changing it (like any spec change) asks for one new activation code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub resend_token: Option<String>,

    /// While true, no call to AWS is made for this object; the status says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// What the operator observed and did for this object.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactChannelActivationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// CodeSent, Ready, Reconciling and Stalled conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The last generation whose activation code was sent successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_generation: Option<i64>,

    /// When the code of sentGeneration was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_time: Option<Time>,

    /// Calls to SendActivationCode made for the current generation.
    #[serde(default)]
    #[schemars(extend("format" = "int32"))]
    pub attempts: u32,

    /// When the next, backed-off attempt is due, if one is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_time: Option<Time>,

    /// The last failed call, kept until a later failure replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,

    /// A call that was started but whose outcome is not yet recorded. Written before the call
    /// so that a crash between the call and its record is detected instead of repeated blindly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_in_flight: Option<SendInFlight>,
}

/// The last failed call to AWS.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// AWS error code (for example ThrottlingException), or the operator's own reason when
    /// AWS gave none (UnexpectedResponse, OutcomeUnknown, CredentialsUnavailable, RegionUnknown).
    pub code: String,
    /// The message from AWS, or a description of what went wrong.
    pub message: String,
    /// HTTP status of the answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int32"))]
    pub http_status: Option<u16>,
    /// AWS request id, for AWS support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the call failed.
    pub time: Time,
}

/// A SendActivationCode call in progress.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendInFlight {
    /// The generation the call sends a code for.
    pub generation: i64,
    /// Which attempt of that generation this is (1 for the first).
    #[schemars(extend("format" = "int32"))]
    pub attempt: u32,
    /// The operator instance making the call.
    pub holder: String,
    /// When the call was started.
    pub started_time: Time,
}

impl SendInFlight {
    /// Whether both describe the same call. Times are left out: the API server keeps them to
    /// the second, so a written and re-read record differs from the one in memory.
    pub fn same_call(&self, other: &SendInFlight) -> bool {
        (self.generation, self.attempt, &self.holder)
            == (other.generation, other.attempt, &other.holder)
    }
}

impl ContactChannelActivation {
    /// The status, or an empty one for an object the operator has not written yet.
    pub fn status_or_default(&self) -> ContactChannelActivationStatus {
        self.status.clone().unwrap_or_default()
    }
}
