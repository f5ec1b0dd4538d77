//! What one call of a node type through the pipeline produced.

use std::time::Duration;

use plugin_abi::request::{NodeOutput, VariablesPatch};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ErrorCode, NodeFailure};
use crate::status::NodeStatus;

/// The outcome of [`Registry::execute`](crate::Registry::execute): a status
/// of `success`, `error` or `skipped`, the output, and what recovery did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeExecution {
    /// Final status.
    pub status: NodeStatus,
    /// The output (`{}` when skipped, `null` on error).
    pub output: Value,
    /// The output index the node chose, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// Changes to the execution's variables.
    #[serde(skip_serializing_if = "VariablesPatch::is_empty")]
    pub variables: VariablesPatch,
    /// The final error, when the status is `error` (or the error a `skip`
    /// or successful recovery covered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeFailure>,
    /// Retries made.
    pub retries: u32,
    /// Whether a recovery strategy produced the outcome.
    pub recovery_applied: bool,
    /// The fallback node type that produced the output, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_node_type: Option<String>,
    /// Wall time, including retries and recovery.
    #[serde(serialize_with = "duration_ms")]
    pub duration: Duration,
    /// When the node failed and its next retry is due later than the
    /// call's [`suspend_retries_after`](crate::NodeCall::suspend_retries_after)
    /// allows it to wait: when that retry is due (milliseconds since the
    /// Unix epoch). The host suspends the execution until then and runs
    /// the node again with [`NodeCall::retries_done`](crate::NodeCall::retries_done)
    /// set to [`retries`](Self::retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
}

fn duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

impl NodeExecution {
    /// An outcome of one attempt: the plugin's output, or a failure.
    pub fn from_attempt(result: Result<NodeOutput, NodeFailure>) -> Self {
        match result {
            Ok(output) => Self {
                output: output.output,
                output_index: output.output_index,
                variables: output.variables,
                ..Self::failed_with(None)
            }
            .with_status(NodeStatus::Success),
            Err(failure) => Self::failed_with(Some(failure)),
        }
    }

    /// A failed outcome with `failure`.
    pub fn failed(failure: NodeFailure) -> Self {
        Self::failed_with(Some(failure))
    }

    fn failed_with(error: Option<NodeFailure>) -> Self {
        Self {
            status: NodeStatus::Error,
            output: Value::Null,
            output_index: None,
            variables: VariablesPatch::default(),
            error,
            retries: 0,
            recovery_applied: false,
            fallback_node_type: None,
            duration: Duration::ZERO,
            retry_at_ms: None,
        }
    }

    fn with_status(mut self, status: NodeStatus) -> Self {
        self.status = status;
        self
    }

    /// A successful outcome with `output`.
    pub fn success(output: Value) -> Self {
        Self {
            output,
            ..Self::failed_with(None)
        }
        .with_status(NodeStatus::Success)
    }

    /// The error code, when the node ended in error.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self.status {
            NodeStatus::Error => self.error.as_ref().map(|e| e.code),
            _ => None,
        }
    }
}
