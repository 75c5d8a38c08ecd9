//! Objects the operator cannot deserialize (e.g. stored under an older schema). They must not
//! break the watch for everyone else (kube's `DeserializeGuard` keeps them apart), and they get
//! a clear status reason and Event instead of silence: `InvalidSpec`, Stalled, no AWS call.
//! The report is a PUT of the status subresource on the object as read, like every other
//! status write: conditional on its resourceVersion, and needing no `patch` permission.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::error_boundary::InvalidObject;
use kube::{Client, Resource};

use crate::api::conditions::{self, Summary};
use crate::api::reason::Reason;
use crate::api::resource::ContactChannelActivation;
use crate::reconcile::events::{self, Recorder};
use crate::reconcile::inventory::Inventory;
use crate::reconcile::status::{FIELD_MANAGER, StatusError, within};
use crate::rules::note::{Call, EventType, Note};

/// Reports kept; beyond it the oldest knowledge is dropped (a report is then merely repeated).
const CAPACITY: usize = 100_000;

/// (uid, generation) pairs already reported, so that a report is written once, not on every
/// watch event its own status write causes.
#[derive(Default)]
pub struct Reported(Mutex<HashSet<(String, i64)>>);

impl Reported {
    fn set(&self) -> MutexGuard<'_, HashSet<(String, i64)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        self.set().retain(|(reported, _)| reported != uid);
    }

    fn insert(&self, key: (String, i64)) {
        let mut set = self.set();
        if set.len() >= CAPACITY {
            set.clear();
        }
        set.insert(key);
    }
}

/// The status of an unreadable object (as `{"status": ...}`), keeping the lastTransitionTime of
/// conditions whose status does not change (a restart must not make an old problem look new).
pub fn status_patch(
    generation: i64,
    error: &str,
    previous: &[Condition],
    now: Timestamp,
) -> serde_json::Value {
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
            "conditions": conditions::conditions(previous, &summary, now),
        }
    })
}

/// The conditions the object has now, read leniently: the object is unreadable as a whole,
/// its conditions may still be fine.
fn current_conditions(object: &DynamicObject) -> Vec<Condition> {
    object
        .data
        .pointer("/status/conditions")
        .and_then(|list| list.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|c| serde_json::from_value(c.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Where a report goes: the API server (within `api_timeout`), Events, and the inventory.
pub struct Reporting<'a> {
    pub client: &'a Client,
    pub api_timeout: Duration,
    pub recorder: &'a Recorder,
    pub inventory: &'a Inventory,
}

/// Reports an unreadable object once per generation: status, a Warning Event, the inventory.
pub async fn report(
    reported: &Reported,
    to: Reporting<'_>,
    invalid: &InvalidObject,
) -> Result<(), StatusError> {
    let meta = &invalid.metadata;
    let (Some(namespace), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid) else {
        return Ok(());
    };
    let generation = meta.generation.unwrap_or_default();
    let key = (uid.clone(), generation);
    if reported.set().contains(&key) {
        return Ok(());
    }
    tracing::warn!(object = %name, %namespace, error = %invalid.error, "object cannot be read");
    let resource = ApiResource::erase::<ContactChannelActivation>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(to.client.clone(), namespace, &resource);
    let mut object = within(to.api_timeout, api.get(name)).await?;
    let previous = current_conditions(&object);
    let patch = status_patch(generation, &invalid.error, &previous, Timestamp::now());
    let unchanged = object.data.pointer("/status/observedGeneration")
        == Some(&serde_json::json!(generation))
        && object.data.pointer("/status/conditions") == patch.pointer("/status/conditions");
    if !unchanged {
        // Only the two fields this report owns change; whatever else the status holds (the
        // value that made the object unreadable, for a person to see) stays as it is.
        let mut status = object
            .data
            .get_mut("status")
            .filter(|s| s.is_object())
            .map(std::mem::take)
            .unwrap_or_else(|| serde_json::json!({}));
        status["observedGeneration"] = patch["status"]["observedGeneration"].clone();
        status["conditions"] = patch["status"]["conditions"].clone();
        object.data["status"] = status;
        object.metadata.managed_fields = None;
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        within(to.api_timeout, api.replace_status(name, &params, &object)).await?;
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
            call: Call::ReadObject,
            message: format!(
                "the object cannot be read by the operator: {}",
                invalid.error
            ),
        };
        events::publish_to(to.recorder, &reference, &note).await;
    }
    reported.insert(key);
    to.inventory.set(uid, Reason::InvalidSpec);
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
        let patch = status_patch(3, "bad field", &[], Timestamp::UNIX_EPOCH);
        assert_eq!(patch["status"]["observedGeneration"], 3);
        let conditions = patch["status"]["conditions"].as_array().unwrap();
        let stalled = conditions.iter().find(|c| c["type"] == "Stalled").unwrap();
        assert_eq!(
            (stalled["status"].as_str(), stalled["reason"].as_str()),
            (Some("True"), Some("InvalidSpec"))
        );
        assert!(stalled["message"].as_str().unwrap().contains("bad field"));
    }

    #[test]
    /// Reporting again (after a restart) keeps the time the problem was first reported.
    fn report_keeps_transition_times() {
        let first = status_patch(3, "bad field", &[], Timestamp::UNIX_EPOCH);
        let previous: Vec<Condition> =
            serde_json::from_value(first["status"]["conditions"].clone()).unwrap();
        let later = Timestamp::from_second(1_000_000).unwrap();
        let again = status_patch(3, "bad field", &previous, later);
        assert_eq!(first, again);
    }
}
