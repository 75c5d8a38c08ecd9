//! The journal of wire calls: a ring that keeps the newest entries and counts the ones it
//! let go, so a long chaos or fleet run cannot grow the emulator without limit.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

/// Journal outcome of a call that succeeded (its connection may still have been cut after
/// processing: see [`JournalEntry::connection_dropped`]).
pub const OUTCOME_OK: &str = "ok";
/// Journal outcome of a call whose connection was cut before anything was done.
pub const OUTCOME_DROPPED: &str = "dropped";
/// Journal outcome of a call held by a latency fault (or chaos `slow`) whose client closed
/// the connection before the delay ended: the operation never ran, so nothing was sent.
pub const OUTCOME_ABANDONED: &str = "abandoned";

/// Entries kept by default: at a few hundred bytes each, tens of megabytes at most.
pub const DEFAULT_JOURNAL_CAPACITY: NonZeroUsize = match NonZeroUsize::new(200_000) {
    Some(capacity) => capacity,
    None => panic!("the default journal capacity is not zero"),
};

/// One wire call, as `GET /_emulator/journal` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub seq: u64,
    pub time: jiff::Timestamp,
    /// From `X-Amz-Target` (SSM Contacts) or the form's `Action` (STS, e.g.
    /// `AssumeRole`); empty when neither was there.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_arn: Option<String>,
    /// The signing region; absent when the signature could not be parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The access key the call was signed with (claimed, when the signature was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Who signed the call, once authenticated: `arn:aws:iam::<account>:user/emulator` for
    /// a configured long-term key, `arn:<partition>:sts::<account>:assumed-role/<role
    /// name>/<session>` for temporary credentials from AssumeRole. Absent when
    /// authentication failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_arn: Option<String>,
    /// AssumeRole: the `RoleArn` asked for (as sent, valid or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// AssumeRole: the `RoleSessionName` asked for (as sent, valid or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
    /// A successful AssumeRole: the access key id of the credentials it issued (never
    /// their secret or session token), to match against later calls' `accessKeyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_access_key_id: Option<String>,
    /// `ok`, the error's `__type`, `Html502`, `dropped`, or `abandoned`.
    pub outcome: String,
    /// Absent when no answer was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub request_id: String,
    /// The operation ran but the connection was cut before the answer (DropAfterProcessing,
    /// or chaos `cutAfterProcessing`): `outcome` says how the operation went.
    #[serde(default)]
    pub connection_dropped: bool,
    /// The injected fault that applied, if any (its kind, or `latency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// The chaos draw (0, 1, ...) that decided the call, for every call chaos mode decided
    /// (a plain pass included); `fault` says what it applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos_draw: Option<u64>,
    /// The code a successful SendActivationCode or CreateContactChannel generated: present
    /// exactly when a code went out to the channel, whether or not the caller heard back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_code: Option<String>,
}

/// Query of `GET /_emulator/journal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JournalFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Only entries with a larger `seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
}

impl JournalFilter {
    fn admits(&self, entry: &JournalEntry) -> bool {
        self.operation
            .as_deref()
            .is_none_or(|op| op == entry.operation)
            && self
                .channel
                .as_deref()
                .is_none_or(|arn| entry.channel_arn.as_deref() == Some(arn))
            && self.after_seq.is_none_or(|seq| entry.seq > seq)
    }
}

/// How full the journal is (`GET /_emulator/journal/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalStats {
    /// Entries kept at most.
    pub capacity: usize,
    /// Entries kept now.
    pub retained: usize,
    /// Entries recorded since start or the last reset (the `seq` of the newest).
    pub recorded: u64,
    /// Entries let go to make room (the oldest ones): `recorded - retained`.
    pub dropped: u64,
}

/// The newest `capacity` wire calls, oldest first.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<JournalEntry>,
    capacity: NonZeroUsize,
    recorded: u64,
    dropped: u64,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new(DEFAULT_JOURNAL_CAPACITY)
    }
}

impl Journal {
    pub fn new(capacity: NonZeroUsize) -> Self {
        // No preallocation: most runs record a handful of calls.
        Self {
            entries: VecDeque::new(),
            capacity,
            recorded: 0,
            dropped: 0,
        }
    }

    /// Appends, numbering the entry (`seq` keeps counting past dropped entries, so
    /// `afterSeq` stays meaningful); returns its `seq`.
    pub fn record(&mut self, mut entry: JournalEntry) -> u64 {
        self.recorded += 1;
        entry.seq = self.recorded;
        if self.entries.len() == self.capacity.get() {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(entry);
        self.recorded
    }

    /// The kept entries the filter admits, oldest first.
    pub fn select(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        // Entries are in seq order: skip the ones `afterSeq` excludes without looking.
        let start = filter.after_seq.map_or(0, |after| {
            self.entries.partition_point(|entry| entry.seq <= after)
        });
        self.entries
            .range(start..)
            .filter(|entry| filter.admits(entry))
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> JournalStats {
        JournalStats {
            capacity: self.capacity.get(),
            retained: self.entries.len(),
            recorded: self.recorded,
            dropped: self.dropped,
        }
    }

    /// Forgets every entry and restarts numbering; the capacity stays.
    pub fn clear(&mut self) {
        *self = Self::new(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use crate::model::journal::*;

    fn entry(operation: &str, channel: Option<&str>) -> JournalEntry {
        JournalEntry {
            seq: 0,
            time: jiff::Timestamp::UNIX_EPOCH,
            operation: operation.into(),
            channel_arn: channel.map(String::from),
            region: Some("us-east-1".into()),
            access_key_id: Some("AK".into()),
            caller_arn: None,
            role_arn: None,
            role_session_name: None,
            issued_access_key_id: None,
            outcome: OUTCOME_OK.into(),
            http_status: Some(200),
            request_id: "r".into(),
            connection_dropped: false,
            fault: None,
            chaos_draw: None,
            activation_code: None,
        }
    }

    fn capacity(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// The journal numbers entries in order and filters by operation, channel and seq.
    #[test]
    fn journal_filters() {
        let mut journal = Journal::default();
        assert_eq!(journal.record(entry("SendActivationCode", Some("a"))), 1);
        assert_eq!(journal.record(entry("SendActivationCode", Some("b"))), 2);
        assert_eq!(journal.record(entry("GetContactChannel", Some("a"))), 3);
        let by_op = JournalFilter {
            operation: Some("SendActivationCode".into()),
            ..JournalFilter::default()
        };
        assert_eq!(journal.select(&by_op).len(), 2);
        let by_channel = JournalFilter {
            channel: Some("a".into()),
            after_seq: Some(1),
            ..JournalFilter::default()
        };
        let found = journal.select(&by_channel);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].seq, 3);
    }

    /// A full journal lets the oldest entry go for each new one and counts it as dropped,
    /// while `seq` keeps counting.
    #[test]
    fn ring_keeps_the_newest_and_counts_drops() {
        let mut journal = Journal::new(capacity(3));
        for _ in 0..5 {
            journal.record(entry("SendActivationCode", Some("a")));
        }
        let kept: Vec<u64> = journal
            .select(&JournalFilter::default())
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(kept, [3, 4, 5]);
        assert_eq!(
            journal.stats(),
            JournalStats {
                capacity: 3,
                retained: 3,
                recorded: 5,
                dropped: 2,
            }
        );
        let after = JournalFilter {
            after_seq: Some(3),
            ..JournalFilter::default()
        };
        assert_eq!(journal.select(&after).len(), 2);
        let before_kept = JournalFilter {
            after_seq: Some(1),
            ..JournalFilter::default()
        };
        assert_eq!(journal.select(&before_kept).len(), 3);
    }

    /// Clearing forgets entries and drops but keeps the configured capacity.
    #[test]
    fn clear_keeps_capacity() {
        let mut journal = Journal::new(capacity(1));
        journal.record(entry("X", None));
        journal.record(entry("X", None));
        journal.clear();
        assert_eq!(
            journal.stats(),
            JournalStats {
                capacity: 1,
                retained: 0,
                recorded: 0,
                dropped: 0,
            }
        );
        assert_eq!(journal.record(entry("X", None)), 1);
    }

    /// The default capacity is the documented 200 000.
    #[test]
    fn default_capacity() {
        assert_eq!(Journal::default().stats().capacity, 200_000);
    }
}
