//! Everything a host application links to run plugflow node types safely:
//!
//! * a [`Registry`] of node types with their metadata and executors, behind
//!   quick_cache caches with hit, miss and eviction counters ([`cache`]);
//! * parameter validation against each node type's JSON Schema;
//! * multi-tenant safety: [`TenantPolicy`] (node types allowed, strict or
//!   relaxed data isolation, audit), the parameter rewrite and output check
//!   of [`isolation`], per-tenant [`credentials`] with secret masking;
//! * error recovery ([`RecoveryStrategy`]), a hash-chained [`audit`] log and
//!   [`metrics`] as JSON or Prometheus text;
//! * [`Registry::execute`], the pipeline that runs one node through all of
//!   it (see [`pipeline`]).
//!
//! `registry-core` never opens a shared library: executors come from the
//! `loader` crate, from statically linked plugin crates, or from
//! [`plugin_abi::sdk::executor_box`] in-process.
//!
//! # Register a node type and execute it
//!
//! ```
//! use plugin_abi::manifest::NodeTypeManifest;
//! use plugin_abi::request::ExecContext;
//! use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
//! use registry_core::{ExecState, ExecStatus, NodeInvocation, NodeMetadata, NodeSource, RecoveryStrategy, Registry};
//! use serde_json::{json, Map};
//!
//! struct Shout;
//! impl Node for Shout {
//!     fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
//!         Ok(NodeOutput::result(json!(request.str_param("text")?.to_uppercase())))
//!     }
//! }
//!
//! let registry = Registry::new();
//! let mut manifest = NodeTypeManifest::new("demo.shout", "1.0.0");
//! manifest.parameter_schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
//! manifest.required_fields = vec!["text".into()];
//! registry.register_with_metadata(executor_box(Shout), NodeMetadata::new(manifest, NodeSource::InProcess))?;
//!
//! let parameters = json!({"text": "hello"});
//! let context = ExecContext { tenant_id: Some("acme".into()), ..Default::default() };
//! let variables = Map::new();
//! let state = ExecState::new(&json!(null), &variables);
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let done = registry
//!     .execute("demo.shout", &NodeInvocation::new("n1", &parameters), &context, &state, &RecoveryStrategy::Fail)
//!     .await;
//! assert_eq!(done.status, ExecStatus::Success);
//! assert_eq!(done.output, json!({"result": "HELLO"}));
//!
//! // A parameter of the wrong type never reaches the plugin.
//! let bad = json!({"text": 42});
//! let refused = registry
//!     .execute("demo.shout", &NodeInvocation::new("n2", &bad), &context, &state, &RecoveryStrategy::Fail)
//!     .await;
//! assert_eq!(refused.error.map(|e| e.code.as_str()), Some("VALIDATION_FAILED"));
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Set a tenant policy
//!
//! ```
//! use registry_core::{DataIsolation, Registry, TenantPolicy};
//!
//! let registry = Registry::new();
//! registry.set_tenant_policy(TenantPolicy {
//!     tenant_id: "acme".into(),
//!     allowed_node_types: vec!["string.*".into(), "dbal-read".into()],
//!     restricted_node_types: vec!["http-request".into()],
//!     data_isolation: DataIsolation::Strict,
//!     audit_logging: true,
//!     ..Default::default()
//! });
//! let policy = registry.effective_policy(Some("acme"), None).expect("a tenant has a policy");
//! assert!(policy.allows("string.upper"));
//! assert!(!policy.allows("http-request"));
//! assert!(!policy.allows("email-send"), "not on the allow list");
//! ```
//!
//! # Run a workflow
//!
//! ```
//! use std::sync::Arc;
//! use plugin_abi::manifest::NodeTypeManifest;
//! use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
//! use registry_core::{CompiledWorkflow, Engine, NodeMetadata, NodeSource, Registry, RunOptions, RunStatus, Workflow};
//! use serde_json::json;
//!
//! struct Double;
//! impl Node for Double {
//!     fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
//!         let n = request.required_param("n")?.as_f64().unwrap_or(0.0);
//!         Ok(NodeOutput::result(json!(n * 2.0)))
//!     }
//! }
//!
//! let registry = Registry::new();
//! registry.register_with_metadata(
//!     executor_box(Double),
//!     NodeMetadata::new(NodeTypeManifest::new("demo.double", "1.0.0"), NodeSource::InProcess),
//! )?;
//! let workflow = Workflow::from_json_str(r#"{
//!     "nodes": [
//!       {"id": "a", "name": "a", "type": "operation", "nodeType": "demo.double", "typeVersion": 1, "position": [0, 0], "parameters": {"n": "{{ $json.start }}"}},
//!       {"id": "b", "name": "b", "type": "operation", "nodeType": "demo.double", "typeVersion": 1, "position": [0, 0], "parameters": {"n": "{{ $input.result }}"}}],
//!     "connections": {"a": {"main": [[{"node": "b", "type": "main", "index": 0}]]}}
//! }"#, "inline.json")?;
//! // Templates are parsed once here; the compiled workflow can run many times.
//! let compiled = CompiledWorkflow::compile(workflow);
//! let engine = Engine::new(Arc::new(registry));
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let result = engine
//!     .run(&compiled, RunOptions { trigger: json!({"start": 5}), ..Default::default() })
//!     .await
//!     .expect("the workflow is valid");
//! assert_eq!(result.status, RunStatus::Success);
//! assert_eq!(result.nodes["b"].output, json!({"result": 20.0}));
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod audit;
pub mod cache;
pub mod credentials;
pub mod engine;
mod error;
pub mod expr;
mod hashing;
mod invoke;
pub mod isolation;
mod metadata;
pub mod metrics;
pub mod pipeline;
pub mod recovery;
mod registry;
pub mod tenant;
pub mod workflow;

pub use audit::{AuditLog, AuditRecord, VerifyReport};
pub use cache::{CacheConfig, CacheSettings, CacheStats};
pub use credentials::{
    Credential, CredentialConfig, CredentialKind, CredentialRef, CredentialStore, SecretSource,
};
pub use engine::{
    new_execution_id, CancelHandle, CompiledWorkflow, Engine, EngineOptions, ExecutionResult,
    InvalidWorkflow, NodeProgress, NodeResult, NodeStatus, Progress, ProgressObserver, Report,
    RunOptions, RunStatus, RunWarning, Warning, WarningKind,
};
pub use error::{ErrorCode, NodeFailure, RegistryError, ValidationIssue};
pub use hashing::value_hash;
pub use invoke::{
    check_parameters, from_plugin_error, parameter_issues, parse_response, request_text,
    with_request_text, NodeCall,
};
pub use metadata::{
    check_manifest_fields, is_valid_node_type, validate_manifest, CompiledSchema, NodeMetadata,
    NodeSource,
};
pub use metrics::{ErrorMetrics, MetricsSnapshot};
pub use pipeline::{ExecState, ExecStatus, NodeExecution, NodeInvocation};
pub use recovery::{Backoff, BackoffKind, RecoveryStrategy};
pub use registry::{
    CacheKind, ExecutorCheck, ListFilter, RegisteredNode, Registry, RegistryConfig, Replaced,
};
pub use tenant::{DataIsolation, TenantPolicy};
pub use workflow::{ParseError, Problem, Workflow};

pub use plugin_abi;
