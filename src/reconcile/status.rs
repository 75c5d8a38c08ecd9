//! Status writes through the status subresource, conditional on the resourceVersion that the
//! decision was made from: a write fails with a conflict, instead of overwriting, when the
//! object changed underneath (another replica, a stale cache, a spec edit). Every call has a
//! deadline. No decisions here: callers say what to write.

use std::future::Future;
use std::time::Duration;

use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use crate::api::resource::{ContactChannelActivation, ContactChannelActivationStatus};

pub const FIELD_MANAGER: &str = "ssm-contacts-operator";

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("the object changed since it was read (resourceVersion conflict)")]
    Conflict,
    #[error("the object is gone")]
    Gone,
    #[error(
        "another writer replaced the in-flight call of this process; its outcome is not recorded"
    )]
    Superseded,
    #[error("the API server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Kubernetes API call failed: {0}")]
    Api(#[source] kube::Error),
}

impl StatusError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Gone => "gone",
            Self::Superseded => "superseded",
            Self::Timeout(_) => "timeout",
            Self::Api(_) => "api_error",
        }
    }
}

fn classify(error: kube::Error) -> StatusError {
    match &error {
        kube::Error::Api(status) if status.code == 409 => StatusError::Conflict,
        kube::Error::Api(status) if status.code == 404 => StatusError::Gone,
        _ => StatusError::Api(error),
    }
}

/// Runs one API call under `timeout`: a half-open connection must not hold a reconcile (and
/// with it the object) forever.
pub async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, StatusError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(classify),
        Err(_) => Err(StatusError::Timeout(timeout)),
    }
}

/// Writes the status of the object `from`, failing on a conflict if `from` is not current.
pub async fn write(
    api: &Api<ContactChannelActivation>,
    from: &ContactChannelActivation,
    status: ContactChannelActivationStatus,
    timeout: Duration,
) -> Result<ContactChannelActivation, StatusError> {
    let mut object = ContactChannelActivation {
        metadata: from.metadata.clone(),
        spec: from.spec.clone(),
        status: Some(status),
    };
    // managedFields would be re-sent and rejected by nothing, but they only cost bytes.
    object.meta_mut().managed_fields = None;
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    };
    within(
        timeout,
        api.replace_status(&from.name_any(), &params, &object),
    )
    .await
}

/// Reads the object afresh from the API server (not the watch cache).
pub async fn get(
    api: &Api<ContactChannelActivation>,
    name: &str,
    timeout: Duration,
) -> Result<ContactChannelActivation, StatusError> {
    within(timeout, api.get(name)).await
}
