//! Chaos mode: random faults (5xx, throttling, slowness, cut connections) decided per call
//! by a seeded generator, so a chaos run can be replayed from its seed.
//!
//! The n-th call chaos considers (counting from 0, only calls of the listed operations that
//! no injected fault matched) always gets the same decision for the same seed and spec:
//! the decision is a pure function of (seed, n), so only the order in which concurrent
//! requests reach the emulator can vary a run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::injected::{FaultKind, FaultSpec};
use crate::protocol::wire::Operation;

/// `slowMillis` when not given.
pub const DEFAULT_SLOW_MILLIS: u64 = 1_000;
/// `RetryAfterSeconds` of a chaos ThrottlingException.
pub const CHAOS_RETRY_AFTER_SECONDS: u32 = 1;

/// What `POST /_emulator/chaos` takes. Probabilities are in `0..=1`; `internalError`,
/// `throttle`, `cutBeforeProcessing` and `cutAfterProcessing` exclude each other (their sum
/// is at most 1), while `slow` is drawn on its own and delays whatever else happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Unknown fields are refused: a misspelt probability would silently be 0.
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ChaosSpec {
    pub seed: u64,
    /// InternalServerException (500); the operation does not run.
    pub internal_error: f64,
    /// ThrottlingException (429) with RetryAfterSeconds 1; the operation does not run.
    pub throttle: f64,
    /// Hold the call `slowMillis` before doing anything else.
    pub slow: f64,
    pub slow_millis: u64,
    /// Close the connection with no answer; the operation does not run.
    pub cut_before_processing: f64,
    /// Run the operation, then close the connection with no answer.
    pub cut_after_processing: f64,
    /// Operations chaos applies to; absent = every operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
}

impl Default for ChaosSpec {
    fn default() -> Self {
        Self {
            seed: 0,
            internal_error: 0.0,
            throttle: 0.0,
            slow: 0.0,
            slow_millis: DEFAULT_SLOW_MILLIS,
            cut_before_processing: 0.0,
            cut_after_processing: 0.0,
            operations: None,
        }
    }
}

/// Why a chaos spec was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChaosError {
    #[error("`{field}` is {value}; a probability is a number from 0 to 1")]
    NotAProbability { field: &'static str, value: f64 },
    #[error(
        "internalError + throttle + cutBeforeProcessing + cutAfterProcessing is {sum}; \
         they exclude each other, so their sum must be at most 1"
    )]
    ExclusiveSumAboveOne { sum: f64 },
    #[error("`operations` is empty, so chaos would never apply (omit it for every operation)")]
    NoOperations,
    #[error("`slow` is {slow} but `slowMillis` is 0")]
    SlowWithoutDelay { slow: f64 },
    #[error(
        "`operations` names {0:?}, which is not an operation the emulator serves, so chaos \
         would never apply to it"
    )]
    UnknownOperation(String),
}

impl ChaosSpec {
    /// A spec that does nothing yet, for the builder methods below.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    pub fn internal_error(mut self, probability: f64) -> Self {
        self.internal_error = probability;
        self
    }

    pub fn throttle(mut self, probability: f64) -> Self {
        self.throttle = probability;
        self
    }

    pub fn slow(mut self, probability: f64, millis: u64) -> Self {
        self.slow = probability;
        self.slow_millis = millis;
        self
    }

    pub fn cut_before_processing(mut self, probability: f64) -> Self {
        self.cut_before_processing = probability;
        self
    }

    pub fn cut_after_processing(mut self, probability: f64) -> Self {
        self.cut_after_processing = probability;
        self
    }

    /// Restricts chaos to these operations (e.g. `["SendActivationCode"]`).
    pub fn operations<I, S>(mut self, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.operations = Some(operations.into_iter().map(Into::into).collect());
        self
    }

    pub fn check(&self) -> Result<(), ChaosError> {
        let exclusive = [
            ("internalError", self.internal_error),
            ("throttle", self.throttle),
            ("cutBeforeProcessing", self.cut_before_processing),
            ("cutAfterProcessing", self.cut_after_processing),
        ];
        for (field, value) in exclusive.iter().copied().chain([("slow", self.slow)]) {
            if !(0.0..=1.0).contains(&value) {
                return Err(ChaosError::NotAProbability { field, value });
            }
        }
        let sum: f64 = exclusive.iter().map(|(_, p)| p).sum();
        // A little slack: 0.1 + 0.2 + 0.3 + 0.4 is not exactly 1 in floating point.
        if sum > 1.0 + 1e-9 {
            return Err(ChaosError::ExclusiveSumAboveOne { sum });
        }
        if self.operations.as_ref().is_some_and(Vec::is_empty) {
            return Err(ChaosError::NoOperations);
        }
        if let Some(unknown) = self
            .operations
            .iter()
            .flatten()
            .find(|op| Operation::from_name(op).is_none())
        {
            return Err(ChaosError::UnknownOperation(unknown.clone()));
        }
        if self.slow > 0.0 && self.slow_millis == 0 {
            return Err(ChaosError::SlowWithoutDelay { slow: self.slow });
        }
        Ok(())
    }

    fn applies_to(&self, operation: &str) -> bool {
        self.operations
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == operation))
    }

    /// The decision for draw `draw`: one uniform number picks among the exclusive
    /// outcomes by cumulative bands, an independent one decides slowness.
    pub fn decide(&self, draw: u64) -> ChaosDecision {
        let pick = unit(self.seed, draw, 0);
        let bands = [
            (self.internal_error, ChaosOutcome::InternalError),
            (self.throttle, ChaosOutcome::Throttle),
            (
                self.cut_before_processing,
                ChaosOutcome::CutBeforeProcessing,
            ),
            (self.cut_after_processing, ChaosOutcome::CutAfterProcessing),
        ];
        let mut upper = 0.0;
        let mut outcome = ChaosOutcome::Pass;
        for (probability, candidate) in bands {
            upper += probability;
            if pick < upper {
                outcome = candidate;
                break;
            }
        }
        let slow =
            (unit(self.seed, draw, 1) < self.slow).then(|| Duration::from_millis(self.slow_millis));
        ChaosDecision {
            draw,
            outcome,
            slow,
        }
    }
}

/// What chaos does to one call, besides possibly slowing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChaosOutcome {
    /// Nothing: the call is served normally (perhaps slowly).
    Pass,
    InternalError,
    Throttle,
    CutBeforeProcessing,
    CutAfterProcessing,
}

/// Chaos's decision for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaosDecision {
    /// Which draw (0, 1, ...) decided it; journaled as `chaosDraw`.
    pub draw: u64,
    pub outcome: ChaosOutcome,
    pub slow: Option<Duration>,
}

impl ChaosDecision {
    /// The decision as an injected fault, so the call takes the same path (and gets the
    /// same journal entry) as with `POST /_emulator/faults`; `None` when nothing applies.
    pub fn fault(&self) -> Option<FaultSpec> {
        let error = match self.outcome {
            ChaosOutcome::Pass => None,
            ChaosOutcome::InternalError => Some(FaultKind::InternalServerException),
            ChaosOutcome::Throttle => Some(FaultKind::ThrottlingException),
            ChaosOutcome::CutBeforeProcessing => Some(FaultKind::DropBeforeProcessing),
            ChaosOutcome::CutAfterProcessing => Some(FaultKind::DropAfterProcessing),
        };
        if error.is_none() && self.slow.is_none() {
            return None;
        }
        let millis = |delay: Duration| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        Some(FaultSpec {
            error,
            retry_after_seconds: (self.outcome == ChaosOutcome::Throttle)
                .then_some(CHAOS_RETRY_AFTER_SECONDS),
            latency_ms: self.slow.map(millis),
            ..FaultSpec::default()
        })
    }
}

/// How many calls got each decision so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChaosTally {
    pub pass: u64,
    pub internal_error: u64,
    pub throttle: u64,
    pub cut_before_processing: u64,
    pub cut_after_processing: u64,
    /// Calls held `slowMillis` (counted on top of their outcome).
    pub slow: u64,
}

/// Chaos in force, as `GET /_emulator/chaos` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChaosStatus {
    pub spec: ChaosSpec,
    /// Calls chaos has decided so far (the next draw's number).
    pub draws: u64,
    pub tally: ChaosTally,
}

/// Chaos mode in force: its spec and how far it has drawn.
#[derive(Debug, Clone)]
pub struct Chaos {
    status: ChaosStatus,
}

impl Chaos {
    /// Starts chaos at draw 0.
    pub fn start(spec: ChaosSpec) -> Result<Self, ChaosError> {
        spec.check()?;
        Ok(Self {
            status: ChaosStatus {
                spec,
                draws: 0,
                tally: ChaosTally::default(),
            },
        })
    }

    /// Decides a call of `operation`; `None` (no draw used) if chaos does not apply to it.
    pub fn draw(&mut self, operation: &str) -> Option<ChaosDecision> {
        if !self.status.spec.applies_to(operation) {
            return None;
        }
        let decision = self.status.spec.decide(self.status.draws);
        self.status.draws += 1;
        let tally = &mut self.status.tally;
        let counter = match decision.outcome {
            ChaosOutcome::Pass => &mut tally.pass,
            ChaosOutcome::InternalError => &mut tally.internal_error,
            ChaosOutcome::Throttle => &mut tally.throttle,
            ChaosOutcome::CutBeforeProcessing => &mut tally.cut_before_processing,
            ChaosOutcome::CutAfterProcessing => &mut tally.cut_after_processing,
        };
        *counter += 1;
        if decision.slow.is_some() {
            tally.slow += 1;
        }
        Some(decision)
    }

    pub fn status(&self) -> ChaosStatus {
        self.status.clone()
    }
}

/// A uniform number in `[0, 1)` from (seed, draw, lane): SplitMix64's finalizer chained
/// over the three, written out here so a seed means the same thing in every version.
fn unit(seed: u64, draw: u64, lane: u64) -> f64 {
    let hashed = mix(mix(mix(seed).wrapping_add(draw)).wrapping_add(lane));
    // The top 53 bits fill an f64 mantissa exactly.
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (hashed >> 11) as f64 * SCALE
}

fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use crate::faults::chaos::*;

    fn mixed(seed: u64) -> ChaosSpec {
        ChaosSpec::new(seed)
            .internal_error(0.1)
            .throttle(0.2)
            .cut_before_processing(0.1)
            .cut_after_processing(0.1)
            .slow(0.25, 40)
    }

    /// The same seed gives the same decisions; another seed gives others.
    #[test]
    fn decisions_replay_from_the_seed() {
        let run = |seed| {
            let mut chaos = Chaos::start(mixed(seed)).expect("valid");
            (0..200)
                .map(|_| chaos.draw("SendActivationCode").expect("applies"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().enumerate().all(|(n, d)| d.draw == n as u64));
    }

    /// Over many draws each outcome turns up about as often as its probability says.
    #[test]
    fn frequencies_follow_probabilities() {
        let mut chaos = Chaos::start(mixed(42)).expect("valid");
        let draws = 20_000;
        for _ in 0..draws {
            chaos.draw("X");
        }
        let tally = chaos.status().tally;
        let share = |count: u64| count as f64 / f64::from(draws);
        for (count, expected) in [
            (tally.internal_error, 0.1),
            (tally.throttle, 0.2),
            (tally.cut_before_processing, 0.1),
            (tally.cut_after_processing, 0.1),
            (tally.pass, 0.5),
            (tally.slow, 0.25),
        ] {
            assert!(
                (share(count) - expected).abs() < 0.02,
                "{tally:?}: {count} vs {expected}"
            );
        }
    }

    /// Probability 1 always applies, 0 never does.
    #[test]
    fn certain_and_impossible() {
        let always = ChaosSpec::new(1).throttle(1.0);
        let never = ChaosSpec::new(1).slow(0.0, 10);
        for draw in 0..1_000 {
            assert_eq!(always.decide(draw).outcome, ChaosOutcome::Throttle);
            assert_eq!(never.decide(draw).outcome, ChaosOutcome::Pass);
            assert_eq!(never.decide(draw).slow, None);
        }
    }

    /// Only the listed operations are decided, and they alone use up draws.
    #[test]
    fn operations_scope_chaos() {
        let spec = ChaosSpec::new(3)
            .internal_error(1.0)
            .operations(["SendActivationCode"]);
        let mut chaos = Chaos::start(spec).expect("valid");
        assert_eq!(chaos.draw("GetContactChannel"), None);
        assert_eq!(chaos.draw("SendActivationCode").map(|d| d.draw), Some(0));
        assert_eq!(chaos.status().draws, 1);
    }

    /// A decision becomes the fault the handler already knows; throttling says retry in 1s.
    #[test]
    fn decisions_as_faults() {
        let decision = |outcome, slow| ChaosDecision {
            draw: 0,
            outcome,
            slow,
        };
        assert_eq!(decision(ChaosOutcome::Pass, None).fault(), None);
        let slow = decision(ChaosOutcome::Pass, Some(Duration::from_millis(5)))
            .fault()
            .expect("latency");
        assert_eq!((slow.error, slow.latency_ms), (None, Some(5)));
        let throttle = decision(ChaosOutcome::Throttle, None)
            .fault()
            .expect("fault");
        assert_eq!(throttle.error, Some(FaultKind::ThrottlingException));
        assert_eq!(throttle.retry_after_seconds, Some(1));
        let cut = decision(ChaosOutcome::CutAfterProcessing, None)
            .fault()
            .expect("fault");
        assert_eq!(cut.error, Some(FaultKind::DropAfterProcessing));
        assert!(cut.check().is_ok());
    }

    /// Nonsense specs are refused with a reason.
    #[test]
    fn check_refuses_nonsense() {
        assert!(ChaosSpec::new(0).check().is_ok());
        assert!(mixed(0).check().is_ok());
        assert_eq!(
            ChaosSpec::new(0).throttle(1.5).check(),
            Err(ChaosError::NotAProbability {
                field: "throttle",
                value: 1.5
            })
        );
        assert!(matches!(
            ChaosSpec::new(0).slow(f64::NAN, 1).check(),
            Err(ChaosError::NotAProbability { field: "slow", .. })
        ));
        assert!(matches!(
            ChaosSpec::new(0).throttle(0.6).internal_error(0.6).check(),
            Err(ChaosError::ExclusiveSumAboveOne { .. })
        ));
        let exact = ChaosSpec::new(0)
            .internal_error(0.1)
            .throttle(0.2)
            .cut_before_processing(0.3)
            .cut_after_processing(0.4);
        assert!(exact.check().is_ok());
        assert_eq!(
            ChaosSpec::new(0).operations(Vec::<String>::new()).check(),
            Err(ChaosError::NoOperations)
        );
        assert!(matches!(
            ChaosSpec::new(0).slow(0.5, 0).check(),
            Err(ChaosError::SlowWithoutDelay { .. })
        ));
        assert_eq!(
            ChaosSpec::new(0)
                .operations(["GetContactChannel", "SendActivationCod"])
                .check(),
            Err(ChaosError::UnknownOperation("SendActivationCod".into()))
        );
        assert!(
            ChaosSpec::new(0)
                .operations(["GetContactChannel", "ActivateContactChannel"])
                .check()
                .is_ok()
        );
    }

    /// The admin JSON uses the documented camelCase names and refuses unknown ones.
    #[test]
    fn json_shape() {
        let spec: ChaosSpec = serde_json::from_value(serde_json::json!({
            "seed": 9, "internalError": 0.1, "throttle": 0.2, "slow": 0.3, "slowMillis": 50,
            "cutBeforeProcessing": 0.05, "cutAfterProcessing": 0.05,
            "operations": ["SendActivationCode"]
        }))
        .expect("parses");
        assert_eq!(
            spec,
            ChaosSpec::new(9)
                .internal_error(0.1)
                .throttle(0.2)
                .slow(0.3, 50)
                .cut_before_processing(0.05)
                .cut_after_processing(0.05)
                .operations(["SendActivationCode"])
        );
        let defaults: ChaosSpec =
            serde_json::from_value(serde_json::json!({"seed": 1})).expect("parses");
        assert_eq!(defaults, ChaosSpec::new(1));
        let typo = serde_json::from_value::<ChaosSpec>(serde_json::json!({"throtle": 1.0}));
        assert!(typo.is_err());
    }
}
