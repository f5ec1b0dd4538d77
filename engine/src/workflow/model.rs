//! The MetaBuilder workflow v3 format, as serde types. Unknown fields are
//! ignored; only what the executor uses is modelled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use registry_core::{BackoffKind, RecoveryStrategy};

/// A workflow document. Read by the hand-written deserializer in
/// `read.rs` (fields of the v3 schema the executor does not use are
/// dropped; fields outside it are noted in `unknown_fields`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// The workflow's id.
    #[serde(default)]
    pub id: String,
    /// Its display name.
    #[serde(default)]
    pub name: String,
    /// The format version (`3.0.0`).
    #[serde(default)]
    pub version: Option<String>,
    /// The tenant the workflow belongs to, if stated.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The nodes.
    #[serde(default)]
    pub nodes: Vec<NodeDef>,
    /// Edges: source node id (or name) → port → output index → targets.
    #[serde(default)]
    pub connections: BTreeMap<String, BTreeMap<String, Outputs>>,
    /// Execution settings.
    #[serde(default)]
    pub settings: Settings,
    /// Workflow-wide error handling.
    #[serde(default)]
    pub error_handling: Option<ErrorHandling>,
    /// Workflow-wide retry policy.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// Workflow variables (`$vars`), with their default values.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDef>,
    /// Explicit triggers; when some are enabled, they are the start nodes.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// Tenant safety settings that tighten the tenant's policy.
    #[serde(default)]
    pub multi_tenancy: Option<MultiTenancy>,
    /// Fields of the wrong type found while reading (each was dropped and
    /// its default used): the workflow cannot run while any is left.
    #[serde(skip)]
    pub problems: Vec<super::problem::Problem>,
    /// JSON Pointers of fields plugflow does not know (MetaBuilder files
    /// carry extra metadata; these are reported as warnings).
    #[serde(skip)]
    pub unknown_fields: Vec<String>,
}

/// One node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDef {
    /// Unique id.
    #[serde(default)]
    pub id: String,
    /// Display name (`$node["name"]`).
    #[serde(default)]
    pub name: String,
    /// The v3 node category, or the executor key when `nodeType` is absent.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The executor key (node type), when present.
    #[serde(default)]
    pub node_type: Option<String>,
    /// Parameters; strings may hold `{{ }}` templates (`null` reads as
    /// `{}`).
    pub parameters: Value,
    /// Credential bindings: slot → `{ "id": ... }`.
    #[serde(default)]
    pub credentials: BTreeMap<String, CredentialBinding>,
    /// Skip this node (its input passes through).
    #[serde(default)]
    pub disabled: bool,
    /// Node-level retry policy.
    #[serde(default)]
    pub retry_policy: Option<RetryPolicy>,
    /// Timeout in seconds.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Attempts in all (n8n's retry on fail).
    #[serde(default)]
    pub max_tries: Option<u32>,
    /// Milliseconds between attempts.
    #[serde(default)]
    pub wait_between_tries: Option<u64>,
    /// Shorthand for `onError: continueRegularOutput`.
    #[serde(default)]
    pub continue_on_error: bool,
    /// What the workflow does when this node fails.
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// plugflow extension: a registry recovery strategy for this node.
    #[serde(default)]
    pub recovery: Option<RecoveryStrategy>,
    /// Fields outside the v3 schema, as pointers from the node; moved to
    /// [`Workflow::unknown_fields`] once the document is read.
    #[serde(skip)]
    pub(crate) unknown_fields: Vec<String>,
}

impl NodeDef {
    /// The executor key: `nodeType` when present, else `type`.
    pub fn executor_key(&self) -> &str {
        self.node_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.kind)
    }

    /// Whether this node is the executor's `parallel` construct.
    pub fn is_parallel(&self) -> bool {
        matches!(self.executor_key(), "parallel" | "parallel-execute")
    }
}

/// A credential binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialBinding {
    /// The credential id (string or number).
    #[serde(default)]
    pub id: Value,
    /// Its display name (informational).
    #[serde(default)]
    pub name: Option<String>,
}

/// A port's outputs: `{"0": [targets]}` or `[[targets]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outputs {
    /// Array form; `null` entries are outputs without targets.
    Array(Vec<Option<Vec<Target>>>),
    /// Object form keyed by output index.
    Object(BTreeMap<String, Vec<Target>>),
}

/// A connection target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// Target node id (or name).
    pub node: String,
    /// Target input port type (default `main`).
    #[serde(rename = "type")]
    pub port: String,
    /// Target input index.
    pub index: usize,
    /// Fields other than these three, as pointers from the target.
    #[serde(skip)]
    pub(crate) unknown_fields: Vec<String>,
}

/// Execution settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Whole-execution timeout in seconds (0 = unlimited).
    #[serde(default)]
    pub execution_timeout: Option<u64>,
    /// Nodes running at once (default: available parallelism x 4).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// References that resolve to nothing are errors instead of warnings.
    #[serde(default)]
    pub strict_templates: bool,
    /// A service records each node as it runs, so an interrupted execution
    /// resumes (default: the service's setting).
    #[serde(default)]
    pub save_execution_progress: Option<bool>,
    /// What a service keeps of a finished execution's data: `all`
    /// (default), `errors-only` or `none`.
    #[serde(default)]
    pub save_execution_data: Option<String>,
    /// Executions of this workflow a service runs at once; more wait.
    #[serde(default)]
    pub max_concurrent_executions: Option<usize>,
}

/// What happens when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnError {
    /// Stop: cancel running nodes, leave the rest not run.
    StopWorkflow,
    /// Continue along the main output with the error as output.
    ContinueRegularOutput,
    /// Continue along the `error` output only.
    ContinueErrorOutput,
    /// Retry (with the node's retry settings, else 3 tries).
    Retry,
    /// Mark the node skipped and continue (from `nodeOverrides`).
    SkipNode,
}

/// Workflow-wide error handling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorHandling {
    /// Default `onError` for nodes that set none.
    #[serde(default)]
    pub default: Option<OnError>,
    /// Per node id.
    #[serde(default)]
    pub node_overrides: BTreeMap<String, OnError>,
    /// plugflow extension: a default registry recovery strategy.
    #[serde(default)]
    pub recovery: Option<RecoveryStrategy>,
    /// A node run once, with the error as its input, when the workflow
    /// stops on a failed node (and it has not run already).
    #[serde(default)]
    pub error_logger: Option<String>,
}

/// A retry policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Whether retries happen (a node-level policy is on unless `false`).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Attempts in all (default 3).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Growth of delays (default exponential).
    #[serde(default)]
    pub backoff_type: Option<BackoffKind>,
    /// First delay, ms (default 1000).
    #[serde(default)]
    pub initial_delay: Option<u64>,
    /// Largest delay, ms (default 60000).
    #[serde(default)]
    pub max_delay: Option<u64>,
    /// Error kinds retried besides those the plugin marks retryable:
    /// stable codes, or MetaBuilder's `TIMEOUT`, `TEMPORARY_FAILURE`,
    /// `RATE_LIMIT`.
    #[serde(default)]
    pub retryable_errors: Vec<String>,
}

/// A workflow variable (`$workflow.variables.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableDef {
    /// Its default value.
    #[serde(default)]
    pub default_value: Value,
    /// A run must give it a value when it has no default.
    #[serde(default)]
    pub required: bool,
}

/// A trigger declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// The node acting as trigger.
    #[serde(default)]
    pub node_id: String,
    /// Its kind (webhook, manual, schedule, ...).
    #[serde(default)]
    pub kind: String,
    /// Whether it is active (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The workflow's multi-tenancy block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiTenancy {
    /// Enforce tenant filtering (default true): strict isolation.
    #[serde(default)]
    pub enforced: Option<bool>,
    /// The record field naming the tenant (default `tenantId`).
    #[serde(default)]
    pub tenant_id_field: Option<String>,
    /// Node types this workflow may never run (default: raw-sql, eval,
    /// shell-exec).
    #[serde(default)]
    pub restrict_node_types: Option<Vec<String>>,
    /// Lets tenants other than the workflow's `tenantId` run it, when
    /// their policy allows cross-tenant access too. It never loosens data
    /// isolation.
    #[serde(default)]
    pub allow_cross_tenant_access: bool,
    /// Audit every node execution (default true).
    #[serde(default)]
    pub audit_logging: Option<bool>,
}
