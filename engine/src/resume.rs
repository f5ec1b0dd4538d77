//! Resuming an execution that was interrupted: nodes whose outcome was
//! recorded are not run again — their recorded outcome is replayed in
//! their place (output, branch taken, variable changes, failure), so the
//! rest of the workflow sees exactly what it would have seen.

use std::collections::BTreeMap;
use std::time::Duration;

use plugin_abi::request::VariablesPatch;
use registry_core::{NodeExecution, NodeFailure, NodeStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A node's recorded outcome: the fields of a
/// [`NodeExecution`](registry_core::NodeExecution) the rest of the
/// workflow depends on. Reads the JSON a `NodeExecution` serialises to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedNode {
    /// Final status.
    pub status: NodeStatus,
    /// The output.
    #[serde(default)]
    pub output: Value,
    /// The output index the node chose, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// Its changes to the execution's variables.
    #[serde(default)]
    pub variables: VariablesPatch,
    /// Its failure, for `error` (or what a recovery covered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeFailure>,
}

impl RecordedNode {
    /// A node that failed with `failure` (for one that cannot be run
    /// again, say).
    pub fn failed(failure: NodeFailure) -> Self {
        Self {
            status: NodeStatus::Error,
            output: Value::Null,
            output_index: None,
            variables: VariablesPatch::default(),
            error: Some(failure),
        }
    }

    pub(crate) fn to_execution(&self) -> NodeExecution {
        NodeExecution {
            status: self.status,
            output: self.output.clone(),
            output_index: self.output_index,
            variables: self.variables.clone(),
            error: self.error.clone(),
            retries: 0,
            recovery_applied: false,
            fallback_node_type: None,
            duration: Duration::ZERO,
            retry_at_ms: None,
        }
    }
}

/// What an interrupted execution had done: recorded outcomes by node id,
/// and the retries already made by nodes whose next retry suspended the
/// execution. Passed as [`RunOptions::resume`](crate::RunOptions::resume).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Node id → its recorded outcome.
    pub completed: BTreeMap<String, RecordedNode>,
    /// Node id → retries it had made when its next retry was scheduled
    /// (see [`NodeExecution::retry_at_ms`](registry_core::NodeExecution::retry_at_ms)):
    /// the node runs again as that retry, its remaining retries intact.
    pub retries: BTreeMap<String, u32>,
}
