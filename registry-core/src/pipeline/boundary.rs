//! Stage 4: the call across the plugin boundary. Linked node types are
//! called directly ([`super::linked`]), libraries with the binary call
//! through frames ([`super::wire`]); for the rest the request is written
//! once as JSON text, the executor is called, its answer is parsed once —
//! inline for `pure` node types (into a reused per-thread buffer), on the
//! background pool with a timeout for `blocking` ones.

use std::cell::RefCell;
use std::sync::Arc;

use abi_stable::std_types::{RResult, RString};
use plugin_abi::manifest::ExecutionClass;
use plugin_abi::request::NodeOutput;
use plugin_abi::PluginError;
use serde_json::{Map, Value};

use super::answer::{blocking_failure, from_plugin_error, output_too_large};
use super::hosted;
use super::linked::{linked_request, run_linked};
use super::prepare::Prepared;
use super::wire::{encode_request, request_parts, run_wire_now, run_wire_owned};
use crate::call::NodeCall;
use crate::error::{ErrorCode, NodeFailure};
use crate::registry::{RegisteredNode, Registry};
use crate::runtime::run_blocking;

/// A request of a small node fits without the buffer growing.
const TYPICAL_REQUEST_BYTES: usize = 512;
/// A per-thread buffer larger than this is not kept after a call.
const KEPT_BUFFER_BYTES: usize = 64 * 1024;

thread_local! {
    /// The serialised request of the inline call in progress on this
    /// thread: reused, so an inline call allocates nothing for its text.
    static REQUEST_BUFFER: RefCell<Vec<u8>> =
        RefCell::new(Vec::with_capacity(TYPICAL_REQUEST_BYTES));
}

/// Whether `call` runs inline: a `pure` node type and no timeout of its own
/// (a timeout can only be honoured off the calling thread).
pub(super) fn runs_inline(node: &RegisteredNode, call: &NodeCall<'_>) -> bool {
    node.metadata().manifest.execution == ExecutionClass::Pure
        && call.timeout.is_none()
        && hosted::route(node, call).is_none()
}

impl Registry {
    /// The call, synchronously (the caller decided it runs inline).
    pub(super) fn cross_now(
        &self,
        node: &RegisteredNode,
        call: &NodeCall<'_>,
        prepared: Prepared<'_>,
    ) -> Result<NodeOutput, NodeFailure> {
        if let Some(route) = hosted::route(node, call) {
            return self.cross_hosted_now(route, node, call, &prepared);
        }
        let limit = self.output_limit_to_send();
        let config = node.config();
        if let Some(linked) = plugin_abi::sdk::linked_node(node.executor()) {
            let request = linked_request(call, prepared, &config, limit);
            return run_linked(linked, &request, self.config().max_output_bytes);
        }
        if let Some(wire) = node.wire() {
            return run_wire_now(
                wire.as_ref(),
                node.executor(),
                call,
                &prepared,
                &config,
                limit,
                self.config().max_output_bytes,
            );
        }
        let answer = REQUEST_BUFFER.with(|cell| {
            // Re-entered on this thread (a node run from inside a node): a
            // buffer of its own.
            let mut own = Vec::new();
            let mut borrowed = cell.try_borrow_mut();
            let buffer = match borrowed.as_deref_mut() {
                Ok(buffer) => buffer,
                Err(_) => &mut own,
            };
            buffer.clear();
            write_request(buffer, call, &prepared, &config, limit)?;
            let text = std::str::from_utf8(buffer).map_err(|e| not_serialisable(call, e))?;
            let answer = node.executor().execute(text.into());
            if buffer.capacity() > KEPT_BUFFER_BYTES {
                *buffer = Vec::with_capacity(TYPICAL_REQUEST_BYTES);
            }
            Ok::<_, NodeFailure>(answer)
        })?;
        parse_output(call.node_type, answer, self.config().max_output_bytes)
    }

    /// The call: inline when it can be, else on the background pool under
    /// the node's timeout (or the registry's default).
    pub(super) async fn cross(
        &self,
        node: &RegisteredNode,
        call: &NodeCall<'_>,
        prepared: Prepared<'_>,
    ) -> Result<NodeOutput, NodeFailure> {
        if let Some(route) = hosted::route(node, call) {
            return self.cross_hosted(route, node, call, &prepared).await;
        }
        if runs_inline(node, call) {
            return self.cross_now(node, call, prepared);
        }
        let timeout = call.timeout.unwrap_or(self.config().default_timeout);
        let executor = Arc::clone(node.executor());
        let node_type = call.node_type;
        let limit = self.config().max_output_bytes;
        if plugin_abi::sdk::linked_node(&executor).is_some() {
            let request =
                linked_request(call, prepared, &node.config(), self.output_limit_to_send());
            let ran = run_blocking(timeout, move || {
                match plugin_abi::sdk::linked_node(&executor) {
                    Some(linked) => run_linked(linked, &request, limit),
                    None => Err(NodeFailure::new(
                        ErrorCode::ExecutionError,
                        format!("executor of `{}` is no longer linked", request.node_type),
                    )),
                }
            })
            .await;
            return match ran {
                Ok(outcome) => outcome,
                Err(stopped) => Err(blocking_failure(node_type, timeout, stopped)),
            };
        }
        if let Some(wire) = node.wire().cloned() {
            let mut request = Vec::with_capacity(TYPICAL_REQUEST_BYTES);
            encode_request(
                &mut request,
                call,
                &prepared,
                &node.config(),
                self.output_limit_to_send(),
            );
            let owned_type = node_type.to_owned();
            let ran = run_blocking(timeout, move || {
                run_wire_owned(&wire, &executor, &owned_type, &request, limit)
            })
            .await;
            return match ran {
                Ok(outcome) => outcome,
                Err(stopped) => Err(blocking_failure(node_type, timeout, stopped)),
            };
        }
        let mut buffer = Vec::with_capacity(TYPICAL_REQUEST_BYTES);
        write_request(
            &mut buffer,
            call,
            &prepared,
            &node.config(),
            self.output_limit_to_send(),
        )?;
        let text = String::from_utf8(buffer).map_err(|e| not_serialisable(call, e))?;
        match run_blocking(timeout, move || executor.execute(text.as_str().into())).await {
            Ok(answer) => parse_output(node_type, answer, limit),
            Err(stopped) => Err(blocking_failure(node_type, timeout, stopped)),
        }
    }

    /// The output limit plugins are told, when it is not the one they
    /// assume.
    pub(super) fn output_limit_to_send(&self) -> Option<u64> {
        let limit = self.config().max_output_bytes;
        (limit != plugin_abi::sdk::DEFAULT_OUTPUT_LIMIT)
            .then(|| u64::try_from(limit).unwrap_or(u64::MAX))
    }

    /// Runs `call` across the boundary only — lookup, cached parameter
    /// validation, the call — without the tenant, isolation, credential,
    /// recovery, audit and metrics stages: for hosts that enforce their own
    /// policy, and for measuring the boundary. [`Registry::execute`] is the
    /// whole pipeline.
    pub fn invoke(&self, call: &NodeCall<'_>) -> Result<NodeOutput, NodeFailure> {
        let node = self
            .get(call.node_type)
            .ok_or_else(|| NodeFailure::not_found(call.node_type))?;
        self.validate_parameters(&node, call.node_id, call.parameters)?;
        let prepared = Prepared {
            parameters: std::borrow::Cow::Borrowed(call.parameters),
            credentials: Map::new(),
        };
        self.cross_now(&node, call, prepared)
    }
}

fn write_request(
    buffer: &mut Vec<u8>,
    call: &NodeCall<'_>,
    prepared: &Prepared<'_>,
    config: &Map<String, Value>,
    max_output_bytes: Option<u64>,
) -> Result<(), NodeFailure> {
    let request = request_parts(call, prepared, config, max_output_bytes);
    serde_json::to_writer(buffer, &request).map_err(|e| not_serialisable(call, e))
}

fn not_serialisable(call: &NodeCall<'_>, e: impl std::fmt::Display) -> NodeFailure {
    NodeFailure::new(
        ErrorCode::InvalidParameters,
        format!("request for `{}` cannot be serialised: {e}", call.node_type),
    )
}

/// Parses an executor's answer; output larger than `max_output_bytes` or
/// not matching the output shape is an `EXECUTION_ERROR`.
fn parse_output(
    node_type: &str,
    answer: RResult<RString, PluginError>,
    max_output_bytes: usize,
) -> Result<NodeOutput, NodeFailure> {
    match answer {
        RResult::ROk(output) => {
            if output.len() > max_output_bytes {
                return Err(output_too_large(node_type, output.len(), max_output_bytes));
            }
            serde_json::from_str::<NodeOutput>(output.as_str()).map_err(|e| {
                NodeFailure::new(
                    ErrorCode::ExecutionError,
                    format!("executor of `{node_type}` returned malformed output ({e}); this is a bug in its plugin"),
                )
            })
        }
        RResult::RErr(error) => Err(from_plugin_error(node_type, error)),
    }
}
