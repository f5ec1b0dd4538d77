//! The registry every plugflow host links: node types with their metadata
//! and executors, the caches in front of them, schema validation, tenant
//! safety, credentials, error recovery, the audit log and metrics — and
//! the one pipeline a node call goes through.
//!
//! * [`Registry`] holds node types ([`Registry::register_spec`] for
//!   in-process ones; the `loader` crate registers plugin libraries), their
//!   caches ([`CacheConfig`], [`CacheStats`]), tenant policies
//!   ([`TenantPolicy`]), credentials ([`CredentialStore`]) and the audit
//!   log ([`AuditLog`]).
//! * [`Registry::execute`] runs one [`NodeCall`] through every stage:
//!   tenant check → lookup → parameter validation → data-isolation rewrite
//!   and credentials → the call across the plugin boundary → output check
//!   → recovery ([`RecoveryStrategy`]) → audit → metrics. The outcome is a
//!   [`NodeExecution`].
//! * Errors carry a stable [`ErrorCode`].
//!
//! `registry-core` never opens a shared library (that is the `loader`
//! crate) and runs no workflows (that is `plugflow-engine`).
//!
//! # Runtime
//!
//! Nothing here needs a particular async runtime: `blocking` node types run
//! on plugflow's own background pool, and every timer (node timeouts, retry
//! backoff) runs on its clock, so [`Registry::execute`] can be awaited on
//! any executor.
//!
//! # Register a node type and run it
//!
//! ```
//! use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec};
//! use registry_core::{ErrorCode, ExecContext, NodeCall, NodeStatus, Registry};
//! use serde_json::json;
//!
//! let registry = Registry::new();
//! registry.register_spec(
//!     NodeSpec::new("demo.shout", "1.0.0", "string", "Upper-cases `text`.")
//!         .schema(json!({"type": "object", "properties": {"text": {"type": "string"}}}))
//!         .required(["text"])
//!         .handler(|r: &NodeRequest| -> Result<NodeOutput, NodeError> {
//!             Ok(NodeOutput::result(json!(r.str_param("text")?.to_uppercase())))
//!         }),
//! )?;
//!
//! let context = ExecContext { tenant_id: Some("acme".into()), ..Default::default() };
//! let parameters = json!({"text": "hello"});
//! // Pure node types run right here, without a runtime.
//! let done = registry
//!     .execute_now(&NodeCall::new("demo.shout", "n1", &parameters).context(&context))
//!     .expect("a pure node type runs inline");
//! assert_eq!(done.status, NodeStatus::Success);
//! assert_eq!(done.output, json!({"result": "HELLO"}));
//!
//! // A parameter of the wrong type never reaches the plugin.
//! let bad = json!({"text": 42});
//! let refused = registry
//!     .execute_now(&NodeCall::new("demo.shout", "n2", &bad).context(&context))
//!     .expect("inline");
//! assert_eq!(refused.error_code(), Some(ErrorCode::ValidationFailed));
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
#![warn(missing_docs)]

mod audit;
mod cache;
mod call;
mod credentials;
mod error;
mod execution;
mod hashing;
mod isolation;
mod metadata;
mod metrics;
mod pipeline;
pub mod plugin_host;
mod process_tier;
mod recovery;
mod registry;
mod reuse;
mod runtime;
mod schema;
mod schema_draft;
mod status;
mod tenant;
mod validation;
mod wire_call;

pub use audit::{verify as verify_audit_log, AuditLog, AuditRecord, BrokenLine, VerifyReport};
pub use cache::{CacheConfig, CacheSettings, CacheStats};
pub use call::{NodeCall, DEFAULT_TENANT_FIELD};
pub use credentials::{
    Credential, CredentialConfig, CredentialKind, CredentialRef, CredentialStore, SecretSource,
};
pub use error::{ErrorCode, NodeFailure, RegistryError, ValidationIssue};
pub use execution::NodeExecution;
pub use isolation::{foreign_record, scope_parameters};
pub use metadata::{NodeMetadata, NodeSource};
pub use metrics::{ErrorMetrics, ExecutionMetrics, MetricsSnapshot, NodeTypeMetrics};
pub use pipeline::new_execution_id;
pub use process_tier::{ExecutionTier, HostCall, ProcessTier};
pub use recovery::{Backoff, BackoffKind, RecoveryStrategy};
pub use registry::{
    CacheKind, ExecutorCheck, ListFilter, RegisteredNode, Registry, RegistryConfig, Replaced,
};
pub use runtime::{sleep, sleep_until};
pub use status::NodeStatus;
pub use tenant::{DataIsolation, TenantPolicy};
pub use wire_call::WireCall;

pub use plugin_abi;
pub use plugin_abi::request::ExecContext;
