//! The dbal's tables on PostgreSQL: the role every call runs as, the
//! merge-patch function, the idempotency table, and one table per entity,
//! each under a row-level security policy.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use plugflow_pg::postgres::Transaction;
use plugflow_pg::{Migration, Pool};
use plugin_abi::sdk::NodeError;

/// The role calls run as: no login, no `BYPASSRLS`, owner of nothing.
pub(crate) const ROLE: &str = "plugflow_dbal";

/// A table's policy: only the rows of the transaction's tenant.
pub(crate) const POLICY: &str = "\"tenantId\" = current_setting('plugflow.tenant', true)";

/// Applied once per database (component `dbal`).
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "role, merge patch, idempotency",
    sql: r#"
        DO $$ BEGIN
            CREATE ROLE plugflow_dbal NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        DO $$ BEGIN
            EXECUTE format('GRANT plugflow_dbal TO %I', current_user);
        EXCEPTION WHEN others THEN NULL;
        END $$;
        GRANT USAGE ON SCHEMA public TO plugflow_dbal;
        -- RFC 7396 merge patch, as SQLite's json_patch.
        CREATE OR REPLACE FUNCTION plugflow_merge_patch(target jsonb, patch jsonb)
        RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $f$
        DECLARE
            result jsonb;
            k text;
            v jsonb;
        BEGIN
            IF jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN
                RETURN patch;
            END IF;
            IF jsonb_typeof(target) IS DISTINCT FROM 'object' THEN
                result := '{}'::jsonb;
            ELSE
                result := target;
            END IF;
            FOR k, v IN SELECT * FROM jsonb_each(patch) LOOP
                IF jsonb_typeof(v) = 'null' THEN
                    result := result - k;
                ELSE
                    result := jsonb_set(result, ARRAY[k], plugflow_merge_patch(result -> k, v));
                END IF;
            END LOOP;
            RETURN result;
        END $f$;
        CREATE TABLE _plugflow_idempotency (
            "tenantId" text NOT NULL,
            key text NOT NULL,
            output jsonb NOT NULL,
            PRIMARY KEY ("tenantId", key)
        );
        ALTER TABLE _plugflow_idempotency ENABLE ROW LEVEL SECURITY;
        ALTER TABLE _plugflow_idempotency FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON _plugflow_idempotency
            USING ("tenantId" = current_setting('plugflow.tenant', true))
            WITH CHECK ("tenantId" = current_setting('plugflow.tenant', true));
        GRANT SELECT, INSERT ON _plugflow_idempotency TO plugflow_dbal;
    "#,
}];

/// The table of an undeclared `entity`: `t_<entity>`. PostgreSQL cuts
/// names at 63 bytes, so longer entity names are refused rather than
/// silently sharing a table.
pub(crate) fn table_name(entity: &str) -> Result<String, NodeError> {
    if !crate::store::valid_entity(entity) {
        return Err(NodeError::invalid_parameter(
            "entity",
            format!("`{entity}` is not a valid entity name: use letters, digits and `_`"),
        ));
    }
    if entity.len() > 61 {
        return Err(NodeError::invalid_parameter(
            "entity",
            format!("`{entity}` is longer than 61 characters, the most PostgreSQL table names allow here"),
        ));
    }
    Ok(crate::store::names(entity).0)
}

/// Creates `table` when missing (once per process and database; see
/// [`create`]).
pub(crate) fn ensure(pool: &Pool, table: &str) -> Result<(), NodeError> {
    static ENSURED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let key = format!("{}\n{table}", pool.config().url);
    let ensured = ENSURED.get_or_init(Mutex::default);
    if ensured
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&key)
    {
        return Ok(());
    }
    let name = table.to_owned();
    pool.run(move |client| {
        let mut tx = client.transaction()?;
        create(&mut tx, &name)?;
        tx.commit()
    })
    .map_err(super::database)?;
    ensured
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key);
    Ok(())
}

/// Creates `table` when missing, with its policy and grants (as the
/// connecting role, under an advisory lock: processes may race to it).
fn create(tx: &mut Transaction<'_>, table: &str) -> Result<(), plugflow_pg::postgres::Error> {
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("\"{table}\"")],
        )?
        .get(0);
    if exists {
        return Ok(());
    }
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('plugflow-dbal-table:' || $1))",
        &[&table],
    )?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (
            id text NOT NULL,
            \"tenantId\" text NOT NULL,
            data jsonb NOT NULL,
            \"createdAt\" text NOT NULL,
            \"updatedAt\" text NOT NULL,
            PRIMARY KEY (\"tenantId\", id)
        );
        CREATE INDEX IF NOT EXISTS \"{table}__created\" ON \"{table}\" (\"tenantId\", \"createdAt\", id);
        ALTER TABLE \"{table}\" ENABLE ROW LEVEL SECURITY;
        ALTER TABLE \"{table}\" FORCE ROW LEVEL SECURITY;
        DROP POLICY IF EXISTS tenant_isolation ON \"{table}\";
        CREATE POLICY tenant_isolation ON \"{table}\" USING ({POLICY}) WITH CHECK ({POLICY});
        GRANT SELECT, INSERT, UPDATE, DELETE ON \"{table}\" TO {ROLE};"
    ))
}

/// Starts a call's work: the tenant set for this transaction, the
/// unprivileged role taken.
pub(crate) fn enter(
    tx: &mut Transaction<'_>,
    tenant: &str,
) -> Result<(), plugflow_pg::postgres::Error> {
    tx.execute("SELECT set_config('plugflow.tenant', $1, true)", &[&tenant])?;
    tx.batch_execute(&format!("SET LOCAL ROLE {ROLE}"))
}

/// The current time as the dbal writes it (`2026-01-02T03:04:05.678Z`).
pub(crate) const NOW: &str =
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
