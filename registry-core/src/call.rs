//! One call of a node type: the single request the pipeline takes.

use std::sync::LazyLock;
use std::time::Duration;

use plugin_abi::request::ExecContext;
use serde_json::{Map, Value};

use crate::credentials::CredentialRef;
use crate::recovery::RecoveryStrategy;
use crate::tenant::TenantPolicy;

/// The field naming a record's tenant, unless a workflow says otherwise.
pub const DEFAULT_TENANT_FIELD: &str = "tenantId";

static NULL: Value = Value::Null;
static NO_VARIABLES: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);
static NO_CONTEXT: LazyLock<ExecContext> = LazyLock::new(ExecContext::default);
static FAIL: RecoveryStrategy = RecoveryStrategy::Fail;

/// Everything one run of a node type needs: which node type, the node's
/// resolved parameters, for whom, with what input, under which policy and
/// recovery strategy. Built with [`NodeCall::new`] and the setters; every
/// field is borrowed, so building one costs nothing.
///
/// ```
/// use registry_core::{ExecContext, NodeCall, RecoveryStrategy};
/// use serde_json::json;
/// let parameters = json!({"value": "hi"});
/// let context = ExecContext { tenant_id: Some("acme".into()), ..Default::default() };
/// let input = json!({"from": "upstream"});
/// let call = NodeCall::new("string.upper", "n1", &parameters)
///     .context(&context)
///     .input(&input)
///     .strategy(&RecoveryStrategy::Skip);
/// assert_eq!(call.node_type, "string.upper");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NodeCall<'a> {
    /// The node type to run.
    pub node_type: &'a str,
    /// The node's id in its workflow (for logs, audit, errors).
    pub node_id: &'a str,
    /// Its parameters, templates resolved.
    pub parameters: &'a Value,
    /// Tenant, user, execution (an empty execution id is generated).
    pub context: &'a ExecContext,
    /// The node's input from its predecessors.
    pub input: &'a Value,
    /// The execution's variables.
    pub variables: &'a Map<String, Value>,
    /// The trigger data, for node types whose per-item expressions read it.
    pub trigger: Option<&'a Value>,
    /// Credential slots the node binds.
    pub credentials: &'a [CredentialRef],
    /// The node's own timeout; blocking node types otherwise get the
    /// registry's default.
    pub timeout: Option<Duration>,
    /// The execution's deadline, milliseconds since the Unix epoch, passed
    /// to the plugin for its long loops.
    pub deadline_ms: Option<u64>,
    /// What to do when the node fails.
    pub strategy: &'a RecoveryStrategy,
    /// The policy to enforce; `None`: the context's tenant's own policy
    /// (none without a tenant).
    pub policy: Option<&'a TenantPolicy>,
    /// The record field naming the tenant.
    pub tenant_field: &'a str,
    /// Retries this node already made before the execution was suspended
    /// for its next one: this call is retry `retries_done` (0: a first
    /// attempt), and the strategy's `maxRetries` counts them.
    pub retries_done: u32,
    /// A retry whose backoff is longer than this does not wait: the
    /// outcome fails with [`NodeExecution::retry_at_ms`](crate::NodeExecution::retry_at_ms)
    /// set, for a host that keeps executions durably to suspend the
    /// execution until then. `None` (the default): every backoff waits.
    pub suspend_retries_after: Option<Duration>,
}

impl<'a> NodeCall<'a> {
    /// A call of `node_type` for node `node_id` with `parameters`: no
    /// tenant, no input, no variables or credentials, the `fail` strategy,
    /// the tenant's own policy.
    pub fn new(node_type: &'a str, node_id: &'a str, parameters: &'a Value) -> Self {
        Self {
            node_type,
            node_id,
            parameters,
            context: &NO_CONTEXT,
            input: &NULL,
            variables: &NO_VARIABLES,
            trigger: None,
            credentials: &[],
            timeout: None,
            deadline_ms: None,
            strategy: &FAIL,
            policy: None,
            tenant_field: DEFAULT_TENANT_FIELD,
            retries_done: 0,
            suspend_retries_after: None,
        }
    }

    /// For whom: tenant, user, execution.
    pub fn context(mut self, context: &'a ExecContext) -> Self {
        self.context = context;
        self
    }

    /// The node's input.
    pub fn input(mut self, input: &'a Value) -> Self {
        self.input = input;
        self
    }

    /// The execution's variables.
    pub fn variables(mut self, variables: &'a Map<String, Value>) -> Self {
        self.variables = variables;
        self
    }

    /// The trigger data (only for node types whose per-item expressions
    /// read `$json`).
    pub fn trigger(mut self, trigger: Option<&'a Value>) -> Self {
        self.trigger = trigger;
        self
    }

    /// Credential slots the node binds.
    pub fn credentials(mut self, credentials: &'a [CredentialRef]) -> Self {
        self.credentials = credentials;
        self
    }

    /// The node's own timeout.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The execution's deadline (milliseconds since the Unix epoch).
    pub fn deadline_ms(mut self, deadline_ms: Option<u64>) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }

    /// What to do when the node fails.
    pub fn strategy(mut self, strategy: &'a RecoveryStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The policy to enforce (for instance the tenant's policy tightened by
    /// a workflow, from [`Registry::effective_policy`](crate::Registry::effective_policy)).
    pub fn policy(mut self, policy: Option<&'a TenantPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// The record field naming the tenant.
    pub fn tenant_field(mut self, field: &'a str) -> Self {
        self.tenant_field = field;
        self
    }

    /// Retries already made before a suspension (this call is that
    /// retry).
    pub fn retries_done(mut self, retries: u32) -> Self {
        self.retries_done = retries;
        self
    }

    /// Backoffs longer than `after` suspend instead of waiting (`None`:
    /// every backoff waits).
    pub fn suspend_retries_after(mut self, after: Option<Duration>) -> Self {
        self.suspend_retries_after = after;
        self
    }
}
