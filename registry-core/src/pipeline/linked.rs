//! Stage 4 for node types linked into the host (built-in plugins linked
//! statically, node types registered in-process): the host and the node
//! share this very SDK, so the call needs no JSON text — the request is
//! built from the call's values and the node's [`NodeOutput`] is taken as
//! it is. Panics are contained as at the ABI boundary.

use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use plugin_abi::request::{NodeOutput, NodeRequest};
use plugin_abi::sdk::Node;
use plugin_abi::PluginError;
use serde_json::{Map, Value};

use super::answer::{check_output_size, from_plugin_error};
use super::prepare::Prepared;
use crate::call::NodeCall;
use crate::error::NodeFailure;
use crate::reuse::{assign, assign_map, assign_str, size};

thread_local! {
    /// Requests kept between calls of linked node types, per thread: once
    /// a request has a call's shape, filling it again allocates nothing.
    /// Boxed: a request is a large struct, and moving it by value in and
    /// out of the pool was a tenth of a linked call's instructions.
    #[allow(clippy::vec_box)] // the boxes are what is lent out and returned
    static POOL: RefCell<Vec<Box<NodeRequest>>> = const { RefCell::new(Vec::new()) };
}

/// Requests holding more than this are not kept.
const KEPT_REQUEST_BYTES: usize = 64 * 1024;
/// Requests holding more than this (roughly: thousands of records, whose
/// freeing takes milliseconds) are freed on a thread of their own,
/// after the call has answered (see [`crate::runtime::drop_behind`]).
const DROPPED_BEHIND_BYTES: usize = 256 * 1024;
/// At most this many requests are kept per thread (one per nesting level).
const KEPT_REQUESTS: usize = 8;

/// The request `node` receives for `call` (the same fields as the JSON
/// request of the ABI, as values), in a pooled request.
pub(super) fn linked_request(
    call: &NodeCall<'_>,
    prepared: Prepared<'_>,
    config: &Map<String, Value>,
    output_limit_to_send: Option<u64>,
) -> Pooled {
    let mut request = POOL
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_default();
    let mut held = 0;
    assign_str(&mut request.node_type, call.node_type);
    assign_str(&mut request.node_id, call.node_id);
    held += match prepared.parameters {
        // Rewritten for the tenant: already a copy of its own, moved in.
        Cow::Owned(parameters) => {
            request.parameters = parameters;
            size(&request.parameters)
        }
        Cow::Borrowed(parameters) => assign(&mut request.parameters, parameters),
    };
    held += assign(&mut request.input, call.input);
    held += match call.trigger {
        Some(trigger) => assign(&mut request.trigger, trigger),
        None => {
            request.trigger = Value::Null;
            0
        }
    };
    request.deadline_ms = call.deadline_ms;
    request.max_output_bytes = output_limit_to_send;
    let context = &mut request.context;
    match (&mut context.tenant_id, &call.context.tenant_id) {
        (Some(into), Some(from)) => assign_str(into, from),
        (into, from) => into.clone_from(from),
    }
    held += assign(&mut context.user, &call.context.user);
    assign_str(&mut context.execution_id, &call.context.execution_id);
    context.resumable = call.context.resumable;
    held += assign_map(&mut request.variables, call.variables);
    held += assign_map(&mut request.credentials, &prepared.credentials);
    held += assign_map(&mut request.config, config);
    Pooled {
        request: Some(request),
        held,
    }
}

/// A request lent from the pool; back to it when dropped, unless large.
pub(super) struct Pooled {
    /// Always present until the drop hands it back.
    request: Option<Box<NodeRequest>>,
    held: usize,
}

impl std::ops::Deref for Pooled {
    type Target = NodeRequest;
    fn deref(&self) -> &NodeRequest {
        static EMPTY: std::sync::LazyLock<NodeRequest> =
            std::sync::LazyLock::new(NodeRequest::default);
        match self.request.as_deref() {
            Some(request) => request,
            None => &EMPTY,
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(request) = self.request.take() else {
            return;
        };
        if self.held > DROPPED_BEHIND_BYTES {
            crate::runtime::drop_behind(request);
            return;
        }
        // Credentials hold secrets: never kept past the call.
        if self.held > KEPT_REQUEST_BYTES || !request.credentials.is_empty() {
            return;
        }
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < KEPT_REQUESTS {
                pool.push(request);
            }
        });
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
    check_output_size(node_type, output, output_limit)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
