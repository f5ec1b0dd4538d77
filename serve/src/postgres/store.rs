//! [`PgStore`]: the [`ExecutionStore`] on PostgreSQL. Writes about a
//! running execution are fenced by its lease: a worker that lost the
//! lease (it stalled past the expiry and another worker took over) gets
//! [`StoreError::LeaseLost`] and stops, instead of writing over the new
//! owner's records.

use std::time::Duration;

use plugflow_pg::postgres::Row;
use plugflow_pg::Pool;
use serde_json::Value;

use crate::store::{Ending, ExecutionRecord, ExecutionStore, ListFilter, StoreError};

/// Executions in PostgreSQL, as one worker sees them.
pub struct PgStore {
    pub(super) pool: Pool,
    pub(super) worker_id: String,
    pub(super) lease: Duration,
}

pub(super) fn failed(e: plugflow_pg::PgError) -> StoreError {
    StoreError::Failed(e.to_string())
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The columns [`record`] reads, in its order.
pub(super) const COLUMNS: &str = "execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, input, result, error, request";

/// A row of [`COLUMNS`] as a record.
pub(super) fn record(row: &Row) -> Result<ExecutionRecord, plugflow_pg::postgres::Error> {
    Ok(ExecutionRecord {
        execution_id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        workflow_id: row.try_get(2)?,
        workflow_hash: row.try_get(3)?,
        status: row.try_get(4)?,
        started_at_ms: to_u64(row.try_get(5)?),
        finished_at_ms: row.try_get::<_, Option<i64>>(6)?.map(to_u64),
        input: row.try_get(7)?,
        result: row.try_get(8)?,
        error: row.try_get(9)?,
        request: row.try_get(10)?,
    })
}

/// This machine's name, for the workers table.
pub(super) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl PgStore {
    /// A store over `pool` for a new worker, leasing for `lease`.
    pub(super) fn new(pool: Pool, lease: Duration) -> Self {
        // Host, process and start time: unique across machines and restarts.
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let worker_id = format!("{}-{}-{started:x}", host_name(), std::process::id());
        Self {
            pool,
            worker_id,
            lease,
        }
    }

    /// The pool's counters (errors, retries, connects) for metrics.
    pub fn pool_stats(&self) -> plugflow_pg::PoolStats {
        self.pool.stats()
    }

    /// The client configuration, for a listener of its own.
    pub(crate) fn client_config(&self) -> Result<plugflow_pg::postgres::Config, StoreError> {
        self.pool.config().client_config().map_err(failed)
    }

    pub(super) fn lease_ms(&self) -> f64 {
        self.lease.as_secs_f64() * 1000.0
    }

    /// Writes node records when this worker holds the execution's lease.
    fn fenced_nodes(
        &self,
        tenant: &str,
        execution_id: &str,
        nodes: Vec<String>,
        outcomes: Vec<Option<String>>,
    ) -> Result<(), StoreError> {
        let (t, id, owner) = (
            tenant.to_owned(),
            execution_id.to_owned(),
            self.worker_id.clone(),
        );
        let held: i64 = self
            .pool
            .run_prepared(move |c, prepared| {
                let statement = prepared.get(c, FENCED_NODES)?;
                c.query_one(&statement, &[&t, &id, &nodes, &outcomes, &owner])?
                    .try_get(0)
            })
            .map_err(failed)?;
        if held == 0 {
            return Err(StoreError::LeaseLost(execution_id.to_owned()));
        }
        Ok(())
    }
}

/// Writes node records when the lease is held; answers whether it was.
const FENCED_NODES: &str = "WITH lease AS (
                        SELECT 1 FROM plugflow_executions
                        WHERE execution_id = $2 AND tenant = $1 AND lease_owner = $5 AND status = 'running'
                     ), written AS (
                        INSERT INTO plugflow_node_records (tenant, execution_id, node_id, outcome)
                        SELECT $1, $2, u.node_id, u.outcome::json
                        FROM lease, unnest($3::text[], $4::text[]) AS u(node_id, outcome)
                        ON CONFLICT (execution_id, node_id) DO UPDATE SET outcome = excluded.outcome
                        WHERE excluded.outcome IS NOT NULL AND plugflow_node_records.tenant = excluded.tenant
                     )
                     SELECT count(*) FROM lease";

impl ExecutionStore for PgStore {
    fn started(&self, record: &ExecutionRecord) -> Result<(), StoreError> {
        crate::queue::ExecutionQueue::enqueue(
            self,
            &crate::queue::Enqueue {
                record,
                fingerprint: "",
                due_at_ms: None,
                replay: &[],
                claim: true,
                notify_end: false,
            },
        )
    }

    /// The end, the pruning, and a `NOTIFY` when a caller waits for it,
    /// in one statement, fenced by this worker's lease.
    fn end(&self, tenant: &str, execution_id: &str, ending: &Ending<'_>) -> Result<(), StoreError> {
        let (t, id, s, r, e, owner) = (
            tenant.to_owned(),
            execution_id.to_owned(),
            ending.status.to_owned(),
            ending.result.clone(),
            ending.error.map(str::to_owned),
            self.worker_id.clone(),
        );
        let finished = to_i64(ending.finished_at_ms);
        let (drop_data, drop_nodes) = (ending.drop_data, ending.drop_nodes);
        let ended: i64 = self
            .pool
            .run_prepared(move |c, prepared| {
                let statement = prepared.get(c, FINISHED)?;
                c.query_one(
                    &statement,
                    &[
                        &t,
                        &id,
                        &s,
                        &finished,
                        &r,
                        &e,
                        &owner,
                        &drop_data,
                        &drop_nodes,
                    ],
                )?
                .try_get(0)
            })
            .map_err(failed)?;
        if ended == 0 {
            return Err(StoreError::LeaseLost(execution_id.to_owned()));
        }
        Ok(())
    }

    fn get(&self, tenant: &str, execution_id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        let (t, id) = (tenant.to_owned(), execution_id.to_owned());
        self.pool
            .run(move |c| {
                c.query_opt(
                    &format!("SELECT {COLUMNS} FROM plugflow_executions WHERE tenant = $1 AND execution_id = $2"),
                    &[&t, &id],
                )?
                .as_ref()
                .map(record)
                .transpose()
            })
            .map_err(failed)
    }

    fn list(&self, tenant: &str, filter: &ListFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        let t = tenant.to_owned();
        let filter = filter.clone();
        self.pool
            .run(move |c| {
                c.query(
                    "SELECT execution_id, tenant, workflow_id, workflow_hash, status, started_at_ms, finished_at_ms, NULL::json, NULL::json, error, NULL::json
                     FROM plugflow_executions
                     WHERE tenant = $1
                       AND ($2::text IS NULL OR workflow_id = $2)
                       AND ($3::text IS NULL OR status = $3)
                       AND ($4::bigint IS NULL OR started_at_ms >= $4)
                       AND ($5::bigint IS NULL OR started_at_ms < $5)
                     ORDER BY started_at_ms DESC, execution_id DESC
                     LIMIT $6 OFFSET $7",
                    &[
                        &t,
                        &filter.workflow_id,
                        &filter.status,
                        &filter.since_ms.map(to_i64),
                        &filter.until_ms.map(to_i64),
                        &i64::try_from(filter.limit).unwrap_or(i64::MAX),
                        &i64::try_from(filter.offset).unwrap_or(i64::MAX),
                    ],
                )?
                .iter()
                .map(record)
                .collect()
            })
            .map_err(failed)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .run(|c| c.simple_query("SELECT 1").map(drop))
            .map_err(failed)
    }

    fn node_started(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
    ) -> Result<(), StoreError> {
        self.fenced_nodes(tenant, execution_id, vec![node_id.to_owned()], vec![None])
    }

    fn node_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        node_id: &str,
        outcome: &Value,
    ) -> Result<(), StoreError> {
        self.fenced_nodes(
            tenant,
            execution_id,
            vec![node_id.to_owned()],
            vec![Some(outcome.to_string())],
        )
    }

    fn nodes_executed(
        &self,
        tenant: &str,
        execution_id: &str,
        outcomes: &[(String, Value)],
    ) -> Result<(), StoreError> {
        let (nodes, outcomes) = outcomes
            .iter()
            .map(|(node, outcome)| (node.clone(), Some(outcome.to_string())))
            .unzip();
        self.fenced_nodes(tenant, execution_id, nodes, outcomes)
    }

    fn node_records(
        &self,
        tenant: &str,
        execution_id: &str,
    ) -> Result<Vec<(String, Option<Value>)>, StoreError> {
        let (t, id) = (tenant.to_owned(), execution_id.to_owned());
        self.pool
            .run(move |c| {
                c.query(
                    "SELECT node_id, outcome FROM plugflow_node_records
                     WHERE tenant = $1 AND execution_id = $2 ORDER BY seq",
                    &[&t, &id],
                )?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
            })
            .map_err(failed)
    }

    /// Only this worker's: on PostgreSQL, executions other workers left
    /// come back through lease expiry, not through a restart.
    fn unfinished(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        let owner = self.worker_id.clone();
        self.pool
            .run(move |c| {
                c.query(
                    &format!("SELECT {COLUMNS} FROM plugflow_executions WHERE status = 'running' AND lease_owner = $1"),
                    &[&owner],
                )?
                .iter()
                .map(record)
                .collect()
            })
            .map_err(failed)
    }

    fn purge_finished_before(&self, before_ms: u64) -> Result<usize, StoreError> {
        let before = to_i64(before_ms);
        self.pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                tx.execute(
                    "DELETE FROM plugflow_node_records WHERE execution_id IN
                       (SELECT execution_id FROM plugflow_executions WHERE finished_at_ms < $1)",
                    &[&before],
                )?;
                let n = tx.execute(
                    "DELETE FROM plugflow_executions WHERE finished_at_ms < $1",
                    &[&before],
                )?;
                tx.commit()?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            })
            .map_err(failed)
    }

    fn prune(
        &self,
        tenant: &str,
        execution_id: &str,
        data: bool,
        nodes: bool,
    ) -> Result<(), StoreError> {
        if !data && !nodes {
            return Ok(());
        }
        let (t, id) = (tenant.to_owned(), execution_id.to_owned());
        self.pool
            .run(move |c| {
                if data {
                    c.execute(
                        "UPDATE plugflow_executions SET input = NULL, request = NULL, result = NULL
                         WHERE tenant = $1 AND execution_id = $2",
                        &[&t, &id],
                    )?;
                }
                if nodes {
                    c.execute(
                        "DELETE FROM plugflow_node_records WHERE tenant = $1 AND execution_id = $2",
                        &[&t, &id],
                    )?;
                }
                Ok(())
            })
            .map_err(failed)
    }
}

/// An execution's end, pruning and announcement (see
/// `end`).
const FINISHED: &str = "WITH done AS (
                        UPDATE plugflow_executions
                        SET status = $3, finished_at_ms = $4, error = $6,
                            result = CASE WHEN $8 THEN NULL ELSE $5::json END,
                            input = CASE WHEN $8 THEN NULL ELSE input END,
                            request = CASE WHEN $8 THEN NULL ELSE request END,
                            lease_owner = NULL, lease_until = NULL
                        WHERE tenant = $1 AND execution_id = $2 AND status = 'running' AND lease_owner = $7
                        RETURNING execution_id, notify_end
                     ), pruned AS (
                        DELETE FROM plugflow_node_records
                        WHERE $9 AND tenant = $1 AND execution_id IN (SELECT execution_id FROM done)
                     ), notified AS (
                        SELECT pg_notify('plugflow_finished', execution_id) FROM done WHERE notify_end
                     )
                     SELECT (SELECT count(*) FROM done) + 0 * (SELECT count(*) FROM notified)";
