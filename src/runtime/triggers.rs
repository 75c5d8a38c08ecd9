//! What wakes which object besides its own changes: a labelled code Secret wakes the objects
//! that reference it, and a change of a Namespace's allowed-accounts annotation wakes the
//! objects in that Namespace, and the send line wakes the object whose turn has come.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};

use tokio::sync::broadcast;

use crate::api::resource::ContactChannelActivation;
use crate::pacing::line::Wake;
use crate::reconcile::context::Context;

/// The objects in the Secret's namespace whose spec.activationCodeSecretRef names it.
pub fn objects_using(
    store: &reflector::Store<DeserializeGuard<ContactChannelActivation>>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<DeserializeGuard<ContactChannelActivation>>> {
    let (Some(name), Some(namespace)) = (&secret.metadata.name, &secret.metadata.namespace) else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter_map(|guard| guard.0.as_ref().ok())
        .filter(|object| {
            object.namespace().as_ref() == Some(namespace)
                && object
                    .spec
                    .activation_code_secret_ref
                    .as_ref()
                    .is_some_and(|r| &r.name == name)
        })
        .map(|object| ObjectRef::new(&object.name_any()).within(namespace))
        .collect()
}

/// The Namespaces of one scope, metadata only, kept in [`Context::namespaces`]; yields a
/// Namespace only when its allowed-accounts annotation changed, so that its objects are
/// decided again at once.
pub fn namespace_changes(
    ctx: Arc<Context>,
    selector: watcher::Config,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<Namespace>, watcher::Error>> + Send + 'static
{
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(ctx.client.clone());
    watcher(api, selector)
        .default_backoff()
        .filter_map(move |event| {
            let changed = match event {
                Ok(watcher::Event::Apply(namespace) | watcher::Event::InitApply(namespace)) => {
                    ctx.namespaces.observe(&namespace).then_some(Ok(namespace))
                }
                Ok(watcher::Event::Delete(namespace)) => {
                    ctx.namespaces.forget(&namespace.name_any());
                    None
                }
                Ok(watcher::Event::InitDone) => {
                    ctx.namespaces.watch_synced();
                    None
                }
                Ok(watcher::Event::Init) => None,
                Err(error) => Some(Err(error)),
            };
            futures::future::ready(changed)
        })
}

/// The objects in `namespace`.
pub fn objects_in(
    store: &reflector::Store<DeserializeGuard<ContactChannelActivation>>,
    namespace: &PartialObjectMeta<Namespace>,
) -> Vec<ObjectRef<DeserializeGuard<ContactChannelActivation>>> {
    let name = namespace.name_any();
    store
        .state()
        .iter()
        .filter_map(|guard| guard.0.as_ref().ok())
        .filter(|object| object.namespace().as_deref() == Some(name.as_str()))
        .map(|object| ObjectRef::new(&object.name_any()).within(&name))
        .collect()
}

/// The objects granted their turn by the send line, those of one namespace or all of them.
pub fn granted_turns(
    ctx: &Context,
    namespace: Option<String>,
) -> impl futures::Stream<Item = Wake> + Send + 'static {
    futures::stream::unfold(ctx.lines.wakes(), |mut wakes| async move {
        loop {
            match wakes.recv().await {
                Ok(wake) => return Some((wake, wakes)),
                // A lost wake-up only delays that object to its fallback requeue.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .filter(move |wake| {
        std::future::ready(
            namespace
                .as_ref()
                .is_none_or(|ns| wake.namespace.as_ref() == Some(ns)),
        )
    })
}
