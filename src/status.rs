//! Status writes through the status subresource, conditional on the resourceVersion that the
//! decision was made from: a write fails with a conflict, instead of overwriting, when the
//! object changed underneath (another replica, a stale cache, a spec edit).

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use crate::decide::{self, Note, Settings};
use crate::outcome::SendOutcome;
use crate::resource::{ContactChannelActivation, ContactChannelActivationStatus, SendInFlight};

pub const FIELD_MANAGER: &str = "ssm-contacts-operator";

/// How often an outcome write is retried on conflicts before it is left to memory.
const OUTCOME_WRITE_TRIES: usize = 5;

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
    #[error("status write failed: {0}")]
    Api(#[source] kube::Error),
}

impl StatusError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Gone => "gone",
            Self::Superseded => "superseded",
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
    match tokio::time::timeout(
        timeout,
        api.replace_status(&from.name_any(), &params, &object),
    )
    .await
    {
        Ok(result) => result.map_err(classify),
        Err(_) => Err(StatusError::Api(kube::Error::Service(Box::new(
            std::io::Error::new(std::io::ErrorKind::TimedOut, "status write timed out"),
        )))),
    }
}

/// Records the outcome of the call that `flight` announced. On a conflict the object is read
/// again, and the outcome applied to the fresh status, as long as the fresh status still
/// carries this very in-flight call (so a spec edit during the call loses nothing).
pub async fn record_outcome(
    api: &Api<ContactChannelActivation>,
    after_intent: ContactChannelActivation,
    flight: &SendInFlight,
    outcome: &SendOutcome,
    settings: &Settings,
    timeout: Duration,
    jitter: f64,
) -> Result<(ContactChannelActivation, Option<Duration>, Note), StatusError> {
    let mut current = after_intent;
    let mut last_error = StatusError::Conflict;
    for _ in 0..OUTCOME_WRITE_TRIES {
        let status = current.status_or_default();
        if !status
            .send_in_flight
            .as_ref()
            .is_some_and(|f| f.same_call(flight))
        {
            return Err(StatusError::Superseded);
        }
        let (next, requeue, note) =
            decide::record_outcome(&status, outcome, settings, Timestamp::now(), jitter);
        match write(api, &current, next, timeout).await {
            Ok(written) => return Ok((written, requeue, note)),
            Err(StatusError::Conflict) => {
                last_error = StatusError::Conflict;
                current = match api.get(&current.name_any()).await {
                    Ok(fresh) => fresh,
                    Err(error) => return Err(classify(error)),
                };
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error)
}
