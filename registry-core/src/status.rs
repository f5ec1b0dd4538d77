//! A node's status: one set of names for the registry's outcome of a call
//! and for the engine's record of a node in a workflow run.

use serde::{Deserialize, Serialize};

/// A node's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Ran and produced an output.
    Success,
    /// Ran (or could not start) and failed, after any recovery.
    Error,
    /// Not run: disabled, on a branch not taken, or skipped by recovery.
    Skipped,
    /// Not run: the workflow stopped before reaching it.
    Pending,
    /// Was running when the workflow was cancelled, timed out or stopped.
    Cancelled,
}

impl NodeStatus {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Success => "success",
            NodeStatus::Error => "error",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Pending => "pending",
            NodeStatus::Cancelled => "cancelled",
        }
    }
}
