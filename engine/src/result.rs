//! What an execution produces: one [`NodeResult`] per node, a final status
//! and metrics. Serialisable as JSON.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Serialize, Serializer};
use serde_json::Value;

use registry_core::{ErrorCode, NodeStatus, ValidationIssue};

fn rfc3339<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => {
            let text = crate::timestamp::rfc3339_millis(*t);
            // Digits and ASCII punctuation only: always UTF-8.
            s.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
        }
        None => s.serialize_none(),
    }
}

/// One node's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResult {
    /// Final status.
    pub status: NodeStatus,
    /// Output (`null` when none).
    pub output: Value,
    /// The error message, when it failed.
    pub error: Option<String>,
    /// The stable error code, when it failed.
    pub error_code: Option<ErrorCode>,
    /// When it started.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<SystemTime>,
    /// When it finished.
    #[serde(serialize_with = "rfc3339")]
    pub finished_at: Option<SystemTime>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Retries made.
    pub retries: u32,
    /// Whether a recovery strategy produced the result.
    pub recovery_applied: bool,
    /// The fallback node type that produced the output, if any.
    pub fallback_node_type: Option<String>,
    /// Schema violations, when validation failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<ValidationIssue>,
    /// Why it was skipped or left pending, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// References in its parameters that resolved to nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<RunWarning>,
}

/// A reference that resolved to nothing while a node's parameters were
/// rendered (it rendered as `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWarning {
    /// `UNRESOLVED_REFERENCE` (a template resolved to nothing) or
    /// `DEGRADED_INPUT` (a predecessor failed and continued: the input
    /// holds its error).
    pub code: &'static str,
    /// JSON Pointer of the parameter, from the node.
    pub path: String,
    /// The expression as written (empty for `DEGRADED_INPUT`).
    pub expression: String,
    /// What happened.
    pub message: String,
}

impl NodeResult {
    pub(crate) fn pending() -> Self {
        Self {
            status: NodeStatus::Pending,
            output: Value::Null,
            error: None,
            error_code: None,
            started_at: None,
            finished_at: None,
            duration_ms: 0.0,
            retries: 0,
            recovery_applied: false,
            fallback_node_type: None,
            validation_errors: Vec::new(),
            reason: None,
            warnings: Vec::new(),
        }
    }
}

/// How the whole execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every node that ran succeeded or had its error handled.
    Success,
    /// A node failed with `stopWorkflow`.
    Error,
    /// Cancelled, or over the execution timeout.
    Cancelled,
}

/// Counters over one execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMetrics {
    /// Nodes that ran (success or error).
    pub nodes_run: usize,
    /// Nodes that succeeded.
    pub nodes_succeeded: usize,
    /// Nodes that failed.
    pub nodes_failed: usize,
    /// Nodes skipped.
    pub nodes_skipped: usize,
    /// Nodes never reached.
    pub nodes_pending: usize,
    /// Nodes cancelled while running.
    pub nodes_cancelled: usize,
    /// Retries over all nodes.
    pub retries: u32,
    /// Wall time of the execution, milliseconds.
    pub total_ms: f64,
    /// Sum of node durations, milliseconds.
    pub node_ms: f64,
}

/// The result of one execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResult {
    /// The execution's id.
    pub execution_id: String,
    /// The workflow's id.
    pub workflow_id: String,
    /// Final status.
    pub status: RunStatus,
    /// Why it is not a success, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per node id.
    pub nodes: BTreeMap<String, NodeResult>,
    /// Node ids in the order they reached their final status (nodes never
    /// reached are not listed).
    pub execution_order: Vec<String>,
    /// Counters.
    pub metrics: RunMetrics,
}
