//! Objects the operator cannot deserialize (e.g. stored under an older schema). They must not
//! break the watch for everyone else (kube's `DeserializeGuard` keeps them apart), and they get
//! a clear status reason and Event instead of silence: `InvalidSpec`, Stalled, no AWS call.

use std::collections::HashSet;
use std::sync::Mutex;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::core::error_boundary::InvalidObject;
use kube::runtime::events::Recorder;

use crate::conditions::{self, Summary};
use crate::decide::{EventType, Note};
use crate::outcome::Reason;
use crate::resource::ContactChannelActivation;
use crate::status::{FIELD_MANAGER, StatusError};
use crate::telemetry;

/// (uid, generation) pairs already reported, so that a report is written once, not on every
/// watch event its own status write causes.
#[derive(Default)]
pub struct Reported(Mutex<HashSet<(String, i64)>>);

/// The status merge patch for an unreadable object.
pub fn status_patch(generation: i64, error: &str, now: Timestamp) -> serde_json::Value {
    let summary = Summary {
        generation,
        reason: Reason::InvalidSpec,
        message: format!("the object cannot be read by the operator: {error}"),
        reconciling: false,
        stalled: true,
    };
    serde_json::json!({
        "status": {
            "observedGeneration": generation,
            "conditions": conditions::conditions(&[], &summary, now),
        }
    })
}

pub async fn report(
    client: &kube::Client,
    recorder: &Recorder,
    reported: &Reported,
    invalid: &InvalidObject,
) -> Result<(), StatusError> {
    let meta = &invalid.metadata;
    let (Some(namespace), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid) else {
        return Ok(());
    };
    let generation = meta.generation.unwrap_or_default();
    let key = (uid.clone(), generation);
    if reported
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    tracing::warn!(object = %name, %namespace, error = %invalid.error, "object cannot be read");
    let api: Api<ContactChannelActivation> = Api::namespaced(client.clone(), namespace);
    let patch = status_patch(generation, &invalid.error, Timestamp::now());
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).validation_strict(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(StatusError::Api)?;
    let reference = ObjectReference {
        api_version: Some(ContactChannelActivation::api_version(&()).into_owned()),
        kind: Some(ContactChannelActivation::kind(&()).into_owned()),
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        uid: Some(uid.to_string()),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    };
    let note = Note {
        type_: EventType::Warning,
        reason: Reason::InvalidSpec,
        message: format!(
            "the object cannot be read by the operator: {}",
            invalid.error
        ),
    };
    telemetry::publish_to(recorder, &reference, &note).await;
    reported
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::DeserializeGuard;

    #[test]
    /// An object whose spec does not fit the type still yields its identity, not an error
    /// that would stop the watch.
    fn unreadable_object_keeps_its_identity() {
        let raw = serde_json::json!({
            "apiVersion": "ssmcontacts.oncall.dev/v1alpha1",
            "kind": "ContactChannelActivation",
            "metadata": {"name": "old", "namespace": "team", "uid": "u1", "generation": 3},
            "spec": {"contactChannelId": 42}
        });
        let guard: DeserializeGuard<ContactChannelActivation> =
            serde_json::from_value(raw).unwrap();
        let invalid = guard.0.unwrap_err();
        assert_eq!(invalid.metadata.name.as_deref(), Some("old"));
        assert!(
            invalid.error.to_lowercase().contains("invalid type"),
            "{}",
            invalid.error
        );
    }

    #[test]
    /// The report is InvalidSpec and Stalled, for the object's generation.
    fn patch_says_invalid_spec() {
        let patch = status_patch(3, "bad field", Timestamp::UNIX_EPOCH);
        assert_eq!(patch["status"]["observedGeneration"], 3);
        let conditions = patch["status"]["conditions"].as_array().unwrap();
        let stalled = conditions.iter().find(|c| c["type"] == "Stalled").unwrap();
        assert_eq!(
            (stalled["status"].as_str(), stalled["reason"].as_str()),
            (Some("True"), Some("InvalidSpec"))
        );
        assert!(stalled["message"].as_str().unwrap().contains("bad field"));
    }
}
