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
pub use credentials::{Credential, CredentialRef, CredentialStore};
pub use engine::{
    CancelHandle, CompiledWorkflow, Engine, EngineOptions, ExecutionResult, InvalidWorkflow,
    NodeProgress, NodeResult, NodeStatus, Progress, ProgressObserver, RunOptions, RunStatus,
};
pub use error::{ErrorCode, NodeFailure, RegistryError, ValidationIssue};
pub use hashing::value_hash;
pub use invoke::{
    check_parameters, from_plugin_error, parameter_issues, parse_response, request_text, NodeCall,
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
pub use workflow::{Problem, Workflow};

pub use plugin_abi;
