//! The execution store's tables on PostgreSQL, as versioned migrations.

use plugflow_pg::Migration;

/// Applied in order by `plugflow_pg::migrate` under the component
/// `executions`.
///
/// JSON is stored as `json`, not `jsonb`: it is written once and read
/// whole, never queried inside, and `json` keeps any valid document
/// (`jsonb` refuses `\u0000` in strings, which webhook bodies may hold).
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "executions, node records, workers",
    sql: "
        CREATE TABLE plugflow_executions (
            execution_id text PRIMARY KEY,
            tenant text NOT NULL,
            workflow_id text NOT NULL,
            workflow_hash text NOT NULL,
            fingerprint text NOT NULL,
            status text NOT NULL,
            started_at_ms bigint NOT NULL,
            finished_at_ms bigint,
            due_at timestamptz NOT NULL DEFAULT now(),
            input json,
            request json,
            result json,
            error text,
            replay boolean NOT NULL DEFAULT false,
            attempts integer NOT NULL DEFAULT 0,
            lease_owner text,
            lease_until timestamptz,
            cancel_requested boolean NOT NULL DEFAULT false
        );
        CREATE INDEX plugflow_executions_by_tenant
            ON plugflow_executions (tenant, started_at_ms DESC, execution_id DESC);
        CREATE INDEX plugflow_executions_queued
            ON plugflow_executions (due_at) WHERE status = 'queued';
        CREATE INDEX plugflow_executions_leases
            ON plugflow_executions (lease_until) WHERE status = 'running';
        CREATE INDEX plugflow_executions_running_by_owner
            ON plugflow_executions (lease_owner) WHERE status = 'running';
        CREATE INDEX plugflow_executions_running_by_workflow
            ON plugflow_executions (workflow_id) WHERE status = 'running';
        CREATE INDEX plugflow_executions_finished
            ON plugflow_executions (finished_at_ms) WHERE finished_at_ms IS NOT NULL;
        CREATE TABLE plugflow_node_records (
            tenant text NOT NULL,
            execution_id text NOT NULL,
            node_id text NOT NULL,
            seq bigserial NOT NULL,
            outcome json,
            PRIMARY KEY (execution_id, node_id)
        );
        CREATE TABLE plugflow_workers (
            worker_id text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            running integer NOT NULL DEFAULT 0,
            unrunnable json NOT NULL DEFAULT '[]'
        );
    ",
}, Migration {
    version: 2,
    name: "notify the end only of executions someone waits for",
    sql: "ALTER TABLE plugflow_executions ADD COLUMN notify_end boolean NOT NULL DEFAULT true;",
}, Migration {
    version: 3,
    name: "vacuum and analyse the queue's tables early",
    // Every execution updates its row three times: dead index entries of
    // the queue's partial indexes are what claims walk over until vacuum.
    sql: "ALTER TABLE plugflow_executions SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);
          ALTER TABLE plugflow_node_records SET (autovacuum_vacuum_scale_factor = 0.02);",
}, Migration {
    version: 4,
    name: "fewer indexes to maintain per claim",
    // Heartbeats find their rows by id now, and a limited workflow's
    // running executions are few: the lease index serves both. Each index
    // dropped is one entry fewer written per claim.
    sql: "DROP INDEX IF EXISTS plugflow_executions_running_by_owner;
          DROP INDEX IF EXISTS plugflow_executions_running_by_workflow;",
}];
