//! A test kit for plugflow plugin authors, after nushell's
//! `nu-plugin-test-support`: run your node types in the plugin's own
//! `cargo test`, through the same registry pipeline and workflow engine the
//! `plugflow` binary uses, with your plugin linked statically — no shared
//! library to build, no plugflow checkout to run.
//!
//! Your plugin crate's `[lib]` must list `rlib` beside `cdylib` (so its
//! tests can link it), and `plugin_abi::export_plugin!` gives it the
//! `plugflow_module()` this kit registers:
//!
//! ```
//! use plugflow_plugin_test::PluginTest;
//! use serde_json::json;
//!
//! // In a plugin crate this is your `definition()` and
//! // `export_plugin!(definition)`; here a module is made the same way.
//! mod plugin {
//!     use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition};
//!     use serde_json::json;
//!     fn definition() -> PluginDefinition {
//!         PluginDefinition::new("acme-shout", "1.0.0").node(
//!             NodeSpec::new("acme.shout", "1.0.0", "text", "Upper-cases `text`.")
//!                 .schema(json!({"type": "object", "properties": {"text": {"type": "string"}}}))
//!                 .required(["text"])
//!                 .handler(|r: &NodeRequest| -> Result<NodeOutput, NodeError> {
//!                     Ok(NodeOutput::result(json!(r.str_param("text")?.to_uppercase())))
//!                 }),
//!         )
//!     }
//!     plugin_abi::export_plugin!(definition);
//! }
//!
//! let kit = PluginTest::new(plugin::plugflow_module()).unwrap();
//! let output = kit.node("acme.shout").parameters(json!({"text": "hi"})).run().expect_ok();
//! assert_eq!(output, json!({"result": "HI"}));
//!
//! let refused = kit.node("acme.shout").parameters(json!({})).run();
//! // The schema says `text` is required: refused before the node runs.
//! assert_eq!(refused.error_code(), Some("VALIDATION_FAILED"));
//! ```

#![warn(missing_docs)]

mod defaults;
mod kit;
mod node_run;
mod workflow_run;

pub use defaults::TEST_TENANT;
pub use kit::PluginTest;
pub use node_run::{NodeOutcome, NodeRun};
pub use workflow_run::WorkflowOutcome;

pub use plugflow_engine::{ExecutionResult, NodeResult, RunStatus};
pub use registry_core::{ErrorCode, NodeStatus};
