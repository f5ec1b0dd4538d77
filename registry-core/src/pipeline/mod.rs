//! The pipeline every node call goes through, one stage per module, in
//! this order:
//!
//! 1. [`admit`]: tenant check (isolation layer 1), executor lookup
//!    (executor cache), the policy of everything the node type depends on;
//! 2. [`validate`]: parameters against the schema and the node type's own
//!    check (validation cache);
//! 3. [`prepare`]: data-isolation rewrite (layer 2) and credentials
//!    (layer 4);
//! 4. [`boundary`]: the call across the plugin boundary — directly for
//!    node types linked into the host ([`linked`]), as binary frames for
//!    libraries that export them ([`wire`]), else as JSON text — inline for `pure` node types, on the background pool with a
//!    timeout for `blocking` ones; on the process tier in a supervised
//!    plugin-host process ([`hosted`]);
//! 5. [`output`]: output check (layer 3);
//! 6. [`recover`]: retry, fallback, skip or fail;
//! 7. [`record`]: secrets masked, audit record, metrics.
//!
//! [`Registry::execute`] runs all of it for one [`NodeCall`];
//! [`Registry::execute_now`] runs it synchronously when nothing in it can
//! wait, which spares a future per node on the executor's hot path.

mod admit;
mod answer;
mod boundary;
mod hosted;
mod linked;
mod output;
mod prepare;
mod record;
mod recover;
mod validate;
mod wire;

use std::time::Instant;

use plugin_abi::request::{ExecContext, NodeOutput};
use tracing::Instrument;

use crate::call::NodeCall;
use crate::credentials::Secrets;
use crate::error::NodeFailure;
use crate::execution::NodeExecution;
use crate::registry::Registry;
use crate::status::NodeStatus;
use crate::tenant::TenantPolicy;

/// What a call needs settled before its first stage: the policy in force
/// and an execution id.
struct Settled {
    policy: Option<std::sync::Arc<TenantPolicy>>,
    context: Option<ExecContext>,
}

impl Registry {
    /// Runs one node call through the whole pipeline.
    ///
    /// Needs no particular runtime: blocking node types run on plugflow's
    /// own background pool and timers, so the future can be awaited on any
    /// executor.
    ///
    /// ```
    /// # futures_executor_block_on(async {
    /// use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec};
    /// use registry_core::{ErrorCode, ExecContext, NodeCall, NodeStatus, Registry, TenantPolicy};
    /// use serde_json::json;
    ///
    /// let registry = Registry::new();
    /// registry.register_spec(
    ///     NodeSpec::new("demo.double", "1.0.0", "math", "Doubles `n`.")
    ///         .schema(json!({"type": "object", "properties": {"n": {"type": "number"}}}))
    ///         .handler(|r: &NodeRequest| -> Result<NodeOutput, NodeError> {
    ///             Ok(NodeOutput::result(json!(r.f64_param("n")? * 2.0)))
    ///         }),
    /// )?;
    /// let params = json!({"n": 21});
    /// let context = ExecContext { tenant_id: Some("acme".into()), ..Default::default() };
    /// let done = registry.execute(&NodeCall::new("demo.double", "n1", &params).context(&context)).await;
    /// assert_eq!(done.status, NodeStatus::Success);
    /// assert_eq!(done.output, json!({"result": 42.0}));
    ///
    /// registry.set_tenant_policy(TenantPolicy { restricted_node_types: vec!["demo.*".into()], ..TenantPolicy::new("acme") });
    /// let refused = registry.execute(&NodeCall::new("demo.double", "n1", &params).context(&context)).await;
    /// assert_eq!(refused.error_code(), Some(ErrorCode::NodeTypeDisabledForTenant));
    /// # Ok::<(), Box<dyn std::error::Error>>(()) });
    /// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub async fn execute(&self, call: &NodeCall<'_>) -> NodeExecution {
        let settled = self.settle(call);
        let call = settled.apply(call);
        let span = record::span(&call);
        async {
            let started = Instant::now();
            let mut secrets = Secrets::default();
            let first = self.attempt(&call, &mut secrets).await;
            let mut execution = NodeExecution::from_attempt(first);
            // A resumed retry counts the retries made before it.
            execution.retries = call.retries_done;
            execution.recovery_applied =
                call.retries_done > 0 && execution.status == NodeStatus::Success;
            let recovery = self.recover(&mut execution, &call, &mut secrets).await;
            self.record(&call, execution, recovery, &secrets, started)
        }
        .instrument(span)
        .await
    }

    /// Runs the call synchronously when nothing in it can wait: a `pure`
    /// node type without a timeout of its own, under the `fail` or `skip`
    /// strategy. `None` means it must go through [`Self::execute`]
    /// (nothing ran).
    pub fn execute_now(&self, call: &NodeCall<'_>) -> Option<NodeExecution> {
        if !recover::completes_now(call.strategy) || call.timeout.is_some() {
            return None;
        }
        let settled = self.settle(call);
        let call = settled.apply(call);
        let started = Instant::now();
        let mut secrets = Secrets::default();
        let _span = record::span(&call).entered();
        let first = self.attempt_now(&call, &mut secrets)?;
        let mut execution = NodeExecution::from_attempt(first);
        let recovery = recover::skip_if_asked(&mut execution, call.strategy, started);
        Some(self.record(&call, execution, recovery, &secrets, started))
    }

    /// The policy (the call's, else its tenant's) and an execution id
    /// (generated when the context has none, so audit records always carry
    /// one).
    fn settle(&self, call: &NodeCall<'_>) -> Settled {
        let policy = match call.policy {
            Some(_) => None,
            None => self.effective_policy(call.context.tenant_id.as_deref(), None),
        };
        let context = call.context.execution_id.is_empty().then(|| ExecContext {
            execution_id: new_execution_id(),
            ..call.context.clone()
        });
        Settled { policy, context }
    }

    /// Stages 1 to 5 for one attempt.
    async fn attempt(
        &self,
        call: &NodeCall<'_>,
        secrets: &mut Secrets,
    ) -> Result<NodeOutput, NodeFailure> {
        let node = self.admit(call)?;
        self.validate(&node, call)?;
        let prepared = self.prepare(&node, call, secrets)?;
        let output = self.cross(&node, call, prepared).await?;
        self.check_output(&node, &output, call)?;
        Ok(output)
    }

    /// Stages 1 to 5 synchronously; `None` when the node type must run on
    /// the background pool (decided before validation and credentials, so
    /// nothing is prepared twice).
    fn attempt_now(
        &self,
        call: &NodeCall<'_>,
        secrets: &mut Secrets,
    ) -> Option<Result<NodeOutput, NodeFailure>> {
        let node = match self.admit(call) {
            Ok(node) => node,
            Err(failure) => return Some(Err(failure)),
        };
        if !boundary::runs_inline(&node, call) {
            return None;
        }
        Some((|| {
            self.validate(&node, call)?;
            let prepared = self.prepare(&node, call, secrets)?;
            let output = self.cross_now(&node, call, prepared)?;
            self.check_output(&node, &output, call)?;
            Ok(output)
        })())
    }
}

impl Settled {
    /// `call` with the settled policy and context.
    fn apply<'s>(&'s self, call: &NodeCall<'s>) -> NodeCall<'s> {
        let mut settled = *call;
        if let Some(policy) = &self.policy {
            settled.policy = Some(policy);
        }
        if let Some(context) = &self.context {
            settled.context = context;
        }
        settled
    }
}

/// A fresh execution id: time-ordered, unique within the process and very
/// likely across processes.
pub fn new_execution_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("exec-{nanos:x}-{:x}-{n:x}", std::process::id())
}

impl NodeExecution {
    /// The `skip` strategy's outcome: status skipped, empty output.
    fn skip(&mut self) {
        self.status = NodeStatus::Skipped;
        self.output = serde_json::Value::Object(serde_json::Map::new());
        self.recovery_applied = true;
    }
}
