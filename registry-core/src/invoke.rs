//! One call of a node type's executor through the plugin boundary:
//! parameter check, request serialisation, the call, response parsing.

use plugin_abi::request::{ExecContext, ExecRequestRef, ExecResponse};
use plugin_abi::PluginError;
use serde_json::{Map, Value};

use crate::error::{ErrorCode, NodeFailure, ValidationIssue};
use crate::registry::{RegisteredNode, Registry};

/// The data one node execution needs.
#[derive(Debug, Clone, Copy)]
pub struct NodeCall<'a> {
    /// The node's id in its workflow.
    pub node_id: &'a str,
    /// Parameters, templates resolved.
    pub parameters: &'a Value,
    /// The input item (`$json`).
    pub input: &'a Value,
    /// Tenant, user, execution.
    pub context: &'a ExecContext,
    /// The execution's variables.
    pub variables: &'a Map<String, Value>,
}

impl Registry {
    /// Runs `node_type` once: checks the parameters against its schema and
    /// required fields, then calls its executor.
    ///
    /// An unknown node type is `NODE_TYPE_NOT_FOUND`; bad parameters are
    /// `VALIDATION_FAILED` with every problem and its JSON path.
    pub fn invoke(&self, node_type: &str, call: NodeCall<'_>) -> Result<ExecResponse, NodeFailure> {
        let node = self
            .get(node_type)
            .ok_or_else(|| NodeFailure::not_found(node_type))?;
        check_parameters(&node, call.parameters)?;
        call_executor(&node, call)
    }
}

/// Checks `parameters` against the node type's required fields and schema.
pub fn check_parameters(node: &RegisteredNode, parameters: &Value) -> Result<(), NodeFailure> {
    let issues = parameter_issues(node, parameters);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(NodeFailure::validation(node.metadata().node_type(), issues))
    }
}

/// Every problem with `parameters`, each with its JSON Pointer.
pub fn parameter_issues(node: &RegisteredNode, parameters: &Value) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    for field in &node.metadata().manifest.required_fields {
        if parameters.get(field).is_none_or(Value::is_null) {
            issues.push(ValidationIssue {
                path: format!("/{field}"),
                message: "is required".to_owned(),
            });
        }
    }
    let empty = Value::Object(Map::new());
    let instance = if parameters.is_null() { &empty } else { parameters };
    issues.extend(node.schema().iter_errors(instance).map(|e| ValidationIssue {
        path: e.instance_path().as_str().to_owned(),
        message: e.to_string(),
    }));
    issues
}

/// Calls the executor across the boundary (no parameter check).
pub fn call_executor(node: &RegisteredNode, call: NodeCall<'_>) -> Result<ExecResponse, NodeFailure> {
    let node_type = node.metadata().node_type();
    let request = ExecRequestRef {
        node_type,
        node_id: call.node_id,
        parameters: call.parameters,
        input: call.input,
        context: call.context,
        variables: call.variables,
    };
    let text = serde_json::to_string(&request).map_err(|e| {
        NodeFailure::new(
            ErrorCode::InvalidParameters,
            format!("request for `{node_type}` cannot be serialised: {e}"),
        )
    })?;
    match node.executor().execute(text.as_str().into()) {
        abi_stable::std_types::RResult::ROk(output) => {
            serde_json::from_str::<ExecResponse>(output.as_str()).map_err(|e| {
                NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!(
                        "executor of `{node_type}` returned malformed output ({e}); this is a bug in its plugin"
                    ),
                )
            })
        }
        abi_stable::std_types::RResult::RErr(error) => Err(from_plugin_error(node_type, error)),
    }
}

/// Converts a plugin's error, keeping unknown codes visible in the message.
pub fn from_plugin_error(node_type: &str, error: PluginError) -> NodeFailure {
    let details = if error.details.is_empty() {
        None
    } else {
        serde_json::from_str(error.details.as_str()).ok()
    };
    let (code, message) = match ErrorCode::parse(error.code.as_str()) {
        Some(code) => (code, error.message.into_string()),
        None => (
            ErrorCode::ExecutionError,
            format!(
                "{} (plugin of `{node_type}` used unknown error code `{}`)",
                error.message, error.code
            ),
        ),
    };
    NodeFailure {
        code,
        message,
        retryable: error.retryable,
        details,
        validation_errors: Vec::new(),
    }
}
