//! Events on objects, folded into a series when the same one repeats. kube-runtime's recorder
//! does the same, but walks its whole cache on every publish and keeps each Event whole for
//! six minutes: at 10,000 objects that is seconds of CPU and tens of MiB. This one keeps
//! what a repeat needs in 48 bytes a series (a hash of what makes the Event the same, its
//! count, and when it started: the Event's name is the object's name and that instant) and
//! prunes now and then.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Client, Resource};

use crate::api::resource::ContactChannelActivation;
use crate::rules::note::{EventType as NoteType, Note};

/// A repeat within this long of the last extends its series instead of making a new Event.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How often series older than the window are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Series kept at most; beyond, a repeat makes a new Event instead.
const CAPACITY: usize = 50_000;
/// Event names are object names plus a suffix; keep them within the 253-character limit.
const NAME_PREFIX_MAX: usize = 200;

/// What makes two Events the same (the object, the reason, the type, the action), hashed:
/// two series that collide (one chance in 2^64 a pair) only cost a new Event, as the name
/// derived from the other series does not exist for this object.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Key(u64);

impl Key {
    fn new(event: &Event, reference: &ObjectReference) -> Self {
        let mut hasher = DefaultHasher::new();
        (
            &reference.uid,
            &reference.namespace,
            &reference.name,
            &event.reason,
            matches!(event.type_, EventType::Warning),
            &event.action,
        )
            .hash(&mut hasher);
        Self(hasher.finish())
    }
}

#[derive(Debug)]
struct Recent {
    /// When the series' Event was created: its name's suffix.
    started: Timestamp,
    count: i32,
    last: Timestamp,
}

/// The series this process started: pure bookkeeping, driven by explicit times.
#[derive(Debug, Default)]
struct Series {
    recent: HashMap<Key, Recent>,
    pruned_at: Option<Timestamp>,
}

impl Series {
    /// The start of the series to extend, with its count so far, if the same Event was
    /// published recently.
    fn repeat_of(&mut self, key: Key, now: Timestamp) -> Option<(Timestamp, i32)> {
        if self
            .pruned_at
            .is_none_or(|at| now.duration_since(at).unsigned_abs() >= PRUNE_EVERY)
        {
            self.recent
                .retain(|_, recent| within_window(recent.last, now));
            self.pruned_at = Some(now);
        }
        self.recent
            .get(&key)
            .filter(|recent| within_window(recent.last, now))
            .map(|recent| (recent.started, recent.count))
    }

    fn published(&mut self, key: Key, started: Timestamp, count: i32, now: Timestamp) {
        if self.recent.len() < CAPACITY || self.recent.contains_key(&key) {
            self.recent.insert(
                key,
                Recent {
                    started,
                    count,
                    last: now,
                },
            );
        }
    }
}

fn within_window(last: Timestamp, now: Timestamp) -> bool {
    now.duration_since(last).unsigned_abs() < SERIES_WINDOW
}

pub struct Recorder {
    client: Client,
    reporter: Reporter,
    series: Mutex<Series>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            series: Mutex::default(),
        }
    }

    fn series(&self) -> MutexGuard<'_, Series> {
        // A poisoned lock only means another task panicked mid-update; the map stays usable.
        self.series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes `event` about `reference` (events.k8s.io/v1), or counts it into the series
    /// of the same Event published in the last six minutes.
    pub async fn publish(
        &self,
        event: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key::new(event, reference);
        let namespace = reference.namespace.as_deref().unwrap_or("default");
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), namespace);
        let repeat = self.series().repeat_of(key, now);
        if let Some((started, count)) = repeat {
            let count = count.saturating_add(1);
            let patch = serde_json::json!({
                "series": { "count": count, "lastObservedTime": MicroTime(now) }
            });
            match api
                .patch(
                    &event_name(reference, started),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    self.series().published(key, started, count, now);
                    return Ok(());
                }
                // The Event expired or was deleted: start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        api.create(
            &PostParams::default(),
            &self.new_event(event, reference, now),
        )
        .await?;
        self.series().published(key, now, 1, now);
        Ok(())
    }

    fn new_event(&self, event: &Event, reference: &ObjectReference, now: Timestamp) -> KubeEvent {
        KubeEvent {
            metadata: ObjectMeta {
                name: Some(event_name(reference, now)),
                namespace: reference.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..KubeEvent::default()
        }
    }
}

/// The name of the Event of a series started at `started`: the object's name and a suffix
/// from the clock, as kubectl's own Events have (generateName would need a name that is
/// itself valid, which "name." is not).
fn event_name(reference: &ObjectReference, started: Timestamp) -> String {
    let object_name = reference.name.as_deref().unwrap_or("object");
    let prefix: String = object_name.chars().take(NAME_PREFIX_MAX).collect();
    format!("{prefix}.{:x}", started.as_nanosecond())
}

/// Deadline for publishing one Event: a half-open connection must not hold a reconcile.
const EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes a note as an Event on the object. The [`Recorder`] folds repeats of the same
/// event into a series, so a retry loop does not flood the namespace. Failing to publish an
/// Event is logged, never fatal: the status already carries the same facts.
pub async fn publish(recorder: &Recorder, object: &ContactChannelActivation, note: &Note) {
    publish_to(recorder, &object.object_ref(&()), note).await;
}

pub async fn publish_to(recorder: &Recorder, reference: &ObjectReference, note: &Note) {
    let event = Event {
        type_: match note.type_ {
            NoteType::Normal => EventType::Normal,
            NoteType::Warning => EventType::Warning,
        },
        reason: note.reason.as_str().to_owned(),
        note: Some(truncate_note(&note.message)),
        action: note.call.as_str().to_owned(),
        secondary: None,
    };
    match tokio::time::timeout(EVENT_TIMEOUT, recorder.publish(&event, reference)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, reason = note.reason.as_str(), "could not publish an Event")
        }
        Err(_) => {
            tracing::warn!(timeout = ?EVENT_TIMEOUT, reason = note.reason.as_str(), "could not publish an Event in time")
        }
    }
}

/// The API server refuses an Event note longer than this many bytes.
const MAX_NOTE_BYTES: usize = 1024;

/// `text` within [`MAX_NOTE_BYTES`], cut on a character boundary and marked as cut.
fn truncate_note(text: &str) -> String {
    const MARK: &str = "...";
    if text.len() <= MAX_NOTE_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_NOTE_BYTES - MARK.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{MARK}", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// An Event note stays within 1,024 bytes, cut on a character boundary, and says it was cut.
    fn event_notes_are_cut_at_1024_bytes() {
        assert_eq!(truncate_note("short"), "short");
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(truncate_note(&exact), exact);
        for filler in ["é", "€", "🙂", "a"] {
            let long = format!("x{}", filler.repeat(2000));
            let cut = truncate_note(&long);
            assert!(cut.len() <= MAX_NOTE_BYTES, "{} bytes", cut.len());
            assert!(cut.len() > MAX_NOTE_BYTES - 8);
            assert!(cut.ends_with("..."));
            assert!(long.starts_with(cut.trim_end_matches("...")));
        }
    }

    fn key(reason: &str) -> Key {
        let event = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: None,
            action: "SendActivationCode".into(),
            secondary: None,
        };
        let reference = ObjectReference {
            uid: Some("u".into()),
            namespace: Some("ns".into()),
            name: Some("pager".into()),
            ..ObjectReference::default()
        };
        Key::new(&event, &reference)
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    /// The same Event within the window extends its series; another reason does not.
    fn repeats_within_the_window_fold() {
        let mut series = Series::default();
        assert_eq!(series.repeat_of(key("Throttled"), at(0)), None);
        series.published(key("Throttled"), at(0), 1, at(0));
        assert_eq!(series.repeat_of(key("Throttled"), at(10)), Some((at(0), 1)));
        assert_eq!(series.repeat_of(key("Sent"), at(10)), None);
    }

    #[test]
    /// After the window a repeat starts a new Event, and old series are pruned.
    fn old_series_lapse_and_are_pruned() {
        let mut series = Series::default();
        series.published(key("Throttled"), at(0), 3, at(0));
        let later = at(i64::try_from(SERIES_WINDOW.as_secs()).unwrap() + 1);
        assert_eq!(series.repeat_of(key("Throttled"), later), None);
        assert!(series.recent.is_empty());
    }

    #[test]
    /// A series' Event is found again by name: the object's name and when it started.
    fn the_event_name_comes_from_the_object_and_the_start() {
        let reference = ObjectReference {
            name: Some("pager".into()),
            ..ObjectReference::default()
        };
        let name = event_name(&reference, at(0));
        assert!(name.starts_with("pager."), "{name}");
        assert_eq!(name, event_name(&reference, at(0)));
        assert_ne!(name, event_name(&reference, at(1)));
    }
}
