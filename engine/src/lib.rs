//! The plugflow DAG executor: MetaBuilder workflow v3 files, their
//! `{{ }}` templates and sandboxed JavaScript expressions, run against a
//! [`registry_core::Registry`].
//!
//! * [`Workflow::parse`] reads a file — one verdict for every file: a
//!   syntax error with line and column, another MetaBuilder format named,
//!   fields of the wrong type kept as problems while the rest is checked.
//! * [`CompiledWorkflow::compile`] builds the graph and compiles every
//!   template once; compile once, run many times.
//! * [`Engine::validate`] reports every problem and warning before anything
//!   runs; [`Engine::run`] validates, then runs: a node runs once all its
//!   incoming branches have resolved; independent branches run
//!   concurrently; conditions pick branches and nodes on branches not taken
//!   are skipped; `onError`, retries, timeouts, the execution deadline, the
//!   error logger and cancellation are honoured.
//!
//! # What templates see
//!
//! | name | value |
//! |---|---|
//! | `$json` | the trigger data, in every node (MetaBuilder's meaning) |
//! | `$input` | the node's input: its single predecessor's output, or an object keyed by predecessor id at a join |
//! | `$steps.<id>` | a finished node: `{output, status, success, error}` |
//! | `$node["<name>"].json` | a finished node's output, by name |
//! | `$context` | `tenantId`, `user`, `executionId` |
//! | `$workflow` | `id`, `name`, `version`, `tenantId`, `variables` |
//! | `$vars`, `$trigger`, `$env` | variables, the trigger data, allow-listed environment |
//!
//! A reference that resolves to nothing renders as `null` with an
//! `UNRESOLVED_REFERENCE` warning on the node (an error with strict
//! templates). `docs/OPERATIONS.md` has the whole contract.
//!
//! # Runtime
//!
//! [`Engine::run`] is a future that needs no particular executor and never
//! panics on the host's runtime configuration: pure node types run inline;
//! blocking ones on the caller's tokio blocking pool when there is one
//! (its `max_blocking_threads` bounds them), else on plugflow's own
//! background pool; timeouts, retry backoff and the execution deadline run
//! on plugflow's clock, so a runtime without timers (or none at all, as
//! with `futures::executor::block_on`) works.
//!
//! # Embed plugflow
//!
//! An in-process node type, plugin libraries (with the `loader` crate), a
//! tenant policy, and a workflow run:
//!
//! ```
//! use std::sync::Arc;
//! use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec};
//! use plugflow_engine::{CompiledWorkflow, Engine, RunOptions, RunStatus, Workflow};
//! use registry_core::{ExecContext, Registry, TenantPolicy};
//! use serde_json::json;
//!
//! let registry = Registry::new();
//! // A node type written in the host, with the plugin SDK's builder.
//! registry.register_spec(
//!     NodeSpec::new("acme.double", "1.0.0", "math", "Doubles `n`. Output: {result}.")
//!         .schema(json!({"type": "object", "properties": {"n": {"type": "number"}}}))
//!         .required(["n"])
//!         .handler(|r: &NodeRequest| -> Result<NodeOutput, NodeError> {
//!             Ok(NodeOutput::result(json!(r.f64_param("n")? * 2.0)))
//!         }),
//! )?;
//! // Plugin libraries from a directory: every `.so` / `.dylib` / `.dll`
//! // there is checked, loaded and registered; a bad one is reported, never
//! // fatal (this directory is empty).
//! let plugins = std::env::temp_dir().join(format!("plugflow-embed-{}", std::process::id()));
//! std::fs::create_dir_all(&plugins)?;
//! let report = loader::Loader::new(loader::DiscoveryConfig::with_directories([&plugins]))
//!     .discover(&registry);
//! assert_eq!(report.totals.rejected, 0);
//! registry.set_tenant_policy(TenantPolicy {
//!     allowed_node_types: vec!["acme.*".into()],
//!     ..TenantPolicy::new("acme")
//! });
//!
//! let workflow = Workflow::parse(r#"{
//!     "nodes": [
//!       {"id": "a", "nodeType": "acme.double", "parameters": {"n": "{{ $json.start }}"}},
//!       {"id": "b", "nodeType": "acme.double", "parameters": {"n": "{{ $input.result }}"}}],
//!     "connections": {"a": {"main": [[{"node": "b", "type": "main", "index": 0}]]}}
//! }"#, "inline.json")?;
//! let compiled = CompiledWorkflow::compile(workflow);
//! let engine = Engine::new(Arc::new(registry));
//! let options = RunOptions {
//!     trigger: json!({"start": 5}),
//!     context: ExecContext { tenant_id: Some("acme".into()), ..Default::default() },
//!     ..Default::default()
//! };
//! // Any executor will do; here a plain current-thread runtime.
//! let result = tokio::runtime::Builder::new_current_thread().build()?
//!     .block_on(engine.run(&compiled, options))?;
//! assert_eq!(result.status, RunStatus::Success);
//! assert_eq!(result.nodes["b"].output, json!({"result": 20.0}));
//! assert!(!result.execution_id.is_empty(), "an id is generated when none is given");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod anchor;
mod compile;
mod conclude;
mod engine;
mod execution;
#[doc(hidden)] // Internal; public for the template fuzz tests only.
pub mod expr;
mod options;
mod pointer;
mod progress;
mod references;
mod report;
mod result;
mod result_json;
mod resume;
mod schedule;
mod state;
mod timestamp;
mod unknown_fields;
mod validate;
pub mod workflow;

pub use compile::{CompiledWorkflow, MAX_TRIES};
pub use engine::{Engine, InvalidWorkflow};
pub use options::{CancelHandle, EngineOptions, RunOptions};
pub use progress::{NodeProgress, Progress, ProgressObserver};
pub use report::{Report, Warning, WarningKind};
pub use result::{ExecutionResult, NodeResult, RunMetrics, RunStatus, RunWarning};
pub use resume::{RecordedNode, Resume};
pub use workflow::{ParseError, Problem, Workflow};

pub use registry_core::{new_execution_id, NodeStatus};
