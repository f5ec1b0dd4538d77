//! Recording an execution's nodes as they run, so that it can resume.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use plugflow_engine::{NodeProgress, ProgressObserver};
use plugin_abi::manifest::ExecutionClass;
use registry_core::Registry;
use serde_json::{json, Value};

use crate::catalog::Entry;
use crate::store::{ExecutionStore, StoreError};

/// Records each node of one execution as it runs, on the engine's task.
///
/// A node that is not `pure` is written before it runs (its start) and as
/// soon as it finishes, each write in the store before the engine goes on:
/// a killed process never loses one. The outcomes of `pure` nodes are kept
/// here and written together with the next write — or when the execution
/// ends without success (a retry needs them); a crash may lose them, and
/// then they run again on resume, which is what `pure` allows. A
/// successful execution's node records are dropped anyway, so a workflow
/// of pure nodes that succeeds writes none.
pub(crate) struct Recorder {
    pub(crate) store: Arc<dyn ExecutionStore>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) entry: Arc<Entry>,
    pub(crate) access: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    pub(crate) tenant: String,
    pub(crate) execution_id: String,
    pub(crate) pending: Mutex<Vec<(String, Value)>>,
    /// Cancels the execution when this worker lost its lease, or when a
    /// node suspended it.
    pub(crate) cancel: plugflow_engine::CancelHandle,
    /// When a long `wait` suspended the execution: when it is due again.
    pub(crate) suspended_until: Mutex<Option<u64>>,
}

impl Recorder {
    fn is_pure(&self, node_id: &str) -> bool {
        self.entry
            .node_types
            .get(node_id)
            .and_then(|t| self.registry.metadata(t))
            .is_some_and(|m| m.manifest.execution == ExecutionClass::Pure)
    }

    /// A write failed: logged; when the lease is gone, the execution stops
    /// here (the worker that took it over goes on from the records).
    fn failed(&self, error: &StoreError, what: &str) {
        tracing::error!(component = "serve", execution_id = %self.execution_id, "{what}: {error}");
        if matches!(error, StoreError::LeaseLost(_)) {
            self.cancel.cancel();
        }
    }

    /// Stops the run here: the execution is suspended until `until`.
    fn suspend_until(&self, until: u64) {
        *self
            .suspended_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
        self.cancel.cancel();
    }

    /// Writes the kept outcomes of pure nodes, then `also` (in one
    /// transaction).
    pub(crate) fn flush(&self, also: Option<(String, Value)>) {
        let mut batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        batch.extend(also);
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .nodes_executed(&self.tenant, &self.execution_id, &batch)
        {
            self.failed(&e, "could not record node outcomes");
        }
    }
}

/// In a node's record: its next retry is due at this time (ms since the
/// epoch) — the node has no outcome yet.
pub(crate) const RETRY_AT: &str = "retryAt";
/// In a node's record: the retries it made before its next one was
/// scheduled.
pub(crate) const RETRIES: &str = "retries";

/// A node's record saying its next retry is scheduled: the retries made.
pub(crate) fn scheduled_retry(record: &Value) -> Option<u32> {
    record.get(RETRY_AT)?;
    u32::try_from(record.get(RETRIES)?.as_u64()?).ok()
}

/// A node's answer asking to suspend the execution: the due time and the
/// node's real output.
fn suspension(execution: &registry_core::NodeExecution) -> Option<(u64, Value)> {
    let answer = execution.output.as_object()?;
    let until = answer.get(plugin_abi::suspend::UNTIL_MS)?.as_u64()?;
    let output = answer
        .get(plugin_abi::suspend::OUTPUT)
        .cloned()
        .unwrap_or(Value::Null);
    Some((until, output))
}

impl ProgressObserver for Recorder {
    fn node_finished(&self, _: NodeProgress<'_>) {}

    fn node_started(&self, node_id: &str) {
        // A pure node in flight at a crash runs again anyway: its start
        // need not be known. Before any other node runs, everything
        // before it is written.
        if self.is_pure(node_id) {
            return;
        }
        self.flush(None);
        if let Err(e) = self
            .store
            .node_started(&self.tenant, &self.execution_id, node_id)
        {
            self.failed(&e, "could not record a node's start");
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
        if let Some(until) = execution.retry_at_ms {
            // Its next retry is due later: recorded as that (not as an
            // outcome), so that the node runs again when it is due, with
            // the retries it made counted.
            let scheduled = json!({RETRY_AT: until, RETRIES: execution.retries});
            self.flush(Some((node_id.to_owned(), scheduled)));
            self.suspend_until(until);
            return;
        }
        if let Some((until, output)) = suspension(execution) {
            // The node's real output is what is recorded (and replayed
            // when the execution is due); the run stops here.
            let mut recorded = execution.clone();
            recorded.output = output;
            let outcome = serde_json::to_value(&recorded).unwrap_or(Value::Null);
            self.flush(Some((node_id.to_owned(), outcome)));
            self.suspend_until(until);
            return;
        }
        let outcome = serde_json::to_value(execution).unwrap_or(Value::Null);
        if self.is_pure(node_id) {
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((node_id.to_owned(), outcome));
        } else {
            self.flush(Some((node_id.to_owned(), outcome)));
        }
    }
}
