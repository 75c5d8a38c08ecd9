//! Injected faults (errors, broken answers, cut connections, latency) and the request-rate
//! quota, both decided before an operation runs.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::protocol::wire::{ASSUME_ROLE, AwsError, Operation, ValidationReason};

/// What an injected fault makes the emulator answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    ThrottlingException,
    InternalServerException,
    ServiceQuotaExceededException,
    AccessDeniedException,
    DataEncryptionException,
    ResourceNotFoundException,
    ValidationException,
    /// An HTML `502 Bad Gateway` page, as a proxy in front of AWS sends; nothing is done.
    Html502,
    /// The operation runs, then the answer's body is cut mid-JSON (status 200 by default).
    MalformedJson,
    /// The connection closes with no answer; nothing is done.
    DropBeforeProcessing,
    /// The operation runs and is journaled, then the connection closes with no answer:
    /// the client cannot know the outcome.
    DropAfterProcessing,
}

impl FaultKind {
    /// Whether an STS AssumeRole call can answer this kind: STS has no quota, encryption
    /// or not-found error for it. A fault of another kind never applies to AssumeRole.
    pub fn applies_to_sts(self) -> bool {
        !matches!(
            self,
            FaultKind::ServiceQuotaExceededException
                | FaultKind::DataEncryptionException
                | FaultKind::ResourceNotFoundException
        )
    }

    /// Whether the operation itself runs when this fault applies.
    pub fn runs_operation(self) -> bool {
        matches!(
            self,
            FaultKind::MalformedJson | FaultKind::DropAfterProcessing
        )
    }
}

/// A fault to inject (`POST /_emulator/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSpec {
    /// Operation name (e.g. `SendActivationCode`, or STS `AssumeRole`); absent matches
    /// every operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The call's `ContactChannelId`; absent matches every call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_arn: Option<String>,
    /// What to answer; absent (with `latencyMs`) only slows the call down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultKind>,
    /// `RetryAfterSeconds` in ThrottlingException and InternalServerException bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
    /// Delay before answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Apply to the next N matching calls, then expire; absent = until cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Overrides the error's `Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Overrides the HTTP status of `Html502` (502) and `MalformedJson` (200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

impl FaultSpec {
    /// A fault answering `error` to every call of `operation`.
    pub fn error(operation: &str, error: FaultKind) -> Self {
        Self {
            operation: Some(operation.to_string()),
            error: Some(error),
            ..Self::default()
        }
    }

    pub fn for_channel(mut self, channel_arn: &str) -> Self {
        self.channel_arn = Some(channel_arn.to_string());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn latency(mut self, millis: u64) -> Self {
        self.latency_ms = Some(millis);
        self
    }

    /// Refuses specs that would do nothing or could never apply.
    pub fn check(&self) -> Result<(), String> {
        if self.error.is_none() && self.latency_ms.is_none() {
            return Err("a fault needs an `error`, a `latencyMs`, or both".into());
        }
        if let Some(operation) = &self.operation
            && operation != ASSUME_ROLE
            && Operation::from_name(operation).is_none()
        {
            return Err(format!(
                "`operation` {operation:?} is not one the emulator serves ({}, {ASSUME_ROLE}), \
                 so the fault would never apply",
                Operation::ALL.map(Operation::name).join(", ")
            ));
        }
        if self.operation.as_deref() == Some(ASSUME_ROLE)
            && let Some(kind) = self.error.filter(|kind| !kind.applies_to_sts())
        {
            return Err(format!(
                "STS has no {kind:?} for {ASSUME_ROLE}, so the fault would never apply"
            ));
        }
        if self.operation.as_deref() == Some(ASSUME_ROLE) && self.channel_arn.is_some() {
            return Err(format!(
                "{ASSUME_ROLE} names no channel, so a fault with `channelArn` would never apply"
            ));
        }
        if self.times == Some(0) {
            return Err("`times` must be at least 1 (omit it for a fault that stays)".into());
        }
        if let Some(status) = self.http_status
            && !(100..=599).contains(&status)
        {
            return Err(format!("`httpStatus` {status} is not an HTTP status"));
        }
        Ok(())
    }

    fn matches(&self, operation: &str, channel_arn: Option<&str>) -> bool {
        self.operation.as_deref().is_none_or(|op| op == operation)
            && self
                .channel_arn
                .as_deref()
                .is_none_or(|arn| Some(arn) == channel_arn)
            && (operation != ASSUME_ROLE || self.error.is_none_or(FaultKind::applies_to_sts))
    }

    /// The error answer of a modeled-error fault; `None` for the other kinds.
    pub fn aws_error(&self, channel_arn: Option<&str>) -> Option<AwsError> {
        let message = |default: &str| self.message.clone().unwrap_or_else(|| default.into());
        let resource = channel_arn.unwrap_or("").to_string();
        Some(match self.error? {
            FaultKind::ThrottlingException => AwsError::Throttling {
                message: message("Rate exceeded"),
                quota_code: Some("L-EMULATOR-INJECTED".into()),
                retry_after_seconds: self.retry_after_seconds,
            },
            FaultKind::InternalServerException => AwsError::InternalServer {
                message: message("An internal error occurred (injected by the emulator)."),
                retry_after_seconds: self.retry_after_seconds,
            },
            FaultKind::ServiceQuotaExceededException => AwsError::ServiceQuotaExceeded {
                message: message("Service quota exceeded (injected by the emulator)."),
                quota_code: "L-EMULATOR-INJECTED".into(),
                resource_id: Some(resource),
                resource_type: Some("CONTACT_CHANNEL".into()),
            },
            FaultKind::AccessDeniedException => AwsError::AccessDenied {
                message: message("User is not authorized to perform this action (injected)."),
            },
            FaultKind::DataEncryptionException => AwsError::DataEncryption {
                message: message("The KMS key could not be used (injected by the emulator)."),
            },
            FaultKind::ResourceNotFoundException => AwsError::ResourceNotFound {
                message: message("Contact channel not found (injected by the emulator)."),
                resource_id: resource,
                resource_type: "CONTACT_CHANNEL".into(),
            },
            FaultKind::ValidationException => AwsError::Validation {
                message: message("Invalid request (injected by the emulator)."),
                reason: ValidationReason::Other,
                fields: Vec::new(),
            },
            FaultKind::Html502
            | FaultKind::MalformedJson
            | FaultKind::DropBeforeProcessing
            | FaultKind::DropAfterProcessing => return None,
        })
    }
}

/// A fault in force, as listed by `GET /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls it still applies to; absent = until cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// Calls it has applied to so far.
    pub hits: u64,
}

/// The faults in force, oldest first.
#[derive(Debug, Default)]
pub struct FaultBook {
    faults: Vec<ActiveFault>,
    next_id: u64,
}

impl FaultBook {
    pub fn add(&mut self, spec: FaultSpec) -> u64 {
        self.next_id += 1;
        self.faults.push(ActiveFault {
            id: self.next_id,
            remaining: spec.times,
            spec,
            hits: 0,
        });
        self.next_id
    }

    pub fn list(&self) -> Vec<ActiveFault> {
        self.faults.clone()
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.faults.len();
        self.faults.retain(|fault| fault.id != id);
        self.faults.len() != before
    }

    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The oldest fault matching the call, counted as used (and dropped when used up).
    /// One fault applies per call, so a test can queue `times`-limited faults in order.
    pub fn take(&mut self, operation: &str, channel_arn: Option<&str>) -> Option<FaultSpec> {
        let index = self
            .faults
            .iter()
            .position(|fault| fault.spec.matches(operation, channel_arn))?;
        let fault = &mut self.faults[index];
        fault.hits += 1;
        let spec = fault.spec.clone();
        if let Some(remaining) = fault.remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.faults.remove(index);
            }
        }
        Some(spec)
    }
}

/// A request-rate quota (`PUT /_emulator/quota`) over SendActivationCode calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Tokens added per second.
    pub rate_per_second: f64,
    /// Bucket size: calls allowed at once after a quiet period.
    pub burst: u32,
    /// `RetryAfterSeconds` in the ThrottlingException; absent = not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
    /// A quota of this region alone (AWS quotas hold per account and region): calls signed
    /// for it count here, and no longer against the quota without a region. Absent: the
    /// quota of every region that has none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Quota {
    pub fn check(&self) -> Result<(), String> {
        if !self.rate_per_second.is_finite() || self.rate_per_second < 0.0 {
            return Err("`ratePerSecond` must be a finite number >= 0".into());
        }
        if self.burst == 0 {
            return Err("`burst` must be at least 1".into());
        }
        Ok(())
    }

    /// The answer to a call over the quota.
    pub fn throttled(&self) -> AwsError {
        AwsError::Throttling {
            message: "Rate exceeded".into(),
            quota_code: Some("L-EMULATOR-SEND-ACTIVATION-CODE-RATE".into()),
            retry_after_seconds: self.retry_after_seconds,
        }
    }
}

/// A token bucket, full when created.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    pub quota: Quota,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub fn new(quota: Quota, now: Instant) -> Self {
        Self {
            tokens: f64::from(quota.burst),
            quota,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.quota.rate_per_second).min(f64::from(self.quota.burst));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The delay a fault asks for.
pub fn latency(spec: &FaultSpec) -> Option<Duration> {
    spec.latency_ms.map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use crate::faults::injected::*;

    /// A bucket allows `burst` calls at once, then one per 1/rate seconds.
    #[test]
    fn bucket_allows_burst_then_rate() {
        let start = Instant::now();
        let quota = Quota {
            rate_per_second: 2.0,
            burst: 3,
            retry_after_seconds: Some(5),
            region: None,
        };
        let mut bucket = TokenBucket::new(quota.clone(), start);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        assert!(!bucket.try_take(start + Duration::from_millis(400)));
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(500)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
        assert_eq!(
            quota.throttled(),
            AwsError::Throttling {
                message: "Rate exceeded".into(),
                quota_code: Some("L-EMULATOR-SEND-ACTIVATION-CODE-RATE".into()),
                retry_after_seconds: Some(5),
            }
        );
    }

    /// Invalid quotas are refused.
    #[test]
    fn quota_check_refuses_nonsense() {
        let quota = |rate, burst| Quota {
            rate_per_second: rate,
            burst,
            retry_after_seconds: None,
            region: None,
        };
        assert!(quota(1.0, 1).check().is_ok());
        assert!(quota(0.0, 1).check().is_ok());
        assert!(quota(-1.0, 1).check().is_err());
        assert!(quota(f64::NAN, 1).check().is_err());
        assert!(quota(1.0, 0).check().is_err());
    }

    /// Faults match on operation and channel, oldest first, and expire after `times`.
    #[test]
    fn faults_match_in_order_and_expire() {
        let mut book = FaultBook::default();
        let arn = "arn:aws:ssm-contacts:us-east-1:1:contact-channel/a/1";
        let other = "arn:aws:ssm-contacts:us-east-1:1:contact-channel/a/2";
        book.add(
            FaultSpec::error("SendActivationCode", FaultKind::Html502)
                .for_channel(arn)
                .times(1),
        );
        book.add(FaultSpec::error("SendActivationCode", FaultKind::ThrottlingException).times(2));

        assert_eq!(book.take("GetContactChannel", Some(arn)), None);
        let first = book.take("SendActivationCode", Some(arn)).expect("match");
        assert_eq!(first.error, Some(FaultKind::Html502));
        // The Html502 fault is used up; the throttling one applies to any channel.
        let second = book.take("SendActivationCode", Some(arn)).expect("match");
        assert_eq!(second.error, Some(FaultKind::ThrottlingException));
        assert_eq!(book.list()[0].remaining, Some(1));
        assert_eq!(book.list()[0].hits, 1);
        assert!(book.take("SendActivationCode", Some(other)).is_some());
        assert_eq!(book.take("SendActivationCode", Some(other)), None);
        assert!(book.list().is_empty());
    }

    /// A fault with no operation or channel matches every call until cleared.
    #[test]
    fn unrestricted_fault_stays_until_cleared() {
        let mut book = FaultBook::default();
        let id = book.add(FaultSpec {
            latency_ms: Some(10),
            ..FaultSpec::default()
        });
        for op in ["CreateContact", "SendActivationCode"] {
            assert!(book.take(op, None).is_some());
        }
        assert_eq!(book.list()[0].hits, 2);
        // An unrestricted fault of a kind STS cannot answer passes AssumeRole by.
        let quota = book.add(FaultSpec {
            error: Some(FaultKind::ResourceNotFoundException),
            ..FaultSpec::default()
        });
        book.remove(id);
        assert_eq!(book.take("AssumeRole", None), None);
        assert!(book.take("GetContactChannel", None).is_some());
        assert!(book.remove(quota));
        let id = book.add(FaultSpec {
            latency_ms: Some(10),
            ..FaultSpec::default()
        });
        assert!(book.take("AssumeRole", None).is_some());
        assert!(book.remove(id));
        assert!(!book.remove(id));
        assert_eq!(book.take("CreateContact", None), None);
    }

    /// Specs that do nothing are refused; modeled errors carry their members.
    #[test]
    fn spec_check_and_error_members() {
        assert!(FaultSpec::default().check().is_err());
        assert!(
            FaultSpec::error("SendActivationCode", FaultKind::Html502)
                .times(0)
                .check()
                .is_err()
        );
        let typo = FaultSpec::error("GetContactChanel", FaultKind::AccessDeniedException);
        assert!(typo.check().is_err_and(|e| e.contains("GetContactChannel")));
        for op in ["GetContactChannel", "ActivateContactChannel", "AssumeRole"] {
            assert!(
                FaultSpec::error(op, FaultKind::AccessDeniedException)
                    .check()
                    .is_ok()
            );
        }
        // AssumeRole takes the kinds STS can answer, and no channel.
        let quota = FaultSpec::error("AssumeRole", FaultKind::ServiceQuotaExceededException);
        assert!(quota.check().is_err_and(|e| e.contains("STS has no")));
        let scoped = FaultSpec::error("AssumeRole", FaultKind::Html502).for_channel("arn:x");
        assert!(
            scoped
                .check()
                .is_err_and(|e| e.contains("names no channel"))
        );
        let throttle =
            FaultSpec::error("SendActivationCode", FaultKind::ThrottlingException).retry_after(9);
        assert!(throttle.check().is_ok());
        match throttle.aws_error(None) {
            Some(AwsError::Throttling {
                retry_after_seconds: Some(9),
                quota_code: Some(_),
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        let missing = FaultSpec::error("X", FaultKind::ResourceNotFoundException);
        match missing.aws_error(Some("arn:x")) {
            Some(AwsError::ResourceNotFound { resource_id, .. }) => {
                assert_eq!(resource_id, "arn:x")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            FaultSpec::error("X", FaultKind::DropAfterProcessing).aws_error(None),
            None
        );
        let json = serde_json::to_value(FaultSpec::error("SendActivationCode", FaultKind::Html502))
            .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"operation": "SendActivationCode", "error": "Html502"})
        );
    }
}
