//! Stage 4 on the process tier: the request frame goes to the node type's
//! plugin-host process ([`HostCall`]), off the calling thread, under the
//! node's timeout — which the supervisor enforces by killing a process
//! whose call hangs, so no abandoned thread keeps spinning in this one.

use std::sync::Arc;
use std::time::Duration;

use plugin_abi::request::NodeOutput;

use super::answer::blocking_failure;
use super::prepare::Prepared;
use super::wire::{decode_output, encode_request};
use crate::call::NodeCall;
use crate::error::NodeFailure;
use crate::process_tier::{ExecutionTier, HostCall};
use crate::registry::{RegisteredNode, Registry};
use crate::runtime::run_blocking;

/// Time a hung plugin-host process gets to be killed and reaped after the
/// node's timeout, before the call is abandoned here as well.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A request frame of a small node fits without the buffer growing.
const TYPICAL_FRAME_BYTES: usize = 512;

/// Where a call goes on the process tier: the host, and whose host it is
/// (`Some(tenant)` when the tenant's policy forces the process tier, one
/// process per library and tenant; `None` for the library's shared host
/// when the node type runs there by default). `None`: in this process.
pub(super) fn route<'a>(
    node: &'a RegisteredNode,
    call: &NodeCall<'a>,
) -> Option<(&'a Arc<dyn HostCall>, Option<&'a str>)> {
    let tier = node.process_tier()?;
    if let Some(policy) = call.policy.filter(|p| p.forces_process_tier()) {
        return Some((&tier.host, Some(policy.tenant_id.as_str())));
    }
    (tier.default == ExecutionTier::Process).then_some((&tier.host, None))
}

impl Registry {
    /// The call in the plugin-host process, waiting on this thread (for
    /// [`Registry::invoke`]).
    pub(super) fn cross_hosted_now(
        &self,
        (host, tenant): (&Arc<dyn HostCall>, Option<&str>),
        node: &RegisteredNode,
        call: &NodeCall<'_>,
        prepared: &Prepared<'_>,
    ) -> Result<NodeOutput, NodeFailure> {
        let timeout = call.timeout.unwrap_or(self.config().default_timeout);
        let request = self.hosted_request(node, call, prepared);
        let mut output = Vec::with_capacity(TYPICAL_FRAME_BYTES);
        host.call(tenant, call.node_type, &request, &mut output, timeout)?;
        decode_output(call.node_type, &output, self.config().max_output_bytes)
    }

    /// The call in the plugin-host process, off the calling thread.
    pub(super) async fn cross_hosted(
        &self,
        (host, tenant): (&Arc<dyn HostCall>, Option<&str>),
        node: &RegisteredNode,
        call: &NodeCall<'_>,
        prepared: &Prepared<'_>,
    ) -> Result<NodeOutput, NodeFailure> {
        let timeout = call.timeout.unwrap_or(self.config().default_timeout);
        let request = self.hosted_request(node, call, prepared);
        let host = Arc::clone(host);
        let tenant = tenant.map(str::to_owned);
        let node_type = call.node_type.to_owned();
        let limit = self.config().max_output_bytes;
        // The plugin's log records are emitted on the waiting thread: with
        // the caller's subscriber and inside the node's span, as for a
        // plugin in this process.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let span = tracing::Span::current();
        let ran = run_blocking(timeout + KILL_GRACE, move || {
            tracing::dispatcher::with_default(&dispatch, || {
                span.in_scope(|| {
                    let mut output = Vec::with_capacity(TYPICAL_FRAME_BYTES);
                    host.call(
                        tenant.as_deref(),
                        &node_type,
                        &request,
                        &mut output,
                        timeout,
                    )?;
                    decode_output(&node_type, &output, limit)
                })
            })
        })
        .await;
        match ran {
            Ok(outcome) => outcome,
            Err(stopped) => Err(blocking_failure(call.node_type, timeout, stopped)),
        }
    }

    fn hosted_request(
        &self,
        node: &RegisteredNode,
        call: &NodeCall<'_>,
        prepared: &Prepared<'_>,
    ) -> Vec<u8> {
        let mut request = Vec::with_capacity(TYPICAL_FRAME_BYTES);
        encode_request(
            &mut request,
            call,
            prepared,
            &node.config(),
            self.output_limit_to_send(),
        );
        request
    }
}
