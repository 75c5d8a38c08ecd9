//! Readiness: the watch caches have synced (or this replica stands by for the lease), and the
//! watches are not failing. A watch that keeps failing (403 after an RBAC change, a deleted
//! CRD) for longer than `--unready-after-watch-failure` turns `/readyz` red instead of leaving
//! a green pod that reconciles nothing.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// At most one warning per this interval while watches keep failing.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// A failing watch retries at least this often (kube's default backoff tops out at 30 s plus
/// jitter); this long without an error means it works again, even in a namespace so quiet
/// that the restarted watch delivers no event.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(45);

#[derive(Default)]
struct Failing {
    since: Option<Instant>,
    last: Option<Instant>,
    warned_at: Option<Instant>,
}

pub struct Health {
    ready: AtomicBool,
    failing: Mutex<Failing>,
    /// Watches of objects failing now (a namespace whose Role is gone), by name: readiness
    /// names them.
    failing_scopes: Mutex<BTreeSet<String>>,
    /// How long watches may fail before readiness fails: longer than a brief API-server
    /// restart, so that one does not take every replica out of its Service.
    sustained: Duration,
}

impl Health {
    pub fn new(sustained: Duration) -> Self {
        Self {
            ready: AtomicBool::new(false),
            failing: Mutex::default(),
            failing_scopes: Mutex::default(),
            sustained,
        }
    }

    /// Ready as far as syncing goes (caches synced, or standing by for the lease).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    fn failing(&self) -> std::sync::MutexGuard<'_, Failing> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A watch delivered an event: it works.
    pub fn watch_ok(&self) {
        let mut failing = self.failing();
        failing.since = None;
        failing.last = None;
        failing.warned_at = None;
    }

    /// A watch failed; says whether this failure should be logged (rate-limited).
    pub fn watch_failed(&self, now: Instant) -> bool {
        let mut failing = self.failing();
        failing.since.get_or_insert(now);
        failing.last = Some(now);
        let warn = failing
            .warned_at
            .is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY);
        if warn {
            failing.warned_at = Some(now);
        }
        warn
    }

    /// The watch of `scope` failed, or (`ok`) works again.
    pub fn scope_watch(&self, scope: &str, ok: bool) {
        let mut scopes = self
            .failing_scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ok {
            scopes.remove(scope);
        } else if !scopes.contains(scope) {
            scopes.insert(scope.to_owned());
        }
    }

    fn failing_scopes(&self) -> String {
        let scopes = self
            .failing_scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if scopes.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = scopes.iter().map(String::as_str).collect();
            format!("; failing: {}", names.join(", "))
        }
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if !self.ready.load(Ordering::SeqCst) {
            return Err(format!(
                "waiting for the first watch sync{}",
                self.failing_scopes()
            ));
        }
        let failing = self.failing();
        let recovered = failing
            .last
            .is_some_and(|last| now.saturating_duration_since(last) >= QUIET_AFTER_FAILURE);
        match failing.since {
            Some(since) if !recovered && now.saturating_duration_since(since) >= self.sustained => {
                Err(format!(
                    "watches failing for {}s (see the operator's log and ssmcontacts_watch_errors_total){}",
                    now.saturating_duration_since(since).as_secs(),
                    self.failing_scopes()
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// A brief watch failure keeps readiness; a sustained one fails it; an event heals it.
    fn sustained_watch_failure_fails_readiness() {
        let sustained = Duration::from_secs(60);
        let health = Health::new(sustained);
        let t0 = Instant::now();
        assert!(health.check(t0).is_err(), "not synced yet");
        health.set_ready(true);
        assert!(health.watch_failed(t0));
        assert!(
            !health.watch_failed(t0 + Duration::from_secs(1)),
            "rate-limited"
        );
        assert!(health.check(t0 + Duration::from_secs(10)).is_ok());
        // Still failing: the watch keeps retrying and failing.
        assert!(
            health.watch_failed(t0 + Duration::from_secs(40)),
            "warned again after the interval"
        );
        let later = t0 + sustained;
        assert!(health.check(later).is_err());
        assert!(!health.watch_failed(later), "rate-limited again");
        health.watch_ok();
        assert!(health.check(later).is_ok());
    }

    #[test]
    /// Readiness names the scopes whose watch fails, until they work again.
    fn failing_scopes_are_named() {
        let health = Health::new(Duration::from_secs(60));
        health.scope_watch("contactchannelactivations in namespace b", false);
        let why = health.check(Instant::now()).unwrap_err();
        assert!(why.contains("namespace b"), "{why}");
        health.scope_watch("contactchannelactivations in namespace b", true);
        let why = health.check(Instant::now()).unwrap_err();
        assert!(!why.contains("namespace b"), "{why}");
    }

    #[test]
    /// A watch that stops failing is ready again after a quiet spell, even with no event.
    fn quiet_after_failure_is_recovery() {
        let health = Health::new(Duration::from_secs(3));
        health.set_ready(true);
        let t0 = Instant::now();
        health.watch_failed(t0);
        health.watch_failed(t0 + Duration::from_secs(5));
        assert!(health.check(t0 + Duration::from_secs(6)).is_err());
        assert!(
            health
                .check(t0 + Duration::from_secs(5) + QUIET_AFTER_FAILURE)
                .is_ok()
        );
    }
}
