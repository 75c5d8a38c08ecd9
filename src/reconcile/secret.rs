//! The activation code Secret. It is read with a GET when a decision needs it, never cached
//! with its data, and the code lives only in [`ActivationCode`], which cannot be printed:
//! it reaches AWS and nothing else (no log at any level, status, Event, metric or error).

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::api::resource::CodeSecretRef;
use crate::aws::code::ActivationCode;
use crate::reconcile::status::{StatusError, within};
use crate::rules::activation::{CodeSecret, well_formed};

/// Why an object's code Secret is not read when the operator runs with `--code-secrets=false`.
pub const TURNED_OFF: &str = "this operator does not read Secrets (--code-secrets=false; chart value activation.secrets.enabled=false): enter the code in the AWS console or CLI";

/// Reads the referenced Secret: what a decision may know of it, and the code when it is
/// well formed. Its labels are read first, alone: only a Secret labelled [`CODE_SECRET_LABEL`]
/// is read whole, so that an object cannot make the operator read any other Secret of its
/// namespace (and tell, through its status, what that Secret holds).
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    reference: &CodeSecretRef,
    timeout: Duration,
) -> Result<(CodeSecret, Option<ActivationCode>), StatusError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let labelled = match within(timeout, api.get_metadata(&reference.name)).await {
        Ok(meta) => is_labelled(meta.metadata.labels.as_ref()),
        // Not there yet: the person has not typed the code in. That is the normal wait.
        Err(StatusError::Gone) => return Ok((CodeSecret::Missing, None)),
        Err(error) => return Err(error),
    };
    if !labelled {
        let why = format!(
            "Secret {:?} (spec.activationCodeSecretRef) lacks the label {CODE_SECRET_LABEL}; the operator reads only Secrets so labelled (its data was not read)",
            reference.name
        );
        return Ok((CodeSecret::Invalid(why), None));
    }
    let secret = match within(timeout, api.get(&reference.name)).await {
        Ok(secret) => secret,
        Err(StatusError::Gone) => return Ok((CodeSecret::Missing, None)),
        Err(error) => return Err(error),
    };
    // Labels may have changed between the two reads.
    if !is_labelled(secret.metadata.labels.as_ref()) {
        return Ok((CodeSecret::Missing, None));
    }
    Ok(inspect(&secret, reference))
}

/// The label a Secret needs for the operator to read it (any value).
pub const CODE_SECRET_LABEL: &str = "ssmcontacts.oncall.dev/activation-code";

fn is_labelled(labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    labels.is_some_and(|labels| labels.contains_key(CODE_SECRET_LABEL))
}

/// The pure half of [`read`].
pub fn inspect(secret: &Secret, reference: &CodeSecretRef) -> (CodeSecret, Option<ActivationCode>) {
    let value = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .map(|bytes| String::from_utf8_lossy(&bytes.0).trim().to_owned())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(&reference.key))
                .map(|text| text.trim().to_owned())
        });
    let Some(code) = value else {
        let why = format!(
            "Secret {:?} has no key {:?} (spec.activationCodeSecretRef)",
            reference.name, reference.key
        );
        return (CodeSecret::Invalid(why), None);
    };
    if !well_formed(&code) {
        // Say what is wrong with the value, never what it is.
        let why = format!(
            "the value of key {:?} in Secret {:?} is not an activation code (6 to 10 digits)",
            reference.key, reference.name
        );
        return (CodeSecret::Invalid(why), None);
    }
    let version = format!(
        "{}/{}",
        secret.metadata.uid.as_deref().unwrap_or_default(),
        secret
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    );
    (
        CodeSecret::Ready { version },
        Some(ActivationCode::new(code)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(value: Option<&str>) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some("code".into());
        secret.metadata.uid = Some("u1".into());
        secret.metadata.resource_version = Some("7".into());
        if let Some(value) = value {
            secret.data = Some([("code".to_owned(), ByteString(value.as_bytes().to_vec()))].into());
        }
        secret
    }

    fn reference() -> CodeSecretRef {
        CodeSecretRef {
            name: "code".into(),
            key: "code".into(),
        }
    }

    #[test]
    /// A well-formed code is known to decisions by version only, and prints as redacted.
    fn good_code_is_ready_and_redacted() {
        let (state, code) = inspect(&secret(Some("123456\n")), &reference());
        assert_eq!(
            state,
            CodeSecret::Ready {
                version: "u1/7".into()
            }
        );
        let code = code.unwrap();
        assert_eq!(code.expose(), "123456");
        assert!(!format!("{code:?}").contains("123456"));
    }

    #[test]
    /// A missing key or a malformed value is CodeSecretInvalid, and the message never
    /// carries the value.
    fn bad_values_are_invalid_without_echo() {
        for value in [None, Some("12345"), Some("12345678901"), Some("98x765")] {
            let (state, code) = inspect(&secret(value), &reference());
            assert!(code.is_none());
            let CodeSecret::Invalid(why) = state else {
                panic!("{value:?} accepted")
            };
            if let Some(value) = value {
                assert!(!why.contains(value), "{why}");
            }
        }
    }
}
