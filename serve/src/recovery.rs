//! Resuming, at start-up, the executions a previous run of the service
//! left `running`.

use std::sync::Arc;

use plugflow_engine::{RecordedNode, Resume};
use plugin_abi::manifest::ExecutionClass;
use registry_core::{ErrorCode, NodeFailure};
use serde_json::{json, Value};

use crate::catalog::Entry;
use crate::recorder::scheduled_retry;
use crate::service::{now_ms, Run, Service};

impl Service {
    /// Resumes every execution the store still has as `running` (the
    /// service stopped, or was killed, while they ran). Nodes with a
    /// recorded outcome are replayed; a node that was in flight runs again
    /// only when its node type is `pure` or declared idempotent, else it
    /// fails with `EXECUTION_ERROR` saying why. An execution whose workflow
    /// is gone or changed ends in `error`. Returns how many resumed.
    pub(crate) async fn recover(self: &Arc<Self>) -> Result<usize, String> {
        let unfinished = self.with_store(|store| store.unfinished()).await?;
        let mut resumed = 0;
        for record in unfinished {
            let entry = self
                .catalog()
                .get(&record.tenant, &record.workflow_id)
                .filter(|e| e.hash == record.workflow_hash);
            let Some(entry) = entry else {
                let outcome = Err(format!(
                    "workflow `{}` was removed or changed while the execution was interrupted; it was not resumed",
                    record.workflow_id
                ));
                self.finish_unresumable(&record.tenant, &record.execution_id, outcome)
                    .await;
                continue;
            };
            if !entry.saves_progress(self.config.save_execution_progress) {
                let outcome = Err("the execution was interrupted, and its progress was not saved (saveExecutionProgress is off), so it was not resumed; retry it".to_owned());
                self.finish_unresumable(&record.tenant, &record.execution_id, outcome)
                    .await;
                continue;
            }
            let (t, id) = (record.tenant.clone(), record.execution_id.clone());
            let nodes = self
                .with_store(move |store| store.node_records(&t, &id))
                .await?;
            let resume = self.resume_plan(&entry, nodes);
            tracing::info!(component = "serve", execution_id = %record.execution_id, replayed = resume.completed.len(), "resuming an interrupted execution");
            // Nobody waits for a resumed execution: its end is recorded.
            let run = Run {
                tenant: record.tenant,
                execution_id: record.execution_id,
                input: record.input.unwrap_or(Value::Null),
                request: record.request.unwrap_or(Value::Null),
                resume: Some(Arc::new(resume)),
                unrecorded: None,
            };
            drop(self.launch(entry, run, None));
            resumed += 1;
        }
        Ok(resumed)
    }

    /// What to replay: recorded outcomes, and failures for in-flight nodes
    /// that must not run twice.
    pub(crate) fn resume_plan(&self, entry: &Entry, nodes: Vec<(String, Option<Value>)>) -> Resume {
        let mut completed = std::collections::BTreeMap::new();
        let mut retries = std::collections::BTreeMap::new();
        for (node_id, outcome) in nodes {
            if let Some(done) = outcome.as_ref().and_then(scheduled_retry) {
                retries.insert(node_id, done);
                continue;
            }
            match outcome.and_then(|o| serde_json::from_value::<RecordedNode>(o).ok()) {
                Some(recorded) => {
                    completed.insert(node_id, recorded);
                }
                None => {
                    let node_type = entry
                        .compiled
                        .workflow
                        .nodes
                        .iter()
                        .find(|n| n.id == node_id)
                        .and_then(|n| n.node_type.clone())
                        .unwrap_or_default();
                    let safe = self.registry().metadata(&node_type).is_some_and(|m| {
                        m.manifest.execution == ExecutionClass::Pure || m.manifest.idempotent
                    });
                    if !safe {
                        completed.insert(
                            node_id.clone(),
                            RecordedNode::failed(NodeFailure::new(
                                ErrorCode::ExecutionError,
                                format!(
                                    "node `{node_id}` was running when the service stopped; `{node_type}` may have side effects (it is neither pure nor idempotent), so it was not run again — check its effect and retry the execution"
                                ),
                            )),
                        );
                    }
                }
            }
        }
        Resume { completed, retries }
    }

    async fn finish_unresumable(&self, tenant: &str, execution_id: &str, why: Result<(), String>) {
        let message = why.err().unwrap_or_default();
        let store = Arc::clone(&self.store);
        let (t, id) = (tenant.to_owned(), execution_id.to_owned());
        let finished = now_ms();
        let recorded = tokio::task::spawn_blocking(move || {
            store.finished(
                &t,
                &id,
                "error",
                finished,
                &json!({"error": message}),
                Some(&message),
            )
        })
        .await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::error!(
                component = "serve",
                execution_id,
                "could not record the end of an execution"
            );
        }
    }
}
