//! One call of a node type's executor through the plugin boundary: the
//! request serialised once, the call, the response parsed once.

use plugin_abi::request::{ExecContext, ExecRequestRef, ExecResponse};
use plugin_abi::PluginError;
use serde_json::{Map, Value};

use abi_stable::std_types::{RResult, RString};

use crate::error::{ErrorCode, NodeFailure, ValidationIssue};
use crate::registry::RegisteredNode;

/// The data one node execution needs at the boundary.
#[derive(Debug, Clone, Copy)]
pub struct NodeCall<'a> {
    /// The node's id in its workflow.
    pub node_id: &'a str,
    /// Parameters, templates resolved.
    pub parameters: &'a Value,
    /// The node's input (`$input`).
    pub input: &'a Value,
    /// The trigger data, sent to nodes whose per-item expressions read it.
    pub trigger: Option<&'a Value>,
    /// The execution's deadline, milliseconds since the Unix epoch.
    pub deadline_ms: Option<u64>,
    /// The output limit, when it is not the default.
    pub max_output_bytes: Option<u64>,
    /// Tenant, user, execution.
    pub context: &'a ExecContext,
    /// The execution's variables.
    pub variables: &'a Map<String, Value>,
}

impl crate::Registry {
    /// Runs `node_type` once, synchronously, without the tenant, recovery,
    /// audit and metrics stages: lookup, cached parameter validation, the
    /// call. For hosts that do their own policy, and for measuring the
    /// boundary. [`crate::Registry::execute`] is the full pipeline.
    pub fn invoke(&self, node_type: &str, call: NodeCall<'_>) -> Result<ExecResponse, NodeFailure> {
        let node = self
            .get(node_type)
            .ok_or_else(|| NodeFailure::not_found(node_type))?;
        self.validate_parameters(&node, call.node_id, call.parameters)?;
        let answer = with_request_text(node_type, call, &Map::new(), &node.config(), |text| {
            node.executor().execute(text.into())
        })?;
        parse_response(node_type, answer, self.config().max_output_bytes)
    }
}

/// Serialises the request a plugin receives.
pub fn request_text(
    node_type: &str,
    call: NodeCall<'_>,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<String, NodeFailure> {
    let mut buffer = Vec::with_capacity(TYPICAL_REQUEST_BYTES);
    write_request(&mut buffer, node_type, call, credentials, config)?;
    String::from_utf8(buffer).map_err(|e| not_serialisable(node_type, e))
}

/// A request of a small node fits without the buffer growing.
const TYPICAL_REQUEST_BYTES: usize = 512;
/// A per-thread buffer larger than this is not kept after a call.
const KEPT_BUFFER_BYTES: usize = 64 * 1024;

thread_local! {
    /// The serialised request of the call in progress on this thread:
    /// reused, so an inline call allocates nothing for its request text.
    static REQUEST_BUFFER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(TYPICAL_REQUEST_BYTES));
}

/// Serialises the request into this thread's reused buffer and hands the
/// text to `call_plugin` (for inline calls; a call moved to another thread
/// takes [`request_text`]).
pub fn with_request_text<R>(
    node_type: &str,
    call: NodeCall<'_>,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
    call_plugin: impl FnOnce(&str) -> R,
) -> Result<R, NodeFailure> {
    REQUEST_BUFFER.with(|cell| {
        // Re-entered on this thread (a node run from inside a node):
        // fall back to a buffer of its own.
        let Ok(mut buffer) = cell.try_borrow_mut() else {
            let text = request_text(node_type, call, credentials, config)?;
            return Ok(call_plugin(&text));
        };
        buffer.clear();
        write_request(&mut buffer, node_type, call, credentials, config)?;
        let outcome = match std::str::from_utf8(&buffer) {
            Ok(text) => Ok(call_plugin(text)),
            Err(e) => Err(not_serialisable(node_type, e)),
        };
        if buffer.capacity() > KEPT_BUFFER_BYTES {
            *buffer = Vec::with_capacity(TYPICAL_REQUEST_BYTES);
        }
        outcome
    })
}

fn write_request(
    buffer: &mut Vec<u8>,
    node_type: &str,
    call: NodeCall<'_>,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<(), NodeFailure> {
    let request = ExecRequestRef {
        node_type,
        node_id: call.node_id,
        parameters: call.parameters,
        input: call.input,
        trigger: call.trigger,
        deadline_ms: call.deadline_ms,
        max_output_bytes: call.max_output_bytes,
        context: call.context,
        variables: call.variables,
        credentials,
        config,
    };
    serde_json::to_writer(buffer, &request).map_err(|e| not_serialisable(node_type, e))
}

fn not_serialisable(node_type: &str, e: impl std::fmt::Display) -> NodeFailure {
    NodeFailure::new(
        ErrorCode::InvalidParameters,
        format!("request for `{node_type}` cannot be serialised: {e}"),
    )
}

/// Parses an executor's answer; output larger than `max_output_bytes` or
/// not matching the response shape is an `EXECUTION_ERROR`.
pub fn parse_response(
    node_type: &str,
    answer: RResult<RString, PluginError>,
    max_output_bytes: usize,
) -> Result<ExecResponse, NodeFailure> {
    match answer {
        RResult::ROk(output) => {
            if output.len() > max_output_bytes {
                return Err(NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!(
                        "output of `{node_type}` is {} bytes, over the {max_output_bytes}-byte limit; it was discarded (raise the output limit or make the node return less)",
                        output.len()
                    ),
                ));
            }
            serde_json::from_str::<ExecResponse>(output.as_str()).map_err(|e| {
                NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!("executor of `{node_type}` returned malformed output ({e}); this is a bug in its plugin"),
                )
            })
        }
        RResult::RErr(error) => Err(from_plugin_error(node_type, error)),
    }
}

/// Checks `parameters` against the node type's required fields and schema
/// (uncached; the pipeline caches the result).
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
    let instance = if parameters.is_null() {
        &empty
    } else {
        parameters
    };
    issues.extend(
        node.schema()
            .iter_errors(instance)
            .map(|e| ValidationIssue {
                path: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            }),
    );
    issues
}

/// Converts a plugin's error, keeping unknown codes visible in the message.
pub fn from_plugin_error(node_type: &str, error: PluginError) -> NodeFailure {
    let details = if error.details.is_empty() {
        None
    } else {
        serde_json::from_str(error.details.as_str())
            .ok()
            .map(Box::new)
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
