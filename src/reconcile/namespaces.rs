//! The allowed-accounts annotation of every watched Namespace, as the Namespace watch last
//! delivered it: a change takes effect at the next decision, with no restart.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;

use crate::rules::tenancy::ALLOWED_ACCOUNTS_ANNOTATION;

/// What is known of a namespace's annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The Namespace has not been seen yet: nothing may be decided about its objects.
    Unknown,
    /// The annotation's value, if the Namespace has one.
    Known(Option<String>),
}

pub struct NamespaceAnnotations {
    annotations: RwLock<HashMap<String, Option<String>>>,
    /// Namespace watches still to complete their first listing.
    unsynced: AtomicUsize,
}

impl NamespaceAnnotations {
    /// `watches` is the number of Namespace watches that feed this map.
    pub fn new(watches: usize) -> Self {
        Self {
            annotations: RwLock::new(HashMap::new()),
            unsynced: AtomicUsize::new(watches),
        }
    }

    /// Takes in a Namespace from the watch; true when its annotation changed, so that its
    /// objects are decided again.
    pub fn observe(&self, namespace: &PartialObjectMeta<Namespace>) -> bool {
        let Some(name) = namespace.metadata.name.clone() else {
            return false;
        };
        let value = namespace
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ALLOWED_ACCOUNTS_ANNOTATION))
            .cloned();
        let mut annotations = self
            .annotations
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        annotations.insert(name, value.clone()) != Some(value)
    }

    pub fn forget(&self, name: &str) {
        self.annotations
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }

    /// One Namespace watch has listed everything once.
    pub fn watch_synced(&self) {
        let _ = self
            .unsynced
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn lookup(&self, namespace: &str) -> Lookup {
        let annotations = self
            .annotations
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match annotations.get(namespace) {
            Some(value) => Lookup::Known(value.clone()),
            None => Lookup::Unknown,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.unsynced.load(Ordering::SeqCst) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn namespace(name: &str, annotation: Option<&str>) -> PartialObjectMeta<Namespace> {
        let mut meta = PartialObjectMeta::<Namespace>::default();
        meta.metadata.name = Some(name.into());
        meta.metadata.annotations = annotation.map(|value| {
            BTreeMap::from([(ALLOWED_ACCOUNTS_ANNOTATION.to_owned(), value.to_owned())])
        });
        meta
    }

    #[test]
    /// Only a change of the annotation asks for new decisions.
    fn changes_are_noticed() {
        let map = NamespaceAnnotations::new(1);
        assert_eq!(map.lookup("team"), Lookup::Unknown);
        assert!(map.observe(&namespace("team", None)));
        assert!(!map.observe(&namespace("team", None)));
        assert_eq!(map.lookup("team"), Lookup::Known(None));
        assert!(map.observe(&namespace("team", Some("111122223333"))));
        assert_eq!(
            map.lookup("team"),
            Lookup::Known(Some("111122223333".into()))
        );
        map.forget("team");
        assert_eq!(map.lookup("team"), Lookup::Unknown);
    }

    #[test]
    /// Synced once every watch has listed.
    fn synced_after_every_watch() {
        let map = NamespaceAnnotations::new(2);
        map.watch_synced();
        assert!(!map.is_synced());
        map.watch_synced();
        map.watch_synced();
        assert!(map.is_synced());
    }
}
