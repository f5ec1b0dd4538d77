//! Stage 6: what happens to a failed attempt — retried (bounded, with
//! backoff, only for retryable failures), replaced by a fallback node
//! type, skipped, or left failed.

use std::time::{Duration, Instant};

use crate::call::NodeCall;
use crate::credentials::Secrets;
use crate::error::NodeFailure;
use crate::execution::NodeExecution;
use crate::recovery::{should_retry, RecoveryStrategy};
use crate::registry::Registry;
use crate::status::NodeStatus;

/// Whether recovery ran, whether it succeeded, and how long it took.
pub(super) type Recovery = Option<(bool, Duration)>;

/// Milliseconds since the Unix epoch, `delay` from now.
fn due_in(delay: Duration) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from((now + delay).as_millis()).unwrap_or(u64::MAX)
}

/// Whether a strategy never waits (so a call under it can run inline).
pub(super) fn completes_now(strategy: &RecoveryStrategy) -> bool {
    matches!(strategy, RecoveryStrategy::Fail | RecoveryStrategy::Skip)
}

/// The `skip` strategy applied synchronously.
pub(super) fn skip_if_asked(
    execution: &mut NodeExecution,
    strategy: &RecoveryStrategy,
    started: Instant,
) -> Recovery {
    if execution.status == NodeStatus::Error && *strategy == RecoveryStrategy::Skip {
        execution.skip();
        Some((true, started.elapsed()))
    } else {
        None
    }
}

impl Registry {
    /// Applies the call's strategy to a failed execution.
    pub(super) async fn recover(
        &self,
        execution: &mut NodeExecution,
        call: &NodeCall<'_>,
        secrets: &mut Secrets,
    ) -> Recovery {
        if execution.status != NodeStatus::Error {
            return None;
        }
        let started = Instant::now();
        match call.strategy {
            RecoveryStrategy::Fail => return None,
            RecoveryStrategy::Skip => execution.skip(),
            RecoveryStrategy::Retry { .. } => {
                if !self.retry(execution, call, secrets).await {
                    return None;
                }
            }
            RecoveryStrategy::Fallback { fallback_node_type } => {
                self.fall_back(execution, call, fallback_node_type, secrets)
                    .await
            }
        }
        Some((execution.status != NodeStatus::Error, started.elapsed()))
    }

    /// Retries while the failure is retryable and tries remain, waiting the
    /// backoff before each — or, when the backoff is longer than the call
    /// may wait, failing with the retry's due time for the host to suspend
    /// the execution. Returns whether any retry ran or was scheduled.
    async fn retry(
        &self,
        execution: &mut NodeExecution,
        call: &NodeCall<'_>,
        secrets: &mut Secrets,
    ) -> bool {
        let RecoveryStrategy::Retry {
            max_retries,
            backoff,
            any_execution_error,
            retry_codes,
        } = call.strategy
        else {
            return false;
        };
        while execution.retries < *max_retries
            && execution
                .error
                .as_ref()
                .is_some_and(|e| should_retry(e, *any_execution_error, retry_codes))
        {
            execution.retries += 1;
            let delay = backoff.delay(execution.retries);
            if call
                .suspend_retries_after
                .is_some_and(|after| delay > after)
            {
                execution.retry_at_ms = Some(due_in(delay));
                return true;
            }
            crate::runtime::sleep(delay).await;
            let result = self.attempt(call, secrets).await;
            let retries = execution.retries;
            *execution = NodeExecution::from_attempt(result);
            execution.retries = retries;
        }
        execution.recovery_applied =
            execution.retries > 0 && execution.status == NodeStatus::Success;
        execution.retries > call.retries_done
    }

    /// Runs the fallback node type with the same call; its output replaces
    /// the failure, or both failures are named.
    async fn fall_back(
        &self,
        execution: &mut NodeExecution,
        call: &NodeCall<'_>,
        fallback_node_type: &str,
        secrets: &mut Secrets,
    ) {
        let fallback = NodeCall {
            node_type: fallback_node_type,
            ..*call
        };
        match self.attempt(&fallback, secrets).await {
            Ok(output) => {
                let mut recovered = NodeExecution::from_attempt(Ok(output));
                recovered.recovery_applied = true;
                recovered.fallback_node_type = Some(fallback_node_type.to_owned());
                recovered.error = execution.error.take();
                *execution = recovered;
            }
            Err(failure) => {
                let original = execution.error.take();
                execution.error = Some(NodeFailure {
                    message: format!(
                        "{}; fallback `{fallback_node_type}` also failed: {}",
                        original.as_ref().map(|e| e.message.as_str()).unwrap_or(""),
                        failure.message
                    ),
                    ..original.unwrap_or(failure)
                });
            }
        }
    }
}
