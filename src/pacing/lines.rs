//! One send line per quota scope. AWS quotas hold per calling account and region, so each
//! scope gets its own [`SendLine`] with its own rate search: throttling in one scope never
//! slows another. The lines share one stream of wake-ups, which the controllers follow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::pacing::bucket::RateSettings;
use crate::pacing::line::{SendLine, WAKE_BUFFER, Wake};

/// Scopes with a line of their own; beyond them (regions and role accounts come from specs,
/// bounded by the allowlists) calls share one overflow line.
pub const MAX_SCOPES: usize = 64;
/// The account label of calls made with the operator's own credentials.
pub const OWN_ACCOUNT: &str = "self";
/// Both labels of the overflow scope.
const OVERFLOW: &str = "other";

/// Where a call's quota is counted: the calling account and the region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuotaScope {
    /// The role's account (`spec.roleArn`), or [`OWN_ACCOUNT`].
    pub account: String,
    pub region: String,
}

impl QuotaScope {
    /// The scope of a call to `region` as `role_arn` (`spec.roleArn`), if any.
    pub fn of(region: &str, role_arn: Option<&str>) -> Self {
        let account = role_arn
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|account| !account.is_empty())
            .unwrap_or(OWN_ACCOUNT);
        Self {
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    fn overflow() -> Self {
        Self {
            account: OVERFLOW.to_owned(),
            region: OVERFLOW.to_owned(),
        }
    }
}

pub struct SendLines {
    settings: RateSettings,
    lines: Mutex<HashMap<QuotaScope, Arc<SendLine>>>,
    wakes: broadcast::Sender<Wake>,
    serving: Mutex<Vec<JoinHandle<()>>>,
}

impl SendLines {
    /// `settings` (`--send-rate`, `--send-burst`, `--min-send-rate`) apply to each scope.
    pub fn new(settings: RateSettings) -> Self {
        let (wakes, _) = broadcast::channel(WAKE_BUFFER);
        Self {
            settings,
            lines: Mutex::default(),
            wakes,
            serving: Mutex::default(),
        }
    }

    fn lines(&self) -> MutexGuard<'_, HashMap<QuotaScope, Arc<SendLine>>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The objects granted their turn in any scope, to be woken by the controllers.
    pub fn wakes(&self) -> broadcast::Receiver<Wake> {
        self.wakes.subscribe()
    }

    /// The line of `scope` (the overflow line past [`MAX_SCOPES`]), started on first use,
    /// and the scope it serves.
    pub fn line(&self, scope: QuotaScope) -> (QuotaScope, Arc<SendLine>) {
        let mut lines = self.lines();
        let scope = if lines.contains_key(&scope) || lines.len() < MAX_SCOPES {
            scope
        } else {
            QuotaScope::overflow()
        };
        if let Some(line) = lines.get(&scope) {
            return (scope, line.clone());
        }
        let line = Arc::new(SendLine::with_wakes(self.settings, self.wakes.clone()));
        lines.insert(scope.clone(), line.clone());
        let serving = tokio::spawn({
            let line = line.clone();
            async move { line.serve().await }
        });
        self.serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(serving);
        (scope, line)
    }

    /// The object no longer needs a turn in any scope.
    pub fn leave(&self, uid: &str) {
        for line in self.lines().values() {
            line.leave(uid);
        }
    }

    /// Objects waiting in all lines.
    pub fn waiting(&self) -> usize {
        self.lines().values().map(|line| line.waiting()).sum()
    }

    /// Stops serving every line (the controller ends).
    pub fn stop(&self) {
        for serving in self
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            serving.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::ObjectRef;

    fn settings() -> RateSettings {
        RateSettings {
            max_rate: 1.0,
            min_rate: 0.1,
            burst: 1.0,
        }
    }

    fn wake(name: &str) -> Wake {
        ObjectRef::new(name).within("ns")
    }

    fn role(account: &str) -> String {
        format!("arn:aws:iam::{account}:role/r")
    }

    #[test]
    /// The calling account is the role's, else the operator's own; the region is the call's.
    fn scopes_of_calls() {
        assert_eq!(
            QuotaScope::of("us-east-1", None),
            QuotaScope {
                account: OWN_ACCOUNT.into(),
                region: "us-east-1".into()
            }
        );
        assert_eq!(
            QuotaScope::of("eu-west-1", Some(role("210987654321").as_str())).account,
            "210987654321"
        );
    }

    #[tokio::test(start_paused = true)]
    /// A scope whose rate is spent (or throttled) does not hold up another scope's sends.
    async fn scopes_do_not_wait_for_each_other() {
        let lines = SendLines::new(settings());
        let (_, east) = lines.line(QuotaScope::of("us-east-1", None));
        let (_, west) = lines.line(QuotaScope::of("us-west-2", None));
        let permit = east.take_turn("a", wake("a")).unwrap();
        east.on_throttle(permit);
        assert!(east.take_turn("b", wake("b")).is_err());
        assert!(west.take_turn("c", wake("c")).is_ok());
        assert_eq!(lines.waiting(), 1);
        lines.leave("b");
        assert_eq!(lines.waiting(), 0);
        lines.stop();
    }

    #[tokio::test(start_paused = true)]
    /// Past the bound, new scopes share the overflow line.
    async fn scopes_are_bounded() {
        let lines = SendLines::new(settings());
        for index in 0..MAX_SCOPES {
            let (scope, _) = lines.line(QuotaScope::of(&format!("us-east-{index}"), None));
            assert_eq!(scope.region, format!("us-east-{index}"));
        }
        let (scope, _) = lines.line(QuotaScope::of("eu-west-1", None));
        assert_eq!(scope, QuotaScope::overflow());
        let (scope, _) = lines.line(QuotaScope::of("us-east-3", None));
        assert_eq!(scope.region, "us-east-3");
        lines.stop();
    }
}
