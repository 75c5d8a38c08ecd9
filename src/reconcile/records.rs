//! Channel records: each channel's recent sends, kept in a ConfigMap of the operator's own
//! namespace, so that a channel's limits outlive the objects that named it (delete and
//! re-apply, a rename, another namespace), restarts, failover and shards. One write per code
//! that may have gone out; a record keeps only the calls that still count and is deleted once
//! none does.
//!
//! The pure half (what a record says, what it becomes) is apart from the I/O: the watch that
//! feeds [`Channels`], the write after a call, and the sweep of stale records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::api::resource::MAX_RECENT_SENDS;
use crate::reconcile::channels::Channels;
use crate::reconcile::status::{StatusError, within};
use crate::rules::cooldown;

/// The label every channel record carries; the watch selects on it.
pub const RECORD_LABEL: &str = "ssmcontacts.oncall.dev/channel-sends";
/// The annotation naming the channel (its key: partition, account, resource) in full.
pub const CHANNEL_ANNOTATION: &str = "ssmcontacts.oncall.dev/channel";
/// The data key holding the calls, as JSON.
const CALLS_KEY: &str = "calls";
/// Tries of one write against conflicts with another writer (a shard, the next leader).
const WRITE_TRIES: usize = 5;
/// How long a conflicting write waits for the watch to bring the newer record.
const CONFLICT_PAUSE: Duration = Duration::from_millis(200);
/// How often stale records are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The source name under which [`Channels`] waits for the records to be read.
pub const SOURCE: &str = "channel records";

/// One call in a record: which object made it, and when it started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    pub uid: String,
    pub time: Timestamp,
}

/// The ConfigMap name of a channel's record: a digest of its key, since keys run to 2,048
/// characters and hold characters that names may not.
pub fn record_name(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("ssmc-sends-{}", hex::encode(&digest[..12]))
}

/// The channel key and the calls of a record, or `None` for a ConfigMap that is not one
/// (hand-edited, truncated): it is then ignored, never a reason to stop sending.
pub fn read(record: &ConfigMap) -> Option<(String, Vec<RecordedCall>)> {
    let key = record
        .metadata
        .annotations
        .as_ref()?
        .get(CHANNEL_ANNOTATION)?;
    let calls = record.data.as_ref()?.get(CALLS_KEY)?;
    let calls: Vec<RecordedCall> = serde_json::from_str(calls).ok()?;
    Some((key.clone(), calls))
}

/// The calls a record keeps after `call` is added: those that still count at `now`, each
/// once, the newest [`MAX_RECENT_SENDS`] (no hourly cap can be higher).
pub fn merged(
    mut calls: Vec<RecordedCall>,
    call: RecordedCall,
    now: Timestamp,
    memory: Duration,
) -> Vec<RecordedCall> {
    let second = call.time.as_second();
    if !calls
        .iter()
        .any(|c| c.uid == call.uid && c.time.as_second() == second)
    {
        calls.push(call);
    }
    calls.retain(|c| cooldown::counts(c.time, now, memory));
    calls.sort_by_key(|c| c.time);
    let excess = calls.len().saturating_sub(MAX_RECENT_SENDS);
    calls.drain(..excess);
    calls
}

/// Whether no call of the record counts any more: it can go.
pub fn is_stale(calls: &[RecordedCall], now: Timestamp, memory: Duration) -> bool {
    !calls.iter().any(|c| cooldown::counts(c.time, now, memory))
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("the calls could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Api(#[from] StatusError),
}

fn record(key: &str, calls: &[RecordedCall], meta: ObjectMeta) -> Result<ConfigMap, RecordError> {
    let calls = serde_json::to_string(calls)?;
    let mut meta = meta;
    meta.name = Some(record_name(key));
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(RECORD_LABEL.to_owned(), "v1".to_owned());
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(CHANNEL_ANNOTATION.to_owned(), key.to_owned());
    Ok(ConfigMap {
        metadata: meta,
        data: Some([(CALLS_KEY.to_owned(), calls)].into()),
        ..ConfigMap::default()
    })
}

/// The records of the operator's namespace: the latest copy the watch brought of each, and
/// the API to write them.
#[derive(Clone)]
pub struct Records {
    api: Api<ConfigMap>,
    namespace: String,
    seen: Arc<Mutex<HashMap<String, ConfigMap>>>,
    memory: Duration,
    api_timeout: Duration,
}

impl Records {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        memory: Duration,
        api_timeout: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            seen: Arc::default(),
            memory,
            api_timeout,
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConfigMap>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the records until the stream ends: each record's calls go to `channels`, which
    /// waits for this watch to list them once. Errors go to `on_error` (counted and logged
    /// like every watch's).
    pub async fn watch(&self, channels: &Channels, on_error: impl Fn(&watcher::Error)) {
        let stream = watcher(
            self.api.clone(),
            watcher::Config::default().labels(RECORD_LABEL),
        )
        .default_backoff();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(record) | watcher::Event::InitApply(record)) => {
                    if let Some((key, calls)) = read(&record) {
                        let calls: Vec<(String, Timestamp)> =
                            calls.into_iter().map(|c| (c.uid, c.time)).collect();
                        channels.observe_record(&key, &calls, Timestamp::now());
                    }
                    if let Some(name) = record.metadata.name.clone() {
                        self.seen().insert(name, record);
                    }
                }
                Ok(watcher::Event::Delete(record)) => {
                    if let Some(name) = &record.metadata.name {
                        self.seen().remove(name);
                    }
                }
                Ok(watcher::Event::InitDone) => channels.source_done(SOURCE),
                Ok(watcher::Event::Init) => {}
                Err(error) => on_error(&error),
            }
        }
    }

    /// Adds a call that may have sent a code to its channel's record: one write, more only
    /// when another writer got there first.
    pub async fn add(&self, key: &str, call: RecordedCall) {
        let name = record_name(key);
        let mut result = Ok(());
        for _ in 0..WRITE_TRIES {
            result = self.write(key, &name, call.clone()).await;
            match &result {
                // Another writer was first (409 on create or on replace): the watch brings its
                // record in a moment, and this call is added to it.
                Err(RecordError::Api(StatusError::Conflict)) => {
                    tokio::time::sleep(CONFLICT_PAUSE).await;
                }
                _ => break,
            }
        }
        if let Err(error) = result {
            warn!(record = %name, namespace = %self.namespace, %error, "could not add a send to the channel's record; the objects' statuses still count it");
        }
    }

    /// One write of the record with `call` added, to the copy the watch last brought (a
    /// create when there is none).
    async fn write(&self, key: &str, name: &str, call: RecordedCall) -> Result<(), RecordError> {
        let now = Timestamp::now();
        let known = self.seen().get(name).cloned();
        let params = PostParams::default();
        let written = match known {
            None => {
                let calls = merged(Vec::new(), call, now, self.memory);
                let new = record(key, &calls, ObjectMeta::default())?;
                within(self.api_timeout, self.api.create(&params, &new)).await?
            }
            Some(existing) => {
                let calls = read(&existing).map(|(_, calls)| calls).unwrap_or_default();
                let calls = merged(calls, call, now, self.memory);
                let updated = record(key, &calls, existing.metadata)?;
                within(self.api_timeout, self.api.replace(name, &params, &updated)).await?
            }
        };
        self.seen().insert(name.to_owned(), written);
        Ok(())
    }

    /// Deletes the records none of whose calls count any more (each only as the watch last
    /// saw it: a record written since is left alone).
    pub async fn sweep(&self) {
        let now = Timestamp::now();
        let stale: Vec<(String, Option<String>)> = self
            .seen()
            .iter()
            .filter(|(_, record)| {
                read(record).is_none_or(|(_, calls)| is_stale(&calls, now, self.memory))
            })
            .map(|(name, record)| (name.clone(), record.metadata.resource_version.clone()))
            .collect();
        for (name, version) in stale {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: version,
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            match within(self.api_timeout, self.api.delete(&name, &params)).await {
                Ok(_) => info!(record = %name, "deleted a stale channel record"),
                // Written again since, or already gone: nothing to sweep.
                Err(StatusError::Conflict | StatusError::Gone) => {}
                Err(error) => {
                    warn!(record = %name, namespace = %self.namespace, %error, "could not delete a stale channel record")
                }
            }
        }
    }

    /// Sweeps now and then, forever.
    pub async fn sweep_forever(&self) {
        loop {
            self.sweep().await;
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn call(uid: &str, second: i64) -> RecordedCall {
        RecordedCall {
            uid: uid.into(),
            time: at(second),
        }
    }

    #[test]
    /// Names are valid ConfigMap names, the same for the same key, apart for others.
    fn names_are_stable_and_short() {
        let key = format!("aws:111122223333:contact-channel/{}", "x".repeat(2000));
        let name = record_name(&key);
        assert_eq!(name, record_name(&key));
        assert_ne!(name, record_name("aws:111122223333:contact-channel/a"));
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
    }

    #[test]
    /// A record keeps each call once, drops those that no longer count, and stays bounded.
    fn merged_is_bounded_and_current() {
        let calls = merged(
            vec![call("a", -4000), call("b", -10)],
            call("b", -10),
            at(0),
            HOUR,
        );
        assert_eq!(calls, vec![call("b", -10)]);
        let mut calls = Vec::new();
        for second in 0..200 {
            calls = merged(calls, call("a", second), at(200), HOUR);
        }
        assert_eq!(calls.len(), MAX_RECENT_SENDS);
        assert_eq!(calls.last(), Some(&call("a", 199)));
    }

    #[test]
    /// A record round-trips through its ConfigMap; anything else reads as no record.
    fn reads_what_it_writes() {
        let key = "aws:111122223333:contact-channel/a";
        let written = record(key, &[call("u", 0)], ObjectMeta::default()).unwrap();
        assert_eq!(
            written.metadata.name.as_deref(),
            Some(record_name(key).as_str())
        );
        assert_eq!(read(&written), Some((key.to_owned(), vec![call("u", 0)])));
        let mut broken = written.clone();
        broken.data = Some([(CALLS_KEY.to_owned(), "{".to_owned())].into());
        assert_eq!(read(&broken), None);
        assert_eq!(read(&ConfigMap::default()), None);
    }

    #[test]
    /// A record goes once its last call stops counting.
    fn stale_once_nothing_counts() {
        assert!(is_stale(&[], at(0), HOUR));
        assert!(!is_stale(&[call("a", -10)], at(0), HOUR));
        assert!(is_stale(&[call("a", -3600)], at(0), HOUR));
    }
}
