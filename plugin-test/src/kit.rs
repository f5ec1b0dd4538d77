//! The registry and engine a test runs its plugin in.

use std::sync::Arc;

use plugflow_engine::Engine;
use plugin_abi::PluginModuleRef;
use registry_core::Registry;
use serde_json::{Map, Value};

use crate::node_run::NodeRun;
use crate::workflow_run::WorkflowOutcome;

/// A registry holding the plugin under test (and any other modules added),
/// with the engine that runs workflows against it.
pub struct PluginTest {
    engine: Engine,
    runtime: tokio::runtime::Runtime,
}

impl PluginTest {
    /// A kit with the plugin whose root module is `module` (your crate's
    /// `plugflow_module()`), registered exactly as the loader registers a
    /// shared library: manifest read and validated, dependencies checked,
    /// one executor per node type.
    ///
    /// # Errors
    ///
    /// The loader's rejection (its code and message) when the plugin would
    /// not load.
    pub fn new(module: PluginModuleRef) -> Result<Self, String> {
        Self::with_modules(&[module])
    }

    /// A kit with several plugins (yours and those it depends on), in
    /// dependency order.
    ///
    /// # Errors
    ///
    /// As [`PluginTest::new`], for the first module refused.
    pub fn with_modules(modules: &[PluginModuleRef]) -> Result<Self, String> {
        let registry = Registry::new();
        for module in modules {
            loader::register_static_plugin(&registry, *module)
                .map_err(|r| format!("{}: {}", r.reason.as_str(), r.message))?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        Ok(Self {
            engine: Engine::new(Arc::new(registry)),
            runtime,
        })
    }

    /// The registry, for what the kit does not wrap (tenant policies,
    /// credentials, node configuration).
    pub fn registry(&self) -> &Arc<Registry> {
        self.engine.registry()
    }

    /// Sets the host configuration a node type receives (what an operator
    /// sets in the config file).
    pub fn configure(&self, node_type: &str, config: Map<String, Value>) {
        self.registry().set_node_config(node_type, config);
    }

    /// A run of one node of `node_type`: set its parameters, input and
    /// tenant, then [`NodeRun::run`].
    pub fn node(&self, node_type: &str) -> NodeRun<'_> {
        NodeRun::new(self.registry(), &self.runtime, node_type)
    }

    /// Runs `workflow` (a workflow JSON document) with `trigger` as its
    /// trigger data, as the [`TEST_TENANT`](crate::TEST_TENANT), the way `plugflow run` does:
    /// validated first, nothing runs when a problem is found.
    pub fn run_workflow(&self, workflow: &Value, trigger: Value) -> WorkflowOutcome {
        crate::workflow_run::run(&self.engine, &self.runtime, workflow, trigger)
    }
}
