//! One problem that stops a workflow from running: what, where, what to do.

use serde::Serialize;

use registry_core::ErrorCode;

/// One problem that stops a workflow from running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The node concerned, if one is.
    pub node_id: Option<String>,
    /// The stable error code.
    pub code: ErrorCode,
    /// Where: a JSON path into the workflow or the node's parameters.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem with `code` at `path` (a JSON Pointer), about `node_id`.
    pub fn new(
        node_id: Option<&str>,
        code: ErrorCode,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            node_id: node_id.map(str::to_owned),
            code,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node_id {
            Some(id) => write!(
                f,
                "node `{id}` at {}: {} ({})",
                self.path, self.message, self.code
            ),
            None => write!(f, "at {}: {} ({})", self.path, self.message, self.code),
        }
    }
}
