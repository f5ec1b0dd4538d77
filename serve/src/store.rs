//! Where executions are recorded: the [`ExecutionStore`] trait, with the
//! embedded [`SqliteStore`] here and the PostgreSQL store beside it.
//! Every read and write names the tenant, so no query can reach another
//! tenant's executions.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
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

/// Records executions. Implementations are called from blocking threads.
pub trait ExecutionStore: Send + Sync + 'static {
    /// An execution was accepted (status `running`).
    fn started(&self, record: &ExecutionRecord) -> Result<(), StoreError>;
    /// An execution reached its final status.
    fn finished(
        &self,
        tenant: &str,
        execution_id: &str,
        status: &str,
        finished_at_ms: u64,
        result: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// [`Self::finished`], then [`Self::prune`]: in one round trip where
    /// the store can.
    fn end(&self, tenant: &str, execution_id: &str, ending: &Ending<'_>) -> Result<(), StoreError> {
        self.finished(
            tenant,
            execution_id,
            ending.status,
            ending.finished_at_ms,
            ending.result,
            ending.error,
        )?;
        self.prune(tenant, execution_id, ending.drop_data, ending.drop_nodes)
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

/// The embedded store: one SQLite file, in WAL mode.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS executions (
                execution_id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                workflow_id TEXT NOT NULL,
                workflow_hash TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at_ms INTEGER NOT NULL,
                finished_at_ms INTEGER,
                input TEXT,
                result TEXT,
                error TEXT,
                request TEXT
            );
            CREATE INDEX IF NOT EXISTS executions_by_tenant
                ON executions (tenant, started_at_ms DESC);
            CREATE INDEX IF NOT EXISTS executions_running
                ON executions (status) WHERE status = 'running';
            CREATE TABLE IF NOT EXISTS node_records (
                tenant TEXT NOT NULL,
                execution_id TEXT NOT NULL,
                node_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                outcome TEXT,
                PRIMARY KEY (execution_id, node_id)
            );",
        )?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Failed("the store's lock is poisoned".into()))?;
        f(&connection)
    }
}

/// Records a node's outcome (after its start, if that was recorded).
const NODE_EXECUTED: &str = "INSERT INTO node_records (tenant, execution_id, node_id, seq, outcome)
     VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM node_records WHERE execution_id = ?2), ?4)
     ON CONFLICT (execution_id, node_id) DO UPDATE SET outcome = excluded.outcome
     WHERE node_records.tenant = excluded.tenant";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(ExecutionRecord {
        execution_id: row.get(0)?,
        tenant: row.get(1)?,
        workflow_id: row.get(2)?,
        workflow_hash: row.get(3)?,
        status: row.get(4)?,
        started_at_ms: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
        finished_at_ms: row
            .get::<_, Option<i64>>(6)?
            .map(|n| u64::try_from(n).unwrap_or(0)),
        input: parse(row.get(7)?),
        result: parse(row.get(8)?),
        error: row.get(9)?,
        request: parse(row.get(10)?),
    })
}

impl ExecutionStore for SqliteStore {
    fn started(&self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO executions (execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, input, request)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    record.execution_id,
                    record.tenant,
                    record.workflow_id,
                    record.workflow_hash,
                    record.status,
                    to_i64(record.started_at_ms),
                    record.input.as_ref().map(json_text),
                    record.request.as_ref().map(json_text),
                ],
            )?;
            Ok(())
        })
    }

    fn finished(
        &self,
        tenant: &str,
        execution_id: &str,
        status: &str,
        finished_at_ms: u64,
        result: &Value,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE executions SET status = ?3, finished_at_ms = ?4, result = ?5, error = ?6
                 WHERE tenant = ?1 AND execution_id = ?2",
                params![
                    tenant,
                    execution_id,
                    status,
                    to_i64(finished_at_ms),
                    json_text(result),
                    error
                ],
            )?;
            Ok(())
        })
    }

    fn get(&self, tenant: &str, execution_id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, input, result, error, request
                 FROM executions WHERE tenant = ?1 AND execution_id = ?2",
                params![tenant, execution_id],
                row_to_record,
            )
            .optional()?)
        })
    }

    fn list(&self, tenant: &str, filter: &ListFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, NULL, NULL, error, NULL
                 FROM executions
                 WHERE tenant = ?1
                   AND (?2 IS NULL OR workflow_id = ?2)
                   AND (?3 IS NULL OR status = ?3)
                   AND (?4 IS NULL OR started_at_ms >= ?4)
                   AND (?5 IS NULL OR started_at_ms < ?5)
                 ORDER BY started_at_ms DESC, execution_id DESC
                 LIMIT ?6 OFFSET ?7",
            )?;
            let rows = statement.query_map(
                params![
                    tenant,
                    filter.workflow_id,
                    filter.status,
                    filter.since_ms.map(to_i64),
                    filter.until_ms.map(to_i64),
                    i64::try_from(filter.limit).unwrap_or(i64::MAX),
                    i64::try_from(filter.offset).unwrap_or(i64::MAX),
                ],
                row_to_record,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn node_started(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO node_records (tenant, execution_id, node_id, seq, outcome)
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM node_records WHERE execution_id = ?2), NULL)
                 ON CONFLICT (execution_id, node_id) DO NOTHING",
            )?
            .execute(params![tenant, execution_id, node_id])?;
            Ok(())
        })
    }

    fn node_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
        outcome: &Value,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached(NODE_EXECUTED)?.execute(params![
                tenant,
                execution_id,
                node_id,
                json_text(outcome)
            ])?;
            Ok(())
        })
    }

    fn nodes_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        outcomes: &[(String, Value)],
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            for (node_id, outcome) in outcomes {
                tx.prepare_cached(NODE_EXECUTED)?.execute(params![
                    tenant,
                    execution_id,
                    node_id,
                    json_text(outcome)
                ])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn node_records(
        &self,
        tenant: &str,
        execution_id: &str,
    ) -> Result<Vec<(String, Option<Value>)>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT node_id, outcome FROM node_records
                 WHERE tenant = ?1 AND execution_id = ?2 ORDER BY seq",
            )?;
            let rows = statement.query_map(params![tenant, execution_id], |row| {
                let outcome: Option<String> = row.get(1)?;
                Ok((
                    row.get::<_, String>(0)?,
                    outcome.and_then(|t| serde_json::from_str(&t).ok()),
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn prune(
        &self,
        tenant: &str,
        execution_id: &str,
        data: bool,
        nodes: bool,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            if data {
                c.execute(
                    "UPDATE executions SET input = NULL, request = NULL, result = NULL
                     WHERE tenant = ?1 AND execution_id = ?2",
                    params![tenant, execution_id],
                )?;
            }
            if nodes {
                c.execute(
                    "DELETE FROM node_records WHERE tenant = ?1 AND execution_id = ?2",
                    params![tenant, execution_id],
                )?;
            }
            Ok(())
        })
    }

    fn purge_finished_before(&self, before_ms: u64) -> Result<usize, StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM node_records WHERE execution_id IN
                   (SELECT execution_id FROM executions WHERE finished_at_ms < ?1)",
                params![to_i64(before_ms)],
            )?;
            Ok(c.execute(
                "DELETE FROM executions WHERE finished_at_ms < ?1",
                params![to_i64(before_ms)],
            )?)
        })
    }

    fn unfinished(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, input, NULL, error, request
                 FROM executions WHERE status = 'running' ORDER BY started_at_ms",
            )?;
            let rows = statement.query_map([], row_to_record)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(tenant: &str, id: &str, started: u64) -> ExecutionRecord {
        ExecutionRecord {
            execution_id: id.into(),
            tenant: tenant.into(),
            workflow_id: "wf".into(),
            workflow_hash: "h".into(),
            status: "running".into(),
            started_at_ms: started,
            finished_at_ms: None,
            input: Some(json!({"a": 1})),
            result: None,
            error: None,
            request: None,
        }
    }

    #[test]
    fn an_execution_is_read_back_by_its_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        store.started(&record("acme", "e1", 1)).unwrap();
        store
            .finished("acme", "e1", "success", 2, &json!({"nodes": {}}), None)
            .unwrap();
        let got = store.get("acme", "e1").unwrap().unwrap();
        assert_eq!(got.status, "success");
        assert_eq!(got.result, Some(json!({"nodes": {}})));
        assert!(store.get("globex", "e1").unwrap().is_none());
    }

    #[test]
    fn another_tenant_cannot_finish_an_execution() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        store.started(&record("acme", "e1", 1)).unwrap();
        store
            .finished("globex", "e1", "error", 2, &json!({}), Some("x"))
            .unwrap();
        assert_eq!(store.get("acme", "e1").unwrap().unwrap().status, "running");
    }

    #[test]
    fn node_records_keep_their_start_order_and_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        store.started(&record("acme", "e1", 1)).unwrap();
        store.node_started("acme", "e1", "a").unwrap();
        store
            .node_executed("acme", "e1", "a", &json!({"status": "success"}))
            .unwrap();
        store.node_started("acme", "e1", "b").unwrap();
        let records = store.node_records("acme", "e1").unwrap();
        assert_eq!(
            records,
            [
                ("a".to_owned(), Some(json!({"status": "success"}))),
                ("b".to_owned(), None)
            ]
        );
        assert!(store.node_records("globex", "e1").unwrap().is_empty());
    }

    #[test]
    fn unfinished_executions_are_those_still_running() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        store.started(&record("acme", "e1", 1)).unwrap();
        store.started(&record("globex", "g1", 2)).unwrap();
        store
            .finished("acme", "e1", "success", 3, &json!({}), None)
            .unwrap();
        let ids: Vec<_> = store
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|r| r.execution_id)
            .collect();
        assert_eq!(ids, ["g1"]);
    }

    #[test]
    fn a_purge_deletes_executions_finished_before_the_cut_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        for id in ["old", "new", "running"] {
            store.started(&record("acme", id, 1)).unwrap();
        }
        store
            .finished("acme", "old", "success", 10, &json!({}), None)
            .unwrap();
        store
            .finished("acme", "new", "success", 30, &json!({}), None)
            .unwrap();
        assert_eq!(store.purge_finished_before(20).unwrap(), 1);
        assert!(store.get("acme", "old").unwrap().is_none());
        assert!(store.get("acme", "new").unwrap().is_some());
        assert!(
            store.get("acme", "running").unwrap().is_some(),
            "running ones are never purged"
        );
    }

    #[test]
    fn a_list_is_newest_first_filtered_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
            store.started(&record("acme", id, i as u64)).unwrap();
        }
        store.started(&record("globex", "g1", 9)).unwrap();
        let page = |offset| {
            store
                .list(
                    "acme",
                    &ListFilter {
                        limit: 2,
                        offset,
                        ..ListFilter::default()
                    },
                )
                .unwrap()
                .into_iter()
                .map(|r| r.execution_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(page(0), ["e3", "e2"]);
        assert_eq!(page(2), ["e1"]);
    }
}
