//! The journal is a bounded ring: it keeps the newest entries, counts the dropped ones, and
//! keeps its JSON shape and query parameters.

use std::num::NonZeroUsize;
use std::time::Duration;

use ssm_contacts_emulator::EmulatorConfig;
use ssm_contacts_emulator::admin::{
    AdminClient, JOURNAL_DROPPED_HEADER, JournalFilter, JournalStats,
};

use crate::support::{client, codes_sent, seeded, send, start};

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero")
}

/// With capacity 5, eight calls leave the newest five (seq 4..=8) and three dropped, shown
/// by the stats endpoint, the library and the journal's header; filters still work.
#[tokio::test]
async fn full_journal_keeps_the_newest_and_counts_drops() {
    let emulator = start(EmulatorConfig::default().with_journal_capacity(capacity(5))).await;
    let arn = seeded(&emulator).await;
    let client = client(&emulator, Duration::from_secs(10));
    for _ in 0..6 {
        send(&client, &arn).await.expect("sent");
    }
    for _ in 0..2 {
        client
            .get_contact_channel()
            .contact_channel_id(&arn)
            .send()
            .await
            .expect("get");
    }

    let admin = emulator.admin();
    let kept: Vec<u64> = admin
        .journal()
        .await
        .expect("journal")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(kept, [4, 5, 6, 7, 8]);
    let expected = JournalStats {
        capacity: 5,
        retained: 5,
        recorded: 8,
        dropped: 3,
    };
    assert_eq!(admin.journal_stats().await.expect("stats"), expected);
    assert_eq!(emulator.journal_stats(), expected);

    // The shape scripts/demo.sh relies on: a plain array, filtered by `operation`, with
    // `"outcome":"ok"` in it; the header tells the count is partial.
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http")
        .get(format!(
            "{}/_emulator/journal?operation=SendActivationCode",
            emulator.endpoint_url()
        ))
        .send()
        .await
        .expect("journal");
    assert_eq!(
        response
            .headers()
            .get(JOURNAL_DROPPED_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    let body = response.text().await.expect("body");
    assert!(body.starts_with('['), "{body}");
    assert_eq!(body.matches(r#""outcome":"ok""#).count(), 3, "{body}");

    let after = JournalFilter {
        after_seq: Some(6),
        ..JournalFilter::default()
    };
    let newer = admin.journal_filtered(&after).await.expect("journal");
    assert!(newer.iter().all(|e| e.operation == "GetContactChannel"));
    assert_eq!(newer.len(), 2);
    // The channel's own counter is not bounded: it saw all six codes.
    assert_eq!(codes_sent(&emulator, &arn).await, 6);
    emulator.shutdown().await;
}

/// Reset empties the journal and its counts but keeps the configured capacity.
#[tokio::test]
async fn reset_keeps_the_capacity() {
    let emulator = start(EmulatorConfig::default().with_journal_capacity(capacity(2))).await;
    let arn = seeded(&emulator).await;
    let client = client(&emulator, Duration::from_secs(10));
    for _ in 0..3 {
        send(&client, &arn).await.expect("sent");
    }
    let admin = emulator.admin();
    assert_eq!(admin.journal_stats().await.expect("stats").dropped, 1);
    admin.reset().await.expect("reset");
    assert_eq!(
        admin.journal_stats().await.expect("stats"),
        JournalStats {
            capacity: 2,
            retained: 0,
            recorded: 0,
            dropped: 0,
        }
    );
    emulator.shutdown().await;
}

/// The default capacity is 200 000 and nothing is dropped on a fresh emulator.
#[tokio::test]
async fn default_capacity_is_documented_value() {
    let emulator = start(EmulatorConfig::default()).await;
    let stats = emulator.admin().journal_stats().await.expect("stats");
    assert_eq!((stats.capacity, stats.dropped), (200_000, 0));
    emulator.shutdown().await;
}

/// The binary takes `--journal-capacity` (and refuses 0).
#[tokio::test]
async fn cli_flag_sets_the_capacity() {
    let binary = env!("CARGO_BIN_EXE_ssm-contacts-emulator");
    let refused = tokio::process::Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--journal-capacity", "0"])
        .env_remove("EMULATOR_SEED_CHANNELS")
        .output()
        .await
        .expect("runs");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("journal-capacity"),
        "{refused:?}"
    );

    let mut child = KillOnDrop(
        std::process::Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--journal-capacity", "3"])
            .env_remove("EMULATOR_SEED_CHANNELS")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    // The first line announces the address; read it off the runtime's threads.
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("announces itself in time")
        .expect("joins")
        .expect("reads");
    let url = line
        .trim_end()
        .strip_prefix("ssm-contacts-emulator listening on ")
        .expect("the announced URL");
    let stats = AdminClient::new(url).journal_stats().await.expect("stats");
    assert_eq!(stats.capacity, 3);
}

/// Ends the child emulator even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
