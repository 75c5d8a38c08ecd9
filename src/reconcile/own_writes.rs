//! Reading our own status writes. The watch cache lags behind a status this operator has just
//! written, by a few milliseconds or more; a reconcile woken in between (its turn in the send
//! line came at once) would start from the older copy, write against a resourceVersion that
//! is gone, and lose a round trip and an error backoff to the conflict. Each object's latest
//! own write is kept until the watch shows it, and stands in for the copies it replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kube::ResourceExt;

use crate::api::resource::ContactChannelActivation;

/// How many superseded resourceVersions one object keeps (a chain of quick writes).
const MAX_SUPERSEDED: usize = 8;

struct Latest {
    /// The resourceVersions our writes replaced since the watch last caught up.
    superseded: Vec<String>,
    written: Arc<ContactChannelActivation>,
}

#[derive(Default)]
pub struct OwnWrites {
    latest: Mutex<HashMap<String, Latest>>,
}

impl OwnWrites {
    fn latest(&self) -> MutexGuard<'_, HashMap<String, Latest>> {
        self.latest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `written` is the answer to a status write made from `from`.
    pub fn wrote(&self, from: &ContactChannelActivation, written: &ContactChannelActivation) {
        let (Some(uid), Some(replaced)) = (written.uid(), from.resource_version()) else {
            return;
        };
        let mut latest = self.latest();
        let mut superseded = match latest.remove(&uid) {
            Some(chain) if chain.written.resource_version().as_ref() == Some(&replaced) => {
                chain.superseded
            }
            _ => Vec::new(),
        };
        if superseded.len() >= MAX_SUPERSEDED {
            superseded.remove(0);
        }
        superseded.push(replaced);
        latest.insert(
            uid,
            Latest {
                superseded,
                written: Arc::new(written.clone()),
            },
        );
    }

    /// The copy to reconcile: our own later write when `seen` is one it replaced, else
    /// `seen` itself (the watch caught up, or someone else wrote since).
    pub fn freshest(
        &self,
        seen: &ContactChannelActivation,
    ) -> Option<Arc<ContactChannelActivation>> {
        let (uid, version) = (seen.uid()?, seen.resource_version()?);
        let mut latest = self.latest();
        let chain = latest.get(&uid)?;
        if chain.superseded.contains(&version) {
            return Some(chain.written.clone());
        }
        latest.remove(&uid);
        None
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        self.latest().remove(uid);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.latest().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resource::ContactChannelActivationSpec;

    fn at(version: &str) -> ContactChannelActivation {
        let mut object =
            ContactChannelActivation::new("pager", ContactChannelActivationSpec::default());
        object.metadata.uid = Some("uid-1".into());
        object.metadata.resource_version = Some(version.into());
        object
    }

    fn version(object: Option<Arc<ContactChannelActivation>>) -> Option<String> {
        object.and_then(|o| o.resource_version())
    }

    #[test]
    /// A lagging copy is replaced by our write, through a chain of writes, until the watch
    /// catches up; another writer's copy is taken as it is.
    fn own_writes_stand_in_for_the_copies_they_replaced() {
        let own = OwnWrites::default();
        own.wrote(&at("1"), &at("2"));
        assert_eq!(version(own.freshest(&at("1"))), Some("2".into()));
        own.wrote(&at("2"), &at("3"));
        assert_eq!(version(own.freshest(&at("1"))), Some("3".into()));
        assert_eq!(version(own.freshest(&at("2"))), Some("3".into()));
        assert_eq!(version(own.freshest(&at("3"))), None, "caught up");
        assert_eq!(own.len(), 0);

        own.wrote(&at("3"), &at("4"));
        assert_eq!(version(own.freshest(&at("7"))), None, "someone else wrote");
        assert_eq!(own.len(), 0);

        own.wrote(&at("7"), &at("8"));
        own.forget("uid-1");
        assert_eq!(version(own.freshest(&at("7"))), None);
    }
}
