//! Logs: tracing, text or JSON. RUST_LOG decides, and crates that could write something
//! derived from a request body are capped below it.

use std::io::IsTerminal;

use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::{EnvFilter, prelude::*};

/// Crates whose output at trace may carry a request body or something derived from it (an
/// ActivateContactChannel body holds the code; the SigV4 signer logs the canonical request
/// with the body's SHA-256, from which six digits are found in a million guesses), each with
/// the most it may say whatever RUST_LOG asks. A cap only lowers a level, never raises it.
const CAPS: [(&str, LevelFilter); 10] = [
    ("aws_sigv4", LevelFilter::INFO),
    ("aws_smithy_runtime", LevelFilter::DEBUG),
    ("aws_smithy_runtime_api", LevelFilter::DEBUG),
    ("aws_smithy_http_client", LevelFilter::DEBUG),
    ("aws_sdk_ssmcontacts", LevelFilter::DEBUG),
    ("hyper", LevelFilter::DEBUG),
    ("hyper_util", LevelFilter::DEBUG),
    ("h2", LevelFilter::DEBUG),
    ("kube_client", LevelFilter::DEBUG),
    ("tower_http", LevelFilter::DEBUG),
];

/// RUST_LOG (unset or unreadable: `info` for everything), with the [`CAPS`] on top: an event
/// passes only where both let it through.
fn log_filter<S>(rust_log: Option<&str>) -> impl Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let asked = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let caps = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPS);
    asked.and(caps)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber; the filter comes from RUST_LOG, else `info`, capped.
pub fn init_logging(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = log_filter(rust_log.as_deref());
    match format {
        // Colour codes only on a terminal: in a log file or a collector they are noise.
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(filter),
            )
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_filter(filter),
            )
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber with `log_filter(rust_log)` writes for one event per (target, level).
    fn written(rust_log: Option<&str>) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .with_filter(log_filter(rust_log));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_sigv4::http_request::sign", "sigv4-trace");
            tracing::info!(target: "aws_sigv4", "sigv4-info");
            tracing::trace!(target: "hyper::proto", "hyper-trace");
            tracing::debug!(target: "hyper::proto", "hyper-debug");
            tracing::info!(target: "hyper::proto", "hyper-info");
            tracing::trace!(target: "ssm_contacts_operator::reconcile::send", "own-trace");
            tracing::debug!(target: "ssm_contacts_operator::reconcile::send", "own-debug");
            tracing::info!(target: "ssm_contacts_operator::reconcile::send", "own-info");
        });
        let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    /// RUST_LOG unset: info for everything, the capped crates included, and nothing below it.
    fn unset_is_info_everywhere() {
        let log = written(None);
        for line in ["sigv4-info", "hyper-info", "own-info"] {
            assert!(log.contains(line), "{line} missing: {log}");
        }
        assert!(!log.contains("DEBUG") && !log.contains("TRACE"), "{log}");
    }

    #[test]
    /// At trace, the capped crates stop at their cap; the signer says nothing below info.
    fn trace_is_capped() {
        let log = written(Some("trace"));
        assert!(log.contains("own-trace"), "{log}");
        assert!(log.contains("hyper-debug"), "{log}");
        assert!(!log.contains("hyper-trace"), "{log}");
        assert!(!log.contains("sigv4-trace"), "{log}");
        assert!(log.contains("sigv4-info"), "{log}");
    }

    #[test]
    /// A cap never raises a crate above what RUST_LOG asks.
    fn caps_only_lower() {
        let log = written(Some("warn,ssm_contacts_operator=debug"));
        assert!(
            !log.contains("hyper-debug") && !log.contains("hyper-info"),
            "{log}"
        );
        assert!(
            log.contains("own-debug") && !log.contains("own-trace"),
            "{log}"
        );
        // A directive that does not parse falls back to info, as an unset RUST_LOG does.
        let log = written(Some("=[=="));
        assert!(
            log.contains("own-info") && !log.contains("own-debug"),
            "{log}"
        );
    }
}
