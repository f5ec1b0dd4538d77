//! One node run through the registry pipeline, and assertions on it.

use plugin_abi::request::ExecContext;
use registry_core::{NodeCall, NodeExecution, NodeStatus, Registry};
use serde_json::{json, Value};

use crate::defaults::TEST_TENANT;

/// One call of a node type, built up then [`run`](NodeRun::run).
pub struct NodeRun<'k> {
    registry: &'k Registry,
    runtime: &'k tokio::runtime::Runtime,
    node_type: String,
    parameters: Value,
    input: Value,
    tenant: String,
}

impl<'k> NodeRun<'k> {
    pub(crate) fn new(
        registry: &'k Registry,
        runtime: &'k tokio::runtime::Runtime,
        node_type: &str,
    ) -> Self {
        Self {
            registry,
            runtime,
            node_type: node_type.to_owned(),
            parameters: json!({}),
            input: Value::Null,
            tenant: TEST_TENANT.to_owned(),
        }
    }

    /// The node's parameters (as a workflow would give them, templates
    /// already resolved).
    pub fn parameters(mut self, parameters: Value) -> Self {
        self.parameters = parameters;
        self
    }

    /// The node's input (`$input`: its predecessor's output).
    pub fn input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }

    /// The tenant it runs for (default [`TEST_TENANT`]).
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = tenant.to_owned();
        self
    }

    /// Runs it through the whole pipeline: tenant checks, parameter
    /// validation against the node type's schema and its own `validate`,
    /// the call, output checks.
    pub fn run(self) -> NodeOutcome {
        let context = ExecContext {
            tenant_id: Some(self.tenant.clone()),
            ..ExecContext::default()
        };
        let call = NodeCall::new(&self.node_type, "node", &self.parameters)
            .context(&context)
            .input(&self.input);
        let execution = self.runtime.block_on(self.registry.execute(&call));
        NodeOutcome { execution }
    }
}

/// What a node run produced.
#[derive(Debug)]
pub struct NodeOutcome {
    /// The registry's outcome in full.
    pub execution: NodeExecution,
}

impl NodeOutcome {
    /// Whether the node succeeded.
    pub fn is_ok(&self) -> bool {
        self.execution.status == NodeStatus::Success
    }

    /// The output; panics (failing the test) with the error when the node
    /// failed.
    pub fn expect_ok(self) -> Value {
        if let Some(error) = self.execution.error.as_ref().filter(|_| !self.is_ok()) {
            panic!("the node failed: {} {}", error.code.as_str(), error.message);
        }
        self.execution.output
    }

    /// The stable error code (`INVALID_PARAMETERS`, `EXECUTION_ERROR`, …)
    /// when the node failed.
    pub fn error_code(&self) -> Option<&'static str> {
        self.execution.error_code().map(|c| c.as_str())
    }

    /// The error message when the node failed.
    pub fn error_message(&self) -> Option<&str> {
        match self.execution.status {
            NodeStatus::Error => self.execution.error.as_ref().map(|e| e.message.as_str()),
            _ => None,
        }
    }

    /// The output branch the node chose (0 = true, 1 = false for a
    /// condition).
    pub fn output_index(&self) -> Option<u32> {
        self.execution.output_index
    }
}
