//! Recording an execution's nodes as they run, so that it can resume.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use plugflow_engine::{NodeProgress, ProgressObserver};
use plugin_abi::manifest::ExecutionClass;
use registry_core::Registry;
use serde_json::Value;

use crate::catalog::Entry;
use crate::store::ExecutionStore;

/// Records each node of one execution as it starts and finishes, on the
/// engine's task: the write is in the store (SQLite's WAL) before the next
/// node starts, so a killed process loses no finished node.
pub(crate) struct Recorder {
    pub(crate) store: Arc<dyn ExecutionStore>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) entry: Arc<Entry>,
    pub(crate) access: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    pub(crate) tenant: String,
    pub(crate) execution_id: String,
}

impl ProgressObserver for Recorder {
    fn node_finished(&self, _: NodeProgress<'_>) {}

    fn node_started(&self, node_id: &str) {
        // A pure node in flight at a crash runs again anyway: its start
        // need not be known. Only the others' starts are written.
        let pure = self
            .entry
            .node_types
            .get(node_id)
            .and_then(|t| self.registry.metadata(t))
            .is_some_and(|m| m.manifest.execution == ExecutionClass::Pure);
        if pure {
            return;
        }
        if let Err(e) = self
            .store
            .node_started(&self.tenant, &self.execution_id, node_id)
        {
            tracing::error!(component = "serve", execution_id = %self.execution_id, node_id, "could not record a node's start: {e}");
        }
    }

    fn node_executed(&self, node_id: &str, execution: &registry_core::NodeExecution) {
        if let Some(node_type) = self.entry.node_types.get(node_id) {
            *self
                .access
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((self.tenant.clone(), node_type.clone()))
                .or_default() += 1;
        }
        let outcome = serde_json::to_value(execution).unwrap_or(Value::Null);
        if let Err(e) =
            self.store
                .node_executed(&self.tenant, &self.execution_id, node_id, &outcome)
        {
            tracing::error!(component = "serve", execution_id = %self.execution_id, node_id, "could not record a node's outcome: {e}");
        }
    }
}
