//! The embedded execution store: one SQLite file (or `:memory:`).

mod group_commit;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::store::{Ending, ExecutionRecord, ExecutionStore, ListFilter, StoreError};
use group_commit::GroupCommit;
use plugflow_sqlite_wal::Checkpointer;

/// Whether `path` names SQLite's in-memory database rather than a file.
fn in_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
}

/// The embedded store: one SQLite file, in WAL mode.
///
/// Writes of concurrent executions share commits (group commit); the
/// log is checkpointed on a thread of its own, never inside a commit.
pub struct SqliteStore {
    commits: GroupCommit,
    /// Absent for an in-memory database (`:memory:`): it has no log.
    _checkpointer: Option<Checkpointer>,
    /// Kept in memory (`:memory:`): lost when the process ends.
    in_memory: bool,
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path`.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
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
        // The log is copied into the file on a thread of its own, never
        // inside a commit (an in-memory database has no log).
        let checkpointer = if in_memory(path) {
            None
        } else {
            Some(plugflow_sqlite_wal::checkpoint_in_background(
                &mut connection,
                path,
            )?)
        };
        let commits = GroupCommit::new(connection, checkpointer.as_ref().map(Checkpointer::signal));
        Ok(Self {
            commits,
            _checkpointer: checkpointer,
            in_memory: in_memory(path),
        })
    }
}

/// Drops a finished execution's data and/or node records (see
/// [`ExecutionStore::prune`]).
fn prune(
    c: &Connection,
    tenant: &str,
    execution_id: &str,
    data: bool,
    nodes: bool,
) -> Result<(), StoreError> {
    if data {
        c.prepare_cached(
            "UPDATE executions SET input = NULL, request = NULL, result = NULL
             WHERE tenant = ?1 AND execution_id = ?2",
        )?
        .execute(params![tenant, execution_id])?;
    }
    if nodes {
        c.prepare_cached("DELETE FROM node_records WHERE tenant = ?1 AND execution_id = ?2")?
            .execute(params![tenant, execution_id])?;
    }
    Ok(())
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

/// `record` for a write on the committing thread: without its JSON parts,
/// and its input and request as text (`None` with `drop_data`).
fn owned_row(
    record: &ExecutionRecord,
    drop_data: bool,
) -> (ExecutionRecord, Option<String>, Option<String>) {
    let text = |value: Option<&Value>| value.filter(|_| !drop_data).map(json_text);
    let (input, request) = (text(record.input.as_ref()), text(record.request.as_ref()));
    let record = ExecutionRecord {
        input: None,
        request: None,
        result: None,
        ..record.clone()
    };
    (record, input, request)
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

impl SqliteStore {
    /// Records nodes' outcomes (node id, outcome as JSON text) in one
    /// write.
    fn write_outcomes(
        &self,
        tenant: &str,
        execution_id: &str,
        outcomes: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        let (tenant, execution_id) = (tenant.to_owned(), execution_id.to_owned());
        self.commits.write(move |c| {
            let mut statement = c.prepare_cached(NODE_EXECUTED)?;
            for (node_id, outcome) in &outcomes {
                statement.execute(params![tenant, execution_id, node_id, outcome])?;
            }
            Ok(())
        })
    }
}

impl ExecutionStore for SqliteStore {
    fn blocks(&self) -> bool {
        !self.in_memory
    }

    fn started(&self, record: &ExecutionRecord) -> Result<(), StoreError> {
        let (record, input, request) = owned_row(record, false);
        self.commits.write(move |c| {
            c.prepare_cached(
                "INSERT INTO executions (execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, input, request)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                record.execution_id,
                record.tenant,
                record.workflow_id,
                record.workflow_hash,
                record.status,
                to_i64(record.started_at_ms),
                input,
                request,
            ])?;
            Ok(())
        })
    }

    fn end(&self, tenant: &str, execution_id: &str, ending: &Ending<'_>) -> Result<(), StoreError> {
        let (tenant, execution_id) = (tenant.to_owned(), execution_id.to_owned());
        let status = ending.status.to_owned();
        let finished_at_ms = to_i64(ending.finished_at_ms);
        // Data that is dropped is never written.
        let result = (!ending.drop_data).then(|| json_text(ending.result));
        let error = ending.error.map(str::to_owned);
        let (drop_data, drop_nodes) = (ending.drop_data, ending.drop_nodes);
        self.commits.write(move |c| {
            c.prepare_cached(
                "UPDATE executions SET status = ?3, finished_at_ms = ?4, result = ?5, error = ?6
                 WHERE tenant = ?1 AND execution_id = ?2",
            )?
            .execute(params![
                tenant,
                execution_id,
                status,
                finished_at_ms,
                result,
                error
            ])?;
            prune(c, &tenant, &execution_id, drop_data, drop_nodes)
        })
    }

    fn get(&self, tenant: &str, execution_id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        self.commits.read(|c| {
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
        self.commits.read(|c| {
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
        self.commits.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn started_and_ended(
        &self,
        record: &ExecutionRecord,
        ending: &Ending<'_>,
    ) -> Result<(), StoreError> {
        // Data that is dropped is never written.
        let (record, input, request) = owned_row(record, ending.drop_data);
        let result = (!ending.drop_data).then(|| json_text(ending.result));
        let status = ending.status.to_owned();
        let finished_at_ms = to_i64(ending.finished_at_ms);
        let error = ending.error.map(str::to_owned);
        self.commits.write(move |c| {
            c.prepare_cached(
                "INSERT INTO executions (execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, input, result, error, request)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                record.execution_id,
                record.tenant,
                record.workflow_id,
                record.workflow_hash,
                status,
                to_i64(record.started_at_ms),
                finished_at_ms,
                input,
                result,
                error,
                request,
            ])?;
            Ok(())
        })
    }

    fn node_started(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
    ) -> Result<(), StoreError> {
        let (tenant, execution_id, node_id) = (
            tenant.to_owned(),
            execution_id.to_owned(),
            node_id.to_owned(),
        );
        self.commits.write(move |c| {
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
        self.write_outcomes(
            tenant,
            execution_id,
            vec![(node_id.to_owned(), json_text(outcome))],
        )
    }

    fn nodes_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        outcomes: &[(String, Value)],
    ) -> Result<(), StoreError> {
        let outcomes = outcomes
            .iter()
            .map(|(node_id, outcome)| (node_id.clone(), json_text(outcome)))
            .collect();
        self.write_outcomes(tenant, execution_id, outcomes)
    }

    fn node_records(
        &self,
        tenant: &str,
        execution_id: &str,
    ) -> Result<Vec<(String, Option<Value>)>, StoreError> {
        self.commits.read(|c| {
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
        let (tenant, execution_id) = (tenant.to_owned(), execution_id.to_owned());
        self.commits
            .write(move |c| prune(c, &tenant, &execution_id, data, nodes))
    }

    fn purge_finished_before(&self, before_ms: u64) -> Result<usize, StoreError> {
        self.commits.read(|c| {
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

    fn purge_beyond(&self, keep: usize) -> Result<usize, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let purged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&purged);
        self.commits.write(move |c| {
            let tenants: Vec<String> = c
                .prepare_cached("SELECT DISTINCT tenant FROM executions")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            const OLDER: &str = "SELECT execution_id FROM executions
                 WHERE tenant = ?1 AND finished_at_ms IS NOT NULL
                 ORDER BY started_at_ms DESC LIMIT -1 OFFSET ?2";
            for tenant in &tenants {
                c.prepare_cached(&format!(
                    "DELETE FROM node_records WHERE tenant = ?1 AND execution_id IN ({OLDER})"
                ))?
                .execute(params![tenant, keep])?;
                let n = c
                    .prepare_cached(&format!(
                        "DELETE FROM executions WHERE tenant = ?1 AND execution_id IN ({OLDER})"
                    ))?
                    .execute(params![tenant, keep])?;
                counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })?;
        Ok(purged.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn unfinished(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.commits.read(|c| {
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
    fn an_in_memory_store_records_executions() {
        let store = SqliteStore::open(Path::new(":memory:")).unwrap();
        store.started(&record("acme", "e1", 1)).unwrap();
        store
            .finished("acme", "e1", "success", 2, &json!({}), None)
            .unwrap();
        assert_eq!(store.get("acme", "e1").unwrap().unwrap().status, "success");
    }

    #[test]
    fn committed_writes_are_checkpointed_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        // Everything written so far is in the log (the writing connection
        // never checkpoints); the checkpointer copies it into the file
        // shortly after the next commit.
        let size_at_open = std::fs::metadata(&path).unwrap().len();
        store.started(&record("acme", "e1", 1)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= size_at_open {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_count_purge_keeps_each_tenants_newest_finished_executions() {
        let store = SqliteStore::open(Path::new(":memory:")).unwrap();
        for (tenant, n) in [("acme", 5), ("globex", 2)] {
            for i in 0..n {
                let id = format!("{tenant}-{i}");
                store.started(&record(tenant, &id, i)).unwrap();
                store
                    .finished(tenant, &id, "success", i + 1, &json!({}), None)
                    .unwrap();
            }
        }
        store.started(&record("acme", "acme-running", 0)).unwrap();
        assert_eq!(store.purge_beyond(3).unwrap(), 2);
        let ids = |tenant: &str| -> Vec<String> {
            let filter = ListFilter {
                limit: 100,
                ..ListFilter::default()
            };
            let mut ids: Vec<String> = store
                .list(tenant, &filter)
                .unwrap()
                .into_iter()
                .map(|r| r.execution_id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("acme"), ["acme-2", "acme-3", "acme-4", "acme-running"]);
        assert_eq!(ids("globex"), ["globex-0", "globex-1"]);
    }

    #[test]
    fn only_an_in_memory_store_is_called_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let file = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let memory = SqliteStore::open(Path::new(":memory:")).unwrap();
        assert_eq!((file.blocks(), memory.blocks()), (true, false));
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
