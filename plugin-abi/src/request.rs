//! The JSON documents exchanged by `NodeExecutor::execute`: the plugin
//! receives a [`NodeRequest`] and answers with a [`NodeOutput`]. Both are
//! tolerant of fields they do not know, so either side can grow.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who runs the node: tenant, user and execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecContext {
    /// The tenant the execution belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user on whose behalf it runs (free-form, often `{"id": ...}`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub user: Value,
    /// The execution's id.
    #[serde(default)]
    pub execution_id: String,
    /// The host records this execution and resumes it after a crash, so a
    /// node may be run again with the same execution id: a node with side
    /// effects should then make them once per execution id and node id
    /// (the built-in `dbal-write` does). Absent (older hosts): `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumable: bool,
}

/// One execution of a node, as the plugin receives it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRequest {
    /// The node type being executed.
    #[serde(default)]
    pub node_type: String,
    /// The node's id in its workflow.
    #[serde(default)]
    pub node_id: String,
    /// The node's parameters, templates already resolved.
    #[serde(default)]
    pub parameters: Value,
    /// The node's input from its predecessors (`$input`): the single
    /// predecessor's output, or an object keyed by predecessor id at a
    /// join; the trigger data for a start node.
    #[serde(default)]
    pub input: Value,
    /// The execution's trigger data (`$json` in templates). Sent only to
    /// nodes whose parameters hold per-item expressions that read `$json`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub trigger: Value,
    /// The execution's deadline, milliseconds since the Unix epoch: long
    /// loops inside a node should stop (with `EXECUTION_TIMEOUT`) once it
    /// has passed. `None`: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The largest output (JSON bytes) the host accepts; `None`: the
    /// default of 16 MiB. A node that can tell its output would be larger
    /// should refuse before building it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// Tenant, user and execution.
    #[serde(default)]
    pub context: ExecContext,
    /// The execution's variables (`$vars`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
    /// Credentials the node is bound to, resolved from its tenant's store:
    /// slot name → credential fields. Secret values never appear in results
    /// or logs: the host masks them.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub credentials: Map<String, Value>,
    /// Host configuration for this node type (a database path, an egress
    /// allowlist, ...), set by the operator, never by the workflow.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
}

/// Changes a node makes to the execution's variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariablesPatch {
    /// Remove every variable first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
    /// Variables to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    /// Variables to set (after `clear` and `delete`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
}

impl VariablesPatch {
    /// `true` when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.clear && self.delete.is_empty() && self.set.is_empty()
    }
}

/// A node's successful result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeOutput {
    /// The node's output (`$json` of its successors).
    #[serde(default)]
    pub output: Value,
    /// The output index whose connections are followed (0 = true, 1 =
    /// false for conditions); `None` follows every main output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// Changes to the execution's variables.
    #[serde(default, skip_serializing_if = "VariablesPatch::is_empty")]
    pub variables: VariablesPatch,
}
