//! The binary entry point ([`crate::PluginModule::execute_wire`]): the
//! request frame is decoded into a request kept per thread (so a node
//! called again with the same shape allocates nothing for it), the node
//! runs, and its output is encoded straight into the host's buffer.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RSlice, RString, RVec};

use super::adapter::linked_node;
use super::output_size::{json_size, json_size_may_exceed};
use super::panic::panic_message;
use crate::codes;
use crate::executor::NodeExecutorBox;
use crate::ffi::PluginError;
use crate::request::{NodeOutput, NodeRequest};
use crate::wire;

thread_local! {
    /// The request of the call in progress on this thread, kept between
    /// calls; `None` while lent out (a node that runs another node).
    static REQUEST: RefCell<Option<NodeRequest>> = RefCell::new(Some(NodeRequest::default()));
}

/// A request holding more than this many parameter/input entries at the top
/// level is not kept for the next call.
const KEPT_ENTRIES: usize = 1024;

/// [`crate::PluginModule::execute_wire`] of every plugin built with this
/// SDK (wired up by [`crate::export_plugin!`]).
pub extern "C" fn execute_wire(
    executor: &NodeExecutorBox,
    request: RSlice<'_, u8>,
    output: &mut RVec<u8>,
) -> RResult<(), PluginError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run(executor, request.as_slice(), output)
    }));
    match outcome {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::panicked("execute", &panic_message(&*payload))),
    }
}

fn run(executor: &NodeExecutorBox, frame: &[u8], output: &mut RVec<u8>) -> Result<(), PluginError> {
    // An executor written against the raw trait (not a `Node`): through
    // its JSON call.
    let Some(node) = linked_node(executor) else {
        return execute_via_json(executor, frame, output);
    };
    let mut request = REQUEST
        .with(|kept| kept.borrow_mut().take())
        .unwrap_or_default();
    let decoded = wire::decode_request_into(frame, &mut request).map_err(|e| {
        PluginError::new(
            codes::INVALID_PARAMETERS,
            format!("request is not a valid execution request frame: {e}"),
        )
    });
    let result = decoded
        .and_then(|()| node.execute(&request).map_err(PluginError::from))
        .and_then(|out| within_limit(out, &request));
    // Credentials are secrets: never kept past the call.
    request.credentials.clear();
    if entries(&request) <= KEPT_ENTRIES {
        REQUEST.with(|kept| *kept.borrow_mut() = Some(request));
    }
    wire::encode_output(&result?, output);
    Ok(())
}

/// `out`, unless its JSON text is over the host's limit: refused here
/// rather than sent, since the host would only build it again as a frame
/// to throw it away.
fn within_limit(out: NodeOutput, request: &NodeRequest) -> Result<NodeOutput, PluginError> {
    let limit = request.output_limit();
    if json_size_may_exceed(&out.output, limit) {
        let size = json_size(&out);
        if size > limit {
            return Err(PluginError::new(
                codes::EXECUTION_ERROR,
                format!(
                    "output of `{}` is {size} bytes, over the {limit}-byte limit; it was discarded (raise the output limit or make the node return less)",
                    request.node_type
                ),
            ));
        }
    }
    Ok(out)
}

fn entries(request: &NodeRequest) -> usize {
    let size = |v: &serde_json::Value| match v {
        serde_json::Value::Array(a) => a.len(),
        serde_json::Value::Object(o) => o.len(),
        _ => 1,
    };
    size(&request.parameters) + size(&request.input) + request.variables.len()
}

/// The binary call through an executor's JSON call: the request frame is
/// decoded and written as JSON text, the executor's JSON answer parsed and
/// encoded as an output frame. For executors that only have the JSON call
/// (written against [`crate::NodeExecutor`] directly, or from a library
/// built before the binary call).
///
/// # Errors
///
/// `INVALID_PARAMETERS` for a frame that does not decode, the executor's
/// own error, or `EXECUTION_ERROR` when its answer is not a node output.
pub fn execute_via_json(
    executor: &NodeExecutorBox,
    frame: &[u8],
    output: &mut RVec<u8>,
) -> Result<(), PluginError> {
    let mut request = NodeRequest::default();
    wire::decode_request_into(frame, &mut request).map_err(|e| {
        PluginError::new(
            codes::INVALID_PARAMETERS,
            format!("request is not a valid execution request frame: {e}"),
        )
    })?;
    let text = serde_json::to_string(&request)
        .map_err(|e| PluginError::new(codes::INVALID_PARAMETERS, e.to_string()))?;
    let answer: Result<RString, PluginError> = executor.execute(text.as_str().into()).into();
    let parsed: NodeOutput = serde_json::from_str(answer?.as_str()).map_err(|e| {
        PluginError::new(
            codes::EXECUTION_ERROR,
            format!("executor returned malformed output ({e}); this is a bug in its plugin"),
        )
    })?;
    wire::encode_output(&parsed, output);
    Ok(())
}
