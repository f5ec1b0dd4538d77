//! Versioned migrations, applied once, by whichever process starts first.

use crate::error::PgError;
use crate::pool::Pool;

/// One step of a schema: applied once, in `version` order, recorded in
/// `plugflow_migrations` under its component.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Ascending within a component; never reused.
    pub version: i64,
    /// What it does, recorded with it.
    pub name: &'static str,
    /// The statements (run in one transaction).
    pub sql: &'static str,
}

/// Applies the migrations of `component` not yet applied, in one
/// transaction holding an advisory lock, so processes starting together
/// apply each exactly once. Returns how many it applied.
///
/// # Errors
///
/// A statement failed (nothing of this call is applied), or the database
/// cannot be reached.
pub fn migrate(
    pool: &Pool,
    component: &'static str,
    migrations: &'static [Migration],
) -> Result<usize, PgError> {
    pool.run(move |client| {
        let mut tx = client.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('plugflow-migrations'))",
            &[],
        )?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS plugflow_migrations (
                component text NOT NULL,
                version bigint NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )",
        )?;
        let applied: Vec<i64> = tx
            .query(
                "SELECT version FROM plugflow_migrations WHERE component = $1",
                &[&component],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut count = 0;
        for migration in migrations {
            if applied.contains(&migration.version) {
                continue;
            }
            tx.batch_execute(migration.sql)?;
            tx.execute(
                "INSERT INTO plugflow_migrations (component, version, name) VALUES ($1, $2, $3)",
                &[&component, &migration.version, &migration.name],
            )?;
            tracing::info!(
                component = "pg",
                schema = component,
                version = migration.version,
                name = migration.name,
                "applied a migration"
            );
            count += 1;
        }
        tx.commit()?;
        Ok(count)
    })
}
