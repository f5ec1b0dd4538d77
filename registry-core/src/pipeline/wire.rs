//! Stage 4 for node types whose library exports the binary call
//! ([`WireCall`]): the request is written as a frame of
//! [`plugin_abi::wire`] into a buffer kept per thread, the plugin decodes
//! it into a request it keeps, and its output frame comes back in a second
//! kept buffer. No JSON text is written or parsed on either side.

use std::cell::RefCell;
use std::sync::Arc;

use abi_stable::std_types::RVec;
use plugin_abi::request::NodeOutput;
use plugin_abi::wire::{self, RequestParts};
use plugin_abi::NodeExecutorBox;
use serde_json::{Map, Value};

use super::answer::{check_output_size, from_plugin_error, output_too_large};
use super::prepare::Prepared;
use crate::call::NodeCall;
use crate::error::{ErrorCode, NodeFailure};
use crate::wire_call::WireCall;

/// A frame of a small node fits without the buffer growing.
const TYPICAL_FRAME_BYTES: usize = 512;
/// A per-thread buffer larger than this is not kept after a call.
const KEPT_FRAME_BYTES: usize = 64 * 1024;
/// A value's frame is at most this many times its JSON text (a float such
/// as `0.5` is 4 bytes of JSON with its comma and 9 in a frame), so a
/// frame longer than this multiple of the output limit is over the limit
/// without being decoded.
const FRAME_TO_JSON_BOUND: usize = 5;

/// The two buffers of a call.
struct Frames {
    request: Vec<u8>,
    output: RVec<u8>,
}

impl Frames {
    fn new() -> Self {
        Self {
            request: Vec::with_capacity(TYPICAL_FRAME_BYTES),
            output: RVec::with_capacity(TYPICAL_FRAME_BYTES),
        }
    }
}

thread_local! {
    static FRAMES: RefCell<Frames> = RefCell::new(Frames::new());
}

/// The request `call` makes, as either call path sends it (frame or
/// JSON text).
pub(super) fn request_parts<'a>(
    call: &'a NodeCall<'_>,
    prepared: &'a Prepared<'_>,
    config: &'a Map<String, Value>,
    output_limit_to_send: Option<u64>,
) -> RequestParts<'a> {
    RequestParts {
        node_type: call.node_type,
        node_id: call.node_id,
        parameters: &prepared.parameters,
        input: call.input,
        trigger: call.trigger,
        deadline_ms: call.deadline_ms,
        max_output_bytes: output_limit_to_send,
        context: call.context,
        variables: call.variables,
        credentials: &prepared.credentials,
        config,
    }
}

/// The request frame of `call`, appended to `into`.
pub(super) fn encode_request(
    into: &mut Vec<u8>,
    call: &NodeCall<'_>,
    prepared: &Prepared<'_>,
    config: &Map<String, Value>,
    output_limit_to_send: Option<u64>,
) {
    let parts = request_parts(call, prepared, config, output_limit_to_send);
    wire::encode_request(&parts, into);
}

/// The call on this thread, with the thread's kept buffers.
pub(super) fn run_wire_now(
    wire: &dyn WireCall,
    executor: &NodeExecutorBox,
    call: &NodeCall<'_>,
    prepared: &Prepared<'_>,
    config: &Map<String, Value>,
    output_limit_to_send: Option<u64>,
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    FRAMES.with(|cell| {
        // Re-entered on this thread (a node run from inside a node):
        // buffers of its own.
        let mut own = None;
        let mut borrowed = cell.try_borrow_mut();
        let frames = match borrowed.as_deref_mut() {
            Ok(frames) => frames,
            Err(_) => own.insert(Frames::new()),
        };
        frames.request.clear();
        encode_request(
            &mut frames.request,
            call,
            prepared,
            config,
            output_limit_to_send,
        );
        frames.output.clear();
        let outcome = call_and_decode(
            wire,
            executor,
            call.node_type,
            &frames.request,
            &mut frames.output,
            output_limit,
        );
        if frames.request.capacity() > KEPT_FRAME_BYTES {
            frames.request = Vec::with_capacity(TYPICAL_FRAME_BYTES);
        }
        if frames.output.capacity() > KEPT_FRAME_BYTES {
            frames.output = RVec::with_capacity(TYPICAL_FRAME_BYTES);
        }
        outcome
    })
}

/// The call off this thread (a blocking node type): owned buffers.
pub(super) fn run_wire_owned(
    wire: &Arc<dyn WireCall>,
    executor: &NodeExecutorBox,
    node_type: &str,
    request: &[u8],
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    let mut output = RVec::with_capacity(TYPICAL_FRAME_BYTES);
    call_and_decode(
        wire.as_ref(),
        executor,
        node_type,
        request,
        &mut output,
        output_limit,
    )
}

fn call_and_decode(
    wire: &dyn WireCall,
    executor: &NodeExecutorBox,
    node_type: &str,
    request: &[u8],
    output: &mut RVec<u8>,
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    wire.call(executor, request, output)
        .map_err(|e| from_plugin_error(node_type, e))?;
    decode_output(node_type, output.as_slice(), output_limit)
}

/// An output frame, held against the output limit before and after it is
/// decoded.
pub(super) fn decode_output(
    node_type: &str,
    output: &[u8],
    output_limit: usize,
) -> Result<NodeOutput, NodeFailure> {
    let bound = output_limit
        .saturating_mul(FRAME_TO_JSON_BOUND)
        .saturating_add(64);
    if output.len() > bound {
        return Err(NodeFailure::new(
            ErrorCode::ExecutionError,
            format!(
                "output of `{node_type}` is a {}-byte frame, far over the {output_limit}-byte limit; it was discarded (raise the output limit or make the node return less)",
                output.len()
            ),
        ));
    }
    // Refused before it is built, as the JSON call refuses the text by its
    // length: a plugin's oversized output costs the host no copy of it.
    if output.len() > output_limit {
        let at_least =
            wire::output_json_size_at_least(output).map_err(|e| malformed(node_type, &e))?;
        if at_least > output_limit {
            return Err(output_too_large(node_type, at_least, output_limit));
        }
    }
    let decoded = wire::decode_output(output).map_err(|e| malformed(node_type, &e))?;
    check_output_size(node_type, decoded, output_limit)
}

fn malformed(node_type: &str, e: &wire::WireError) -> NodeFailure {
    NodeFailure::new(
        ErrorCode::ExecutionError,
        format!("executor of `{node_type}` returned a malformed output frame ({e}); this is a bug in its plugin"),
    )
}
