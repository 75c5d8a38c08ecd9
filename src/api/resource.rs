//! The `ContactChannelActivation` custom resource: the public API, and the source of the CRD.
//!
//! Doc comments on fields become the CRD's descriptions that `kubectl explain` shows, so
//! they are written for the people applying these objects, not for this crate's readers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The ARN pattern that SSM Contacts itself enforces on `ContactChannelId` (API.md), checked
/// by a CEL rule so that a refusal reads as a sentence, not as a regular expression.
/// The most recent sends a status keeps: the hourly cap per channel can be no higher.
pub const MAX_RECENT_SENDS: usize = 64;

pub const CHANNEL_ARN_PATTERN: &str =
    r"^arn:(aws|aws-cn|aws-us-gov):ssm-contacts:[-\w+=/,.@]*:[0-9]+:([\w+=/,.@:-])*$";

/// Asks AWS Systems Manager Incident Manager (SSM Contacts) to send an activation code to a
/// contact channel: at most once for each generation of this object, except when the
/// operator stops after AWS accepted a call and before it recorded it (then the status says
/// OutcomeUnknown and, by default, a code is sent again).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[kube(
    group = "ssmcontacts.oncall.dev",
    version = "v1alpha1",
    kind = "ContactChannelActivation",
    plural = "contactchannelactivations",
    shortname = "cca",
    category = "ssmcontacts",
    namespaced,
    doc = "Asks SSM Contacts to send one activation code to a contact channel for each generation of the spec (at most once, except when the operator stops between AWS accepting a call and recording it: then the status says OutcomeUnknown).",
    status = "ContactChannelActivationStatus",
    printcolumn = r#"{"name":"Channel","type":"string","jsonPath":".status.channelId","description":"The channel's id, the last part of its ARN"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether what spec.readyWhen waits for has happened"}"#,
    printcolumn = r#"{"name":"CodeSent","type":"string","jsonPath":".status.conditions[?(@.type==\"CodeSent\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Activation","type":"string","jsonPath":".status.activationStatus","description":"The channel's ActivationStatus as AWS last reported it"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".spec.contactChannelId","priority":1}"#,
    printcolumn = r#"{"name":"Attempts","type":"integer","jsonPath":".status.attempts","priority":1}"#,
    printcolumn = r#"{"name":"Next Attempt","type":"string","jsonPath":".status.nextAttemptTime","priority":1,"description":"When the next, backed-off attempt is due (a date column would show a future time as <invalid>)"}"#,
    printcolumn = r#"{"name":"Last Error","type":"string","jsonPath":".status.lastError.code","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1,"description":"What the object is waiting for, or what happened last"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.region) || (self.contactChannelId.startsWith('arn:aws-cn:') == self.region.startsWith('cn-') && self.contactChannelId.startsWith('arn:aws-us-gov:') == self.region.startsWith('us-gov-'))"
).message("region must belong to the ARN's partition: cn-* regions with arn:aws-cn, us-gov-* regions with arn:aws-us-gov, all others with arn:aws").field_path(".region"))]
#[x_kube(validation = Rule::new(
    "!has(self.roleArn) || (self.roleArn.startsWith('arn:aws:') == self.contactChannelId.startsWith('arn:aws:') && self.roleArn.startsWith('arn:aws-cn:') == self.contactChannelId.startsWith('arn:aws-cn:'))"
).message("roleArn must be in the same partition as contactChannelId (aws, aws-cn or aws-us-gov)").field_path(".roleArn"))]
pub struct ContactChannelActivationSpec {
    /// ARN of the SSM Contacts contact channel that should receive an activation code, for
    /// example arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(
        "self.matches('^arn:(aws|aws-cn|aws-us-gov):ssm-contacts:[-\\\\w+=/,.@]*:[0-9]+:([\\\\w+=/,.@:-])*$')"
    ).message("must be the ARN of an SSM Contacts contact channel, such as arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a"))]
    #[x_kube(validation = Rule::new(
        "!self.startsWith('arn:aws:') || !self.matches('^arn:aws:ssm-contacts:(cn-|us-gov-)')"
    ).message("an arn:aws ARN cannot name a cn-* or us-gov-* region (those belong to aws-cn and aws-us-gov)"))]
    #[x_kube(validation = Rule::new(
        "!self.startsWith('arn:aws-cn:') || self.matches('^arn:aws-cn:ssm-contacts:(cn-[^:]*)?:')"
    ).message("an arn:aws-cn ARN names a cn-* region (or none)"))]
    #[x_kube(validation = Rule::new(
        "!self.startsWith('arn:aws-us-gov:') || self.matches('^arn:aws-us-gov:ssm-contacts:(us-gov-[^:]*)?:')"
    ).message("an arn:aws-us-gov ARN names a us-gov-* region (or none)"))]
    #[x_kube(validation = Rule::new(
        "!self.matches('^arn:[^:]*:[^:]*:[^:]+:') || self.matches('^arn:[^:]*:[^:]*:[a-z]{2}(-[a-z]+)+-[0-9]+:')"
    ).message("the ARN's region part must be empty or look like a region, such as us-east-1"))]
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

    /// What the Ready condition waits for: CodeSent (default), or Activated, for pipelines
    /// that must wait until a person has entered the code.
    #[serde(default, skip_serializing_if = "ReadyWhen::is_default")]
    pub ready_when: ReadyWhen,

    /// Before the first call of a generation, ask AWS whether the channel is already
    /// activated; if it is, send no code (reason AlreadyActivated, Ready). Default true, so a
    /// cluster rebuilt from Git does not text every on-call phone again.
    #[serde(default = "enabled", skip_serializing_if = "is_enabled")]
    pub skip_if_activated: bool,

    /// A Secret in this namespace holding the code the person received; the operator enters
    /// it (ActivateContactChannel) once per distinct content of the Secret and never copies
    /// it anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_code_secret_ref: Option<CodeSecretRef>,

    /// An IAM role to assume (STS AssumeRole) for the calls about this channel, typically
    /// in the channel's own account. The operator assumes it only where it matches its
    /// --allowed-role-arns; otherwise the object is refused with reason NotAllowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    #[x_kube(validation = Rule::new(
        "self.matches('^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[\\\\w+=,.@/-]+$')"
    ).message("must be the ARN of an IAM role, such as arn:aws:iam::111122223333:role/ssm-contacts-activation"))]
    pub role_arn: Option<String>,
}

fn enabled() -> bool {
    true
}

/// The defaults of an object that names only its channel, as the API server fills them in.
impl Default for ContactChannelActivationSpec {
    fn default() -> Self {
        Self {
            contact_channel_id: String::new(),
            region: None,
            resend_token: None,
            suspend: false,
            ready_when: ReadyWhen::default(),
            skip_if_activated: true,
            activation_code_secret_ref: None,
            role_arn: None,
        }
    }
}

fn is_enabled(value: &bool) -> bool {
    *value
}

/// What the Ready condition waits for.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReadyWhen {
    /// Ready once this generation's code was sent (or the channel was already activated).
    #[default]
    CodeSent,
    /// Ready once AWS reports the channel ACTIVATED.
    Activated,
}

impl ReadyWhen {
    fn is_default(&self) -> bool {
        *self == Self::CodeSent
    }
}

/// A key of a Secret in the object's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data; default "code".
    #[serde(default = "default_code_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_code_key() -> String {
    "code".to_owned()
}

/// What the operator observed and did for this object.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactChannelActivationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The channel's id: the last part of spec.contactChannelId (shown by kubectl get).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,

    /// CodeSent, Ready, Reconciling and Stalled conditions.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::api::lenient::conditions"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The last generation whose activation code was sent successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_generation: Option<i64>,

    /// When the code of sentGeneration was sent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::lenient::option_time"
    )]
    pub last_sent_time: Option<Time>,

    /// Calls to SendActivationCode made for the current generation.
    #[serde(default)]
    #[schemars(extend("format" = "int32"), range(max = 2147483647))]
    pub attempts: u32,

    /// When the next, backed-off attempt is due, if one is scheduled.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::lenient::option_time"
    )]
    pub next_attempt_time: Option<Time>,

    /// The last failed call of the current generation. Cleared when that generation's code is
    /// sent and when a new generation starts; every failure also stays in the Events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,

    /// The channel's ActivationStatus as AWS last reported it: ACTIVATED or NOT_ACTIVATED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_status: Option<String>,

    /// The channel's type as AWS reports it: SMS, VOICE or EMAIL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<String>,

    /// When GetContactChannel was last asked.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::lenient::option_time"
    )]
    pub last_activation_check_time: Option<Time>,

    /// Activation checks since the last code was sent; they are spaced further apart as
    /// this grows.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("format" = "int32"), range(max = 2147483647))]
    pub activation_checks: u32,

    /// GetContactChannel or ActivateContactChannel calls in a row that failed (throttled,
    /// denied, 5xx; a refused code is not a failure of the call); the next one waits longer
    /// as this grows.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("format" = "int32"), range(max = 2147483647))]
    pub activation_failures: u32,

    /// Which content of the code Secret was last entered ("<uid>/<resourceVersion>"; never
    /// the code), so each new content is tried once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_secret_tried: Option<String>,

    /// Calls of the last hour that sent, or may have sent, a code, with the channel each
    /// went to. The per-channel cooldown and hourly cap count these across all objects, so
    /// that they hold across operator restarts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_RECENT_SENDS))]
    pub recent_sends: Vec<RecentSend>,

    /// A call that was started but whose outcome is not yet recorded. Written before the call
    /// so that a crash between the call and its record is detected instead of repeated blindly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_in_flight: Option<SendInFlight>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
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
    #[serde(deserialize_with = "crate::api::lenient::time")]
    pub time: Time,
}

/// One call that sent, or may have sent, a code.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentSend {
    /// The channel's ARN, as spec.contactChannelId named it then.
    #[schemars(length(max = 2048))]
    pub contact_channel_id: String,
    /// When the call started.
    #[serde(deserialize_with = "crate::api::lenient::time")]
    pub time: Time,
}

/// A SendActivationCode call in progress.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendInFlight {
    /// The generation the call sends a code for.
    pub generation: i64,
    /// Which attempt of that generation this is (1 for the first).
    #[schemars(extend("format" = "int32"), range(max = 2147483647))]
    pub attempt: u32,
    /// The operator instance making the call.
    pub holder: String,
    /// When the call was started.
    #[serde(deserialize_with = "crate::api::lenient::time")]
    pub started_time: Time,
    /// The channel called (spec.contactChannelId at the time), so that a call in progress
    /// counts for that channel's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub contact_channel_id: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: serde_json::Value) -> Result<(), String> {
        let object: ContactChannelActivation = serde_json::from_value(serde_json::json!({
            "apiVersion": "ssmcontacts.oncall.dev/v1alpha1",
            "kind": "ContactChannelActivation",
            "metadata": {"name": "x", "namespace": "team"},
            "spec": spec,
        }))
        .map_err(|e| e.to_string())?;
        kube::core::cel::validate_cel(&object).map_err(|e| e.to_string())
    }

    const GOOD: &str = "arn:aws:ssm-contacts:us-east-1:111122223333:contact-channel/oncall/0c4e1a";

    #[test]
    /// Well-formed objects pass every CEL rule of the CRD.
    fn valid_specs_pass() {
        for spec in [
            serde_json::json!({"contactChannelId": GOOD}),
            serde_json::json!({"contactChannelId": GOOD, "region": "eu-west-1"}),
            serde_json::json!({"contactChannelId": "arn:aws-cn:ssm-contacts:cn-north-1:111122223333:contact-channel/a/b", "region": "cn-northwest-1"}),
            serde_json::json!({"contactChannelId": "arn:aws-us-gov:ssm-contacts::111122223333:contact-channel/a/b"}),
        ] {
            assert_eq!(check(spec.clone()), Ok(()), "{spec}");
        }
    }

    #[test]
    /// A bad ARN is refused with a sentence that says what is wanted, not a regex.
    fn bad_arn_reads_as_a_sentence() {
        let error = check(serde_json::json!({"contactChannelId": "arn:aws:sns:us-east-1:1:topic"}))
            .unwrap_err();
        assert!(
            error.contains("must be the ARN of an SSM Contacts contact channel"),
            "{error}"
        );
        assert!(!error.contains("[0-9]+"), "{error}");
    }

    #[test]
    /// Partition and region must agree, in the ARN and in spec.region.
    fn partition_and_region_agree() {
        for (spec, words) in [
            (
                serde_json::json!({"contactChannelId": "arn:aws:ssm-contacts:cn-north-1:111122223333:contact-channel/a/b"}),
                "arn:aws ARN cannot name",
            ),
            (
                serde_json::json!({"contactChannelId": "arn:aws-cn:ssm-contacts:us-east-1:111122223333:contact-channel/a/b"}),
                "arn:aws-cn ARN names a cn-*",
            ),
            (
                serde_json::json!({"contactChannelId": "arn:aws-us-gov:ssm-contacts:eu-west-1:111122223333:contact-channel/a/b"}),
                "arn:aws-us-gov ARN names",
            ),
            (
                serde_json::json!({"contactChannelId": GOOD, "region": "cn-north-1"}),
                "region must belong to the ARN's partition",
            ),
            (
                serde_json::json!({"contactChannelId": "arn:aws-us-gov:ssm-contacts::111122223333:contact-channel/a/b", "region": "us-east-1"}),
                "region must belong",
            ),
        ] {
            let error = check(spec.clone()).expect_err(&spec.to_string());
            assert!(error.contains(words), "{spec}: {error}");
        }
    }

    #[test]
    /// The ARN's region part, when present, must look like a region.
    fn arn_region_part_looks_like_a_region() {
        let error = check(serde_json::json!({"contactChannelId": "arn:aws:ssm-contacts:us_east_1:111122223333:contact-channel/a/b"}))
            .unwrap_err();
        assert!(
            error.contains("region part must be empty or look like a region"),
            "{error}"
        );
        assert_eq!(
            check(
                serde_json::json!({"contactChannelId": "arn:aws:ssm-contacts::111122223333:contact-channel/a/b"})
            ),
            Ok(())
        );
    }
}
