//! `create` of a declared entity: the records checked against the schema,
//! then written by one prepared multi-row `INSERT` in the caller's
//! transaction. A large create checks its records on a second thread
//! while this one writes the ones already checked ([`Blocks`]): at a
//! million rows the write is SQLite's B-tree work and the checking
//! (types, patterns, ids, each record rebuilt in its stored shape) a
//! sixth of the rest, which the other core can do meanwhile. The outcome
//! is the same either way: every violation of every record is reported,
//! and a failed create writes nothing.

use plugin_abi::sdk::NodeError;
use rusqlite::{params_from_iter, CachedStatement, Transaction};
use serde_json::{Map, Value};

use crate::check_blocks::Blocks;
use crate::declared::{insert_sql, invalid, push_row_values, write_error, CheckedRecord};
use crate::entity::check::Violation;
use crate::entity::Entity;

/// Rows one `INSERT` of a bulk create holds: a statement's start and end
/// (opening a cursor on the table and each index) cost as much as a row's
/// B-tree work, so a create pays them once per this many rows.
const ROWS_PER_INSERT: usize = 64;

/// SQLite's limit on a statement's parameters (since 3.32).
const MAX_PARAMETERS: usize = 32_766;

/// Statements' worth of rows the checking thread hands over at a time.
const INSERTS_PER_BLOCK: usize = 8;

/// Creates of fewer records are checked on the writing thread: starting a
/// thread costs more than it saves.
const CHECK_ALONGSIDE_FROM: usize = 2_048;

/// The savepoint a failed bulk create replays its rows under.
const LOCATE_SAVEPOINT: &str = "plugflow_locate";

/// `create`: every record checked against `entity` (with its id and, for
/// a user who may create only their own, its owner field), written by one
/// prepared statement in the caller's transaction. Returns the stored
/// records.
///
/// # Errors
///
/// `VALIDATION_FAILED` naming each record's index and field (every
/// violation, as when all were checked first), or the first record that
/// breaks a constraint of the table; then the caller's transaction must
/// be rolled back (nothing it wrote stays).
pub fn create(
    tx: &Transaction<'_>,
    entity: &Entity,
    table: &str,
    tenant: &str,
    records: &[&Map<String, Value>],
    owner: Option<(String, String)>,
) -> Result<Vec<Value>, NodeError> {
    let mut writer = Writer::new(tx, entity, table);
    let owner = owner.as_ref();
    let blocks = Blocks::new(
        entity,
        tenant,
        records,
        owner,
        writer.per_insert * INSERTS_PER_BLOCK,
    );
    let checked = std::thread::scope(|scope| {
        // Without a helper (a small create, or no thread to be had) the
        // writer checks every block itself.
        let helper = (records.len() >= CHECK_ALONGSIDE_FROM)
            .then(|| {
                std::thread::Builder::new()
                    .name("plugflow-dbal-check".into())
                    .spawn_scoped(scope, || blocks.help())
                    .inspect_err(|e| {
                        tracing::debug!("a bulk create is checked on the writing thread alone: no helper thread ({e})");
                    })
                    .ok()
            })
            .flatten();
        let helper_gone = || helper.as_ref().is_none_or(|h| h.is_finished());
        let mut checked: Vec<CheckedRecord> = Vec::with_capacity(records.len());
        let mut violations: Vec<Violation> = Vec::new();
        let mut write_failure = None;
        for block in 0..blocks.count() {
            let (rows, mut found) = blocks.take(block, helper_gone);
            let start = checked.len();
            checked.extend(rows);
            violations.append(&mut found);
            // After a violation nothing more is written (the caller rolls
            // back); the rest is still checked, to report every violation.
            if violations.is_empty() && write_failure.is_none() {
                if let Err(failed) = writer.write(&checked[start..]) {
                    let written = &checked[..start + failed.end];
                    write_failure =
                        Some(writer.failure(written, start + failed.first, failed.error));
                }
            }
        }
        if !violations.is_empty() {
            Err(invalid(entity, &violations))
        } else if let Some(failure) = write_failure {
            Err(failure)
        } else {
            Ok(checked)
        }
    })?;
    Ok(checked
        .into_iter()
        .map(CheckedRecord::into_stored)
        .collect())
}

/// Where a write stopped: the statement that failed held rows `first`
/// to `end` (exclusive) of the rows given to [`Writer::write`].
struct FailedAt {
    first: usize,
    end: usize,
    error: rusqlite::Error,
}

/// Multi-row `INSERT`s of checked records into one declared table.
struct Writer<'t, 'c> {
    tx: &'t Transaction<'c>,
    entity: &'t Entity,
    table: &'t str,
    /// Rows per statement: [`ROWS_PER_INSERT`], fewer for wide entities.
    per_insert: usize,
    /// The statement of `per_insert` rows, once prepared: held for the
    /// whole create, as taking it from the connection's cache looks its
    /// text (kilobytes) up and clears its bindings each time.
    full: Option<CachedStatement<'t>>,
}

impl<'t, 'c> Writer<'t, 'c> {
    fn new(tx: &'t Transaction<'c>, entity: &'t Entity, table: &'t str) -> Self {
        let width = entity.fields.len() + 2;
        let per_insert = ROWS_PER_INSERT.min(MAX_PARAMETERS / width).max(1);
        Self {
            tx,
            entity,
            table,
            per_insert,
            full: None,
        }
    }

    /// Inserts `rows`, `per_insert` to a statement.
    fn write(&mut self, rows: &[CheckedRecord]) -> Result<(), FailedAt> {
        let width = self.entity.fields.len() + 2;
        let mut values = Vec::with_capacity(self.per_insert * width);
        for (n, chunk) in rows.chunks(self.per_insert).enumerate() {
            values.clear();
            for row in chunk {
                push_row_values(&mut values, self.entity, row);
            }
            let first = n * self.per_insert;
            let failed = |error| FailedAt {
                first,
                end: first + chunk.len(),
                error,
            };
            if chunk.len() == self.per_insert {
                if self.full.is_none() {
                    let sql = insert_rows_statement(self.entity, self.table, self.per_insert);
                    self.full = Some(self.tx.prepare_cached(&sql).map_err(failed)?);
                }
                if let Some(full) = self.full.as_mut() {
                    full.execute(params_from_iter(values.iter()))
                        .map_err(failed)?;
                }
            } else {
                let sql = insert_rows_statement(self.entity, self.table, chunk.len());
                self.tx
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.execute(params_from_iter(values.iter())))
                    .map_err(failed)?;
            }
        }
        Ok(())
    }

    /// The error of a failed write: the record that broke a constraint,
    /// found by replaying `written` (every row written so far, the failed
    /// statement's last) one by one, else the statement's own `error`
    /// (its first row: `first`).
    fn failure(
        &self,
        written: &[CheckedRecord],
        first: usize,
        error: rusqlite::Error,
    ) -> NodeError {
        self.locate(written)
            .unwrap_or_else(|| write_error(self.entity, first, error))
    }

    /// Which of `rows` broke a constraint, as its write error. The failed
    /// statement rolled the transaction back (`OR ROLLBACK`); the rows are
    /// inserted again one by one under a savepoint, which is then rolled
    /// back too: nothing stays written. `None` when the transaction is
    /// still open (the failure was not a constraint's) or no single row
    /// fails.
    fn locate(&self, rows: &[CheckedRecord]) -> Option<NodeError> {
        let tx = self.tx;
        if !tx.is_autocommit() {
            return None;
        }
        tx.execute_batch(&format!("SAVEPOINT {LOCATE_SAVEPOINT}"))
            .ok()?;
        let found = (|| {
            let mut insert = tx
                .prepare_cached(&insert_sql("INSERT", self.entity, self.table, 1))
                .ok()?;
            let mut values = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                values.clear();
                push_row_values(&mut values, self.entity, row);
                if let Err(e) = insert.execute(params_from_iter(values.iter())) {
                    return Some(write_error(self.entity, i, e));
                }
            }
            None
        })();
        if let Err(e) = tx.execute_batch(&format!(
            "ROLLBACK TO {LOCATE_SAVEPOINT}; RELEASE {LOCATE_SAVEPOINT}"
        )) {
            tracing::error!(entity = %self.entity.name, "could not undo the replay of a failed create: {e}");
        }
        found
    }
}

/// A bulk create's `INSERT OR ROLLBACK INTO table (tenantId, id,
/// <fields>) VALUES (...), ...` with `rows` rows of parameters. `OR
/// ROLLBACK`: a broken constraint ends the whole transaction (a failed
/// create writes nothing anyway), so SQLite keeps no statement journal to
/// undo a multi-row statement half way — a sixth of a bulk create's cost.
fn insert_rows_statement(entity: &Entity, table: &str, rows: usize) -> String {
    insert_sql("INSERT OR ROLLBACK", entity, table, rows)
}
