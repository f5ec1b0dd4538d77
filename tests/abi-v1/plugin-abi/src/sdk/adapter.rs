//! Turns a safe [`Node`] into the FFI executor, containing panics.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};

use super::{runtime::panic_message, Node, NodeDescription, NodeRequest};
use crate::codes;
use crate::executor::{NodeExecutor, NodeExecutorBox, NodeExecutor_TO};
use crate::ffi::{PluginError, ValidationReport};

struct Adapter {
    node: Box<dyn Node>,
}

/// Wraps a [`Node`] as a [`NodeExecutorBox`], the form the host runs.
///
/// Plugins get this from [`crate::export_plugin!`]; hosts use it directly to
/// register executors written in-process (tests, embedded node types).
///
/// ```
/// use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
///
/// struct Echo;
/// impl Node for Echo {
///     fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
///         Ok(NodeOutput::new(request.input.clone()))
///     }
/// }
///
/// let executor = executor_box(Echo);
/// let out = executor.execute(r#"{"input": 42}"#.into()).unwrap();
/// assert_eq!(out.as_str(), r#"{"output":42}"#);
/// ```
pub fn executor_box(node: impl Node) -> NodeExecutorBox {
    boxed(Box::new(node))
}

pub(crate) fn boxed(node: Box<dyn Node>) -> NodeExecutorBox {
    NodeExecutor_TO::from_value(Adapter { node }, TD_Opaque)
}

impl NodeExecutor for Adapter {
    fn validate(&self, node: RStr<'_>) -> RResult<ValidationReport, PluginError> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let node: NodeDescription = serde_json::from_str(node.as_str()).map_err(|e| {
                PluginError::new(
                    codes::VALIDATION_FAILED,
                    format!("node is not valid JSON: {e}"),
                )
            })?;
            let validation = self.node.validate(&node);
            Ok(ValidationReport {
                valid: validation.errors.is_empty(),
                errors: validation.errors.into_iter().map(RString::from).collect(),
                warnings: validation.warnings.into_iter().map(RString::from).collect(),
            })
        }));
        flatten(outcome, "validate")
    }

    fn execute(&self, request: RStr<'_>) -> RResult<RString, PluginError> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let request: NodeRequest = serde_json::from_str(request.as_str()).map_err(|e| {
                PluginError::new(
                    codes::INVALID_PARAMETERS,
                    format!("request is not a valid execution request: {e}"),
                )
            })?;
            let response = self.node.execute(&request).map_err(PluginError::from)?;
            // Sized for a small output, so it rarely grows.
            let mut text = Vec::with_capacity(128);
            serde_json::to_writer(&mut text, &response)
                .map_err(|e| e.to_string())
                .and_then(|()| String::from_utf8(text).map_err(|e| e.to_string()))
                .map(RString::from)
                .map_err(|e| {
                    PluginError::new(codes::EXECUTION_ERROR, format!("output is not JSON: {e}"))
                })
        }));
        flatten(outcome, "execute")
    }
}

fn flatten<T>(
    outcome: std::thread::Result<Result<T, PluginError>>,
    what: &str,
) -> RResult<T, PluginError> {
    match outcome {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::panicked(what, &panic_message(&*payload))),
    }
}
