//! What comes back across the boundary, whichever way it was called: a
//! plugin's error turned into a [`NodeFailure`] with its stable code, a
//! call that did not complete, and an output held against the size limit.

use plugin_abi::request::NodeOutput;
use plugin_abi::sdk::output_size::{json_size, json_size_may_exceed};
use plugin_abi::PluginError;

use crate::error::{ErrorCode, NodeFailure};
use crate::runtime::BlockingError;

/// `output`, unless its JSON text would be longer than `output_limit`
/// (the limit the JSON call of the ABI enforces on the text).
pub(super) fn check_output_size(
    node_type: &str,
    output: NodeOutput,
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    if json_size_may_exceed(&output.output, output_limit) {
        let size = json_size(&output);
        if size > output_limit {
            return Err(output_too_large(node_type, size, output_limit));
        }
    }
    Ok(output)
}

/// The failure of an output over the limit.
pub(super) fn output_too_large(node_type: &str, size: usize, limit: usize) -> NodeFailure {
    NodeFailure::new(
        ErrorCode::ExecutionError,
        format!(
            "output of `{node_type}` is {size} bytes, over the {limit}-byte limit; it was discarded (raise the output limit or make the node return less)"
        ),
    )
}

/// Converts a plugin's error, keeping unknown codes visible in the message.
pub(super) fn from_plugin_error(node_type: &str, error: PluginError) -> NodeFailure {
    NodeFailure::from_plugin(
        node_type,
        error.code.as_str(),
        error.message.into_string(),
        error.retryable,
        error.details.as_str(),
    )
}

/// The failure of a blocking call that did not complete.
pub(super) fn blocking_failure(
    node_type: &str,
    timeout: std::time::Duration,
    stopped: BlockingError,
) -> NodeFailure {
    match stopped {
        BlockingError::Failed(why) => NodeFailure::new(
            ErrorCode::ExecutionError,
            format!("executor of `{node_type}` did not complete: {why}"),
        ),
        BlockingError::TimedOut => NodeFailure::new(
            ErrorCode::ExecutionTimeout,
            format!(
                "`{node_type}` did not finish within {} ms and was abandoned; raise the node's `timeout` if it legitimately needs longer",
                timeout.as_millis()
            ),
        )
        .retryable(true),
    }
}
