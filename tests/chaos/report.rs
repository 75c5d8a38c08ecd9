//! Counting what chaos did: per channel (one object, one generation each), the codes AWS sent
//! according to the emulator's journal, and for every code beyond the first, what explains
//! it. Pure, so the attribution rules are checked on made-up inputs before every run.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

/// A code the emulator sent (journal outcome `ok` for SendActivationCode).
#[derive(Clone, Debug)]
pub struct Sent {
    pub channel: String,
    pub time: Timestamp,
    /// The answer never reached the operator (cut after processing): its outcome was unknown.
    pub answer_lost: bool,
}

/// A SIGKILL of the operator.
#[derive(Clone, Debug)]
pub struct Kill {
    pub number: usize,
    pub time: Timestamp,
}

/// A time the API server was down (restarted): no outcome could be recorded during it.
#[derive(Clone, Copy, Debug)]
pub struct Outage {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Outage {
    /// An outage that began at `start` and ends now, when the restarted part answers again.
    pub fn since(start: Timestamp) -> Self {
        Self {
            start,
            end: Timestamp::now(),
        }
    }
}

/// Why a channel got more than one code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Explained {
    /// The earlier code's answer was cut off: the operator recorded OutcomeUnknown and
    /// resent, as the contract's resend policy says.
    AnswerLost,
    /// A kill landed between the earlier code's answer and its record (guarantee 1's window).
    Kill(usize),
    Unexplained,
}

#[derive(Debug, Default)]
pub struct Report {
    pub channels: usize,
    /// Channels whose object never became Ready, or whose status claims a code the journal
    /// does not show.
    pub lost: Vec<String>,
    pub duplicates: Vec<(String, Explained)>,
}

impl Report {
    pub fn unexplained(&self) -> usize {
        self.duplicates
            .iter()
            .filter(|(_, why)| *why == Explained::Unexplained)
            .count()
    }

    pub fn count(&self, wanted: fn(&Explained) -> bool) -> usize {
        self.duplicates
            .iter()
            .filter(|(_, why)| wanted(why))
            .count()
    }
}

/// `ready`: channel -> whether its object ended Ready with its code recorded as sent.
/// `window`: how long after an answer a kill can still prevent its record (the outcome write's
/// deadline plus slack). An outage of the API server in that time holds the record back
/// until it ends and the failed reconcile is retried (`retry` later), and the window with it:
/// the outcome waits in the killed process's memory meanwhile.
pub fn attribute(
    ready: &BTreeMap<String, bool>,
    sent: &[Sent],
    kills: &[Kill],
    outages: &[Outage],
    (window, retry): (SignedDuration, SignedDuration),
) -> Report {
    let mut by_channel: BTreeMap<&str, Vec<&Sent>> = BTreeMap::new();
    for code in sent {
        by_channel
            .entry(code.channel.as_str())
            .or_default()
            .push(code);
    }
    let mut report = Report {
        channels: ready.len(),
        ..Report::default()
    };
    for (channel, is_ready) in ready {
        let codes = by_channel
            .get(channel.as_str())
            .cloned()
            .unwrap_or_default();
        if !is_ready || codes.is_empty() {
            report.lost.push(channel.clone());
        }
        let mut codes = codes;
        codes.sort_by_key(|c| c.time);
        // Every code but the last needed an explanation for the operator to send again.
        for earlier in codes.iter().take(codes.len().saturating_sub(1)) {
            let why = if earlier.answer_lost {
                Explained::AnswerLost
            } else {
                let slack = SignedDuration::from_millis(500);
                let after = |t: Timestamp, d: SignedDuration| t.saturating_add(d).unwrap_or(t);
                let mut until = after(earlier.time, window);
                for outage in outages {
                    if outage.start <= until && outage.end >= earlier.time {
                        until = until.max(after(after(outage.end, retry), window));
                    }
                }
                kills
                    .iter()
                    .find(|k| {
                        k.time >= earlier.time.saturating_sub(slack).unwrap_or(earlier.time)
                            && k.time <= until
                    })
                    .map_or(Explained::Unexplained, |k| Explained::Kill(k.number))
            };
            report.duplicates.push((channel.clone(), why));
        }
    }
    report
}

/// The rules on made-up inputs: a run whose attribution is broken must not pass.
pub fn self_check() -> Result<(), String> {
    let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH);
    let sent = |channel: &str, s: i64, answer_lost: bool| Sent {
        channel: channel.into(),
        time: at(s),
        answer_lost,
    };
    let ready: BTreeMap<String, bool> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|c| (c.to_string(), *c != "e"))
        .collect();
    let codes = [
        sent("a", 0, false),
        sent("b", 10, true),
        sent("b", 12, false),
        sent("c", 20, false),
        sent("c", 30, false),
        sent("d", 40, false),
        sent("d", 49, false),
        // Answered as the API server went down; the kill came after it was back, before
        // the retried record.
        sent("f", 60, false),
        sent("f", 80, false),
        // The same, but the kill came after the retried record was due.
        sent("g", 100, false),
        sent("g", 120, false),
    ];
    let kills = [
        Kill {
            number: 7,
            time: at(41),
        },
        Kill {
            number: 8,
            time: at(70),
        },
        Kill {
            number: 9,
            time: at(112),
        },
    ];
    let outages = [
        Outage {
            start: at(61),
            end: at(63),
        },
        Outage {
            start: at(101),
            end: at(102),
        },
    ];
    let windows = (SignedDuration::from_secs(3), SignedDuration::from_secs(5));
    let ready: BTreeMap<String, bool> = ready
        .into_iter()
        .chain([("f".to_owned(), true), ("g".to_owned(), true)])
        .collect();
    let report = attribute(&ready, &codes, &kills, &outages, windows);
    let expected = vec![
        ("b".to_owned(), Explained::AnswerLost),
        ("c".to_owned(), Explained::Unexplained),
        ("d".to_owned(), Explained::Kill(7)),
        ("f".to_owned(), Explained::Kill(8)),
        ("g".to_owned(), Explained::Unexplained),
    ];
    if report.duplicates != expected || report.lost != ["e"] || report.unexplained() != 2 {
        return Err(format!("attribution self-check failed: {report:?}"));
    }
    Ok(())
}
