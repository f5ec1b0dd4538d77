//! Where executions are recorded: the [`ExecutionStore`] trait and its
//! types; the embedded SQLite store and the PostgreSQL store implement it.
//! Every read and write names the tenant, so no query can reach another
//! tenant's executions.

use serde::Serialize;
use serde_json::Value;

/// A recorded execution.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    /// Its id.
    pub execution_id: String,
    /// The tenant it ran as.
    #[serde(skip)]
    pub tenant: String,
    /// The workflow's id.
    pub workflow_id: String,
    /// SHA-256 of the workflow file it ran.
    pub workflow_hash: String,
    /// `queued` (waiting for a worker, PostgreSQL only), `running`,
    /// `success`, `error`, `cancelled`, `timeout`, `invalid`.
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Milliseconds since the Unix epoch, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// The trigger data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The webhook request that triggered it (`$context.request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// The execution result (per-node results), once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it did not succeed, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Which executions [`ExecutionStore::list`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Of this workflow only.
    pub workflow_id: Option<String>,
    /// With this status only.
    pub status: Option<String>,
    /// Started at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Started before (ms since the epoch).
    pub until_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
    /// Skipping this many (paging).
    pub offset: usize,
}

/// How an execution ended, and what of it is not kept.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// Its final status.
    pub status: &'a str,
    /// Milliseconds since the Unix epoch.
    pub finished_at_ms: u64,
    /// The execution result.
    pub result: &'a Value,
    /// Why it did not succeed, in one line.
    pub error: Option<&'a str>,
    /// Drop its input, request and result (`saveExecutionData`).
    pub drop_data: bool,
    /// Drop its node records.
    pub drop_nodes: bool,
}

/// A store that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not do what was asked.
    #[error("execution store: {0}")]
    Failed(String),
    /// This worker no longer holds the execution: its lease expired and
    /// another worker took the execution over. The execution must stop
    /// here; the other worker finishes it.
    #[error("execution store: this worker's lease on execution `{0}` expired and another worker took it over")]
    LeaseLost(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

/// Records executions. Implementations are called from blocking threads
/// unless [`Self::blocks`] says they never wait.
pub trait ExecutionStore: Send + Sync + 'static {
    /// Whether a call may wait on I/O (a file, a network). The service
    /// makes such calls on its blocking pool; a store that answers from
    /// memory is called in place, which saves two thread hand-offs per
    /// call.
    fn blocks(&self) -> bool {
        true
    }
    /// An execution was accepted (status `running`).
    fn started(&self, record: &ExecutionRecord) -> Result<(), StoreError>;
    /// An execution reached its final status; what `ending` says is not
    /// kept is dropped ([`Self::prune`]) in the same write.
    fn end(&self, tenant: &str, execution_id: &str, ending: &Ending<'_>) -> Result<(), StoreError>;
    /// [`Self::end`], keeping everything.
    fn finished(
        &self,
        tenant: &str,
        execution_id: &str,
        status: &str,
        finished_at_ms: u64,
        result: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let ending = Ending {
            status,
            finished_at_ms,
            result,
            error,
            drop_data: false,
            drop_nodes: false,
        };
        self.end(tenant, execution_id, &ending)
    }
    /// An execution whose start was not recorded (a synchronous run
    /// without progress recording) ended: its record and its end, in one
    /// write where the store can.
    fn started_and_ended(
        &self,
        record: &ExecutionRecord,
        ending: &Ending<'_>,
    ) -> Result<(), StoreError> {
        self.started(record)?;
        self.end(&record.tenant, &record.execution_id, ending)
    }
    /// One execution of `tenant`.
    fn get(&self, tenant: &str, execution_id: &str) -> Result<Option<ExecutionRecord>, StoreError>;
    /// Executions of `tenant`, newest first, without input and result.
    fn list(&self, tenant: &str, filter: &ListFilter) -> Result<Vec<ExecutionRecord>, StoreError>;
    /// Whether the store answers.
    fn ping(&self) -> Result<(), StoreError>;
    /// A node of a running execution is about to run.
    fn node_started(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
    ) -> Result<(), StoreError>;
    /// A node ran: its outcome as JSON (a serialised `NodeExecution`).
    fn node_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
        outcome: &Value,
    ) -> Result<(), StoreError>;
    /// Several nodes ran: [`Self::node_executed`] for each, in one
    /// transaction where the store has them.
    fn nodes_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        outcomes: &[(String, Value)],
    ) -> Result<(), StoreError> {
        for (node_id, outcome) in outcomes {
            self.node_executed(tenant, execution_id, node_id, outcome)?;
        }
        Ok(())
    }
    /// The nodes recorded for an execution, in the order they started:
    /// `(node id, outcome)`, the outcome `None` for a node that started
    /// and never finished.
    fn node_records(
        &self,
        tenant: &str,
        execution_id: &str,
    ) -> Result<Vec<(String, Option<Value>)>, StoreError>;
    /// Every execution still `running`, of every tenant: what a restarted
    /// service resumes.
    fn unfinished(&self) -> Result<Vec<ExecutionRecord>, StoreError>;
    /// Deletes executions of every tenant that finished before
    /// `before_ms`, with their node records; returns how many.
    fn purge_finished_before(&self, before_ms: u64) -> Result<usize, StoreError>;
    /// Deletes each tenant's oldest finished executions beyond its newest
    /// `keep`, with their node records; returns how many.
    ///
    /// # Errors
    ///
    /// By default: this store does not bound executions by count.
    fn purge_beyond(&self, keep: usize) -> Result<usize, StoreError> {
        let _ = keep;
        Err(StoreError::Failed(
            "this store keeps executions by age (retention-days) only".into(),
        ))
    }
    /// Drops what is not to be kept of a finished execution: with `data`,
    /// its input, request and result (`saveExecutionData`); with `nodes`,
    /// its node records (needed only to resume it or retry it from its
    /// failed node).
    fn prune(
        &self,
        tenant: &str,
        execution_id: &str,
        data: bool,
        nodes: bool,
    ) -> Result<(), StoreError>;
}
