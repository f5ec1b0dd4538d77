//! Stage 4 for node types linked into the host (built-in plugins linked
//! statically, node types registered in-process): the host and the node
//! share this very SDK, so the call needs no JSON text — the request is
//! built from the call's values and the node's [`NodeOutput`] is taken as
//! it is. Panics are contained as at the ABI boundary.

use std::panic::{catch_unwind, AssertUnwindSafe};

use plugin_abi::request::{NodeOutput, NodeRequest};
use plugin_abi::sdk::Node;
use plugin_abi::PluginError;
use serde_json::{Map, Value};

use super::boundary::{from_plugin_error, output_too_large};
use super::prepare::Prepared;
use crate::call::NodeCall;
use crate::error::NodeFailure;

/// The request `node` receives for `call`: the same fields as the JSON
/// request of the ABI, as values.
pub(super) fn linked_request(
    call: &NodeCall<'_>,
    prepared: &Prepared<'_>,
    config: &Map<String, Value>,
    output_limit_to_send: Option<u64>,
) -> NodeRequest {
    NodeRequest {
        node_type: call.node_type.to_owned(),
        node_id: call.node_id.to_owned(),
        parameters: prepared.parameters.as_ref().clone(),
        input: call.input.clone(),
        trigger: call.trigger.cloned().unwrap_or_default(),
        deadline_ms: call.deadline_ms,
        max_output_bytes: output_limit_to_send,
        context: call.context.clone(),
        variables: call.variables.clone(),
        credentials: prepared.credentials.clone(),
        config: config.clone(),
    }
}

/// Runs `node` with `request`, containing its panics, and checks the size
/// of its output as the ABI boundary does.
pub(super) fn run_linked(
    node: &dyn Node,
    request: &NodeRequest,
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    let node_type = request.node_type.as_str();
    let output = match catch_unwind(AssertUnwindSafe(|| node.execute(request))) {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(from_plugin_error(node_type, PluginError::from(error))),
        Err(payload) => {
            return Err(from_plugin_error(
                node_type,
                PluginError::panicked("execute", &panic_message(&*payload)),
            ))
        }
    };
    if json_size_may_exceed(&output.output, output_limit) {
        let size = json_size(&output);
        if size > output_limit {
            return Err(output_too_large(node_type, size, output_limit));
        }
    }
    Ok(output)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The exact size of `output` as JSON text, counted without building it.
fn json_size(output: &NodeOutput) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail for JSON values.
    let _ = serde_json::to_writer(&mut count, output);
    count.0
}

/// Whether `value`'s JSON text could be longer than `limit`: an upper
/// bound on its length (every character escaped), walked until the limit
/// is passed, so small outputs are cleared without being written.
fn json_size_may_exceed(value: &Value, limit: usize) -> bool {
    let mut bound = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        bound += match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => 2 + 6 * s.len(),
            Value::Array(items) => {
                pending.extend(items);
                2 + items.len()
            }
            Value::Object(object) => {
                pending.extend(object.values());
                2 + object.keys().map(|k| 4 + 6 * k.len()).sum::<usize>()
            }
        };
        if bound > limit {
            return true;
        }
    }
    false
}
