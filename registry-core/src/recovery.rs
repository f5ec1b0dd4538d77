//! Error recovery strategies and retry backoff.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, NodeFailure};

/// How delays grow between retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffKind {
    /// `initial` every time (n8n's `waitBetweenTries`).
    Fixed,
    /// `initial * attempt`.
    Linear,
    /// `initial * 2^(attempt-1)`.
    #[default]
    Exponential,
    /// `initial * fib(attempt)` (1, 1, 2, 3, 5, ...).
    Fibonacci,
}

/// Retry delays: a growth kind, a first delay, a cap and a jitter fraction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// How delays grow.
    #[serde(default)]
    pub kind: BackoffKind,
    /// The delay before the first retry.
    #[serde(with = "millis")]
    pub initial: Duration,
    /// No delay is longer than this.
    #[serde(with = "millis")]
    pub max: Duration,
    /// Up to this fraction of each delay is subtracted at random (0 = none),
    /// so many clients retrying at once do not retry in lock-step.
    #[serde(default)]
    pub jitter: f64,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            kind: BackoffKind::Exponential,
            initial: Duration::from_millis(1000),
            max: Duration::from_secs(60),
            jitter: 0.0,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based), before jitter.
    ///
    /// ```
    /// use registry_core::{Backoff, BackoffKind};
    /// use std::time::Duration;
    /// let b = Backoff { kind: BackoffKind::Fibonacci, initial: Duration::from_millis(100),
    ///                   max: Duration::from_millis(450), jitter: 0.0 };
    /// let delays: Vec<u128> = (1..=6).map(|n| b.base_delay(n).as_millis()).collect();
    /// assert_eq!(delays, [100, 100, 200, 300, 450, 450]);
    /// ```
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let attempt = attempt.max(1);
        let factor: u64 = match self.kind {
            BackoffKind::Fixed => 1,
            BackoffKind::Linear => u64::from(attempt),
            BackoffKind::Exponential => 1u64.checked_shl(attempt - 1).unwrap_or(u64::MAX),
            BackoffKind::Fibonacci => {
                let (mut a, mut b) = (1u64, 1u64);
                for _ in 1..attempt {
                    (a, b) = (b, a.saturating_add(b));
                }
                a
            }
        };
        let factor = u32::try_from(factor).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry `attempt`, with jitter applied.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        // A fresh randomly keyed hasher is std's source of randomness.
        let random = RandomState::new().hash_one(attempt) as f64 / u64::MAX as f64;
        base.mul_f64(1.0 - jitter * random)
    }
}

/// What to do when a node fails. In workflow JSON (a node's `recovery`):
///
/// ```
/// use registry_core::{BackoffKind, RecoveryStrategy};
/// let retry: RecoveryStrategy = serde_json::from_str(r#"{"strategy": "retry", "maxRetries": 3,
///     "backoff": {"kind": "exponential", "initial": 100, "max": 2000}, "retryCodes": ["EXECUTION_TIMEOUT"]}"#).unwrap();
/// let RecoveryStrategy::Retry { max_retries, backoff, .. } = retry else { panic!() };
/// assert_eq!((max_retries, backoff.kind), (3, BackoffKind::Exponential));
/// let fallback: RecoveryStrategy =
///     serde_json::from_str(r#"{"strategy": "fallback", "fallbackNodeType": "transform"}"#).unwrap();
/// assert_eq!(fallback, RecoveryStrategy::Fallback { fallback_node_type: "transform".into() });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "strategy"
)]
pub enum RecoveryStrategy {
    /// Report the error (default).
    #[default]
    Fail,
    /// Mark the node `skipped` with an empty output.
    Skip,
    /// Run another node type instead (the tenant must be allowed to run it).
    Fallback {
        /// The node type to run.
        fallback_node_type: String,
    },
    /// Retry retryable errors, up to `max_retries` times.
    Retry {
        /// Retries after the first attempt.
        max_retries: u32,
        /// Delays between attempts.
        #[serde(default)]
        backoff: Backoff,
        /// Also retry execution errors the plugin did not mark retryable
        /// (n8n's retry-on-fail); policy and validation errors never are.
        #[serde(default)]
        any_execution_error: bool,
        /// Further stable codes to retry.
        #[serde(default)]
        retry_codes: Vec<ErrorCode>,
    },
}

/// Whether the `Retry` strategy retries `failure`.
pub fn should_retry(
    failure: &NodeFailure,
    any_execution_error: bool,
    retry_codes: &[ErrorCode],
) -> bool {
    is_retryable(failure)
        || (any_execution_error && failure.code == ErrorCode::ExecutionError)
        || retry_codes.contains(&failure.code)
}

/// Whether a failure may succeed on a new attempt: the plugin said so, or
/// it timed out. Policy, validation and configuration errors never are.
pub fn is_retryable(failure: &NodeFailure) -> bool {
    match failure.code {
        // The plugin host restarts after a crash; a new attempt may pass.
        ErrorCode::ExecutionTimeout | ErrorCode::PluginCrashed => true,
        ErrorCode::ExecutionError => failure.retryable,
        ErrorCode::NodeTypeNotFound
        | ErrorCode::NodeTypeDisabledForTenant
        | ErrorCode::ValidationFailed
        | ErrorCode::InvalidParameters
        | ErrorCode::CredentialMissing
        | ErrorCode::DependencyNotLoaded
        | ErrorCode::TenantMismatch
        | ErrorCode::ExpressionError
        | ErrorCode::PluginQuarantined
        | ErrorCode::AccessDenied => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_kinds_and_cap() {
        let mut b = Backoff {
            kind: BackoffKind::Linear,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(35),
            jitter: 0.0,
        };
        assert_eq!(
            (1..=5)
                .map(|n| b.base_delay(n).as_millis())
                .collect::<Vec<_>>(),
            [10, 20, 30, 35, 35]
        );
        b.kind = BackoffKind::Exponential;
        assert_eq!(
            (1..=4)
                .map(|n| b.base_delay(n).as_millis())
                .collect::<Vec<_>>(),
            [10, 20, 35, 35]
        );
        assert_eq!(b.base_delay(200), Duration::from_millis(35));
        b.jitter = 0.5;
        for n in 1..10 {
            let d = b.delay(n);
            assert!(d <= b.base_delay(n) && d >= b.base_delay(n) / 2, "{d:?}");
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(is_retryable(&NodeFailure::new(
            ErrorCode::ExecutionTimeout,
            "t"
        )));
        assert!(is_retryable(
            &NodeFailure::new(ErrorCode::ExecutionError, "e").retryable(true)
        ));
        assert!(!is_retryable(&NodeFailure::new(
            ErrorCode::ExecutionError,
            "e"
        )));
        assert!(!is_retryable(
            &NodeFailure::new(ErrorCode::ValidationFailed, "v").retryable(true)
        ));
    }
}
