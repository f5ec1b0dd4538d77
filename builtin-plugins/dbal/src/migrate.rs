//! Destructive schema changes, made only when an operator asks: a field
//! removed or retyped in an entity's schema leaves its table as it was
//! (the store refuses to use it) until `plugflow db migrate` shows what
//! rebuilding the table will do and `--apply` does it.

use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::declared;
use crate::entity::ddl::{self, table_name};
use crate::entity::{describe, load_dir, Entity, STORE_COLUMNS};

/// One change a rebuild makes to one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `drop`, `retype` or `add`.
    pub kind: String,
    /// The field.
    pub field: String,
    /// What happens to its values.
    pub detail: String,
}

/// The rebuild of one entity's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The entity.
    pub entity: String,
    /// Its table.
    pub table: String,
    /// Records in it (every tenant's).
    pub records: i64,
    /// What changes.
    pub changes: Vec<Change>,
}

/// The rebuilds the schemas in `entities` need in the database at
/// `database`: one per entity whose table holds a field the schema
/// removed or retyped. Nothing is changed.
///
/// # Errors
///
/// Schemas that do not load, or a database that cannot be read.
pub fn plan(database: &Path, entities: &Path) -> Result<Vec<Plan>, String> {
    let conn = open(database)?;
    plans(&conn, entities).map(|found| found.into_iter().map(|(plan, _)| plan).collect())
}

/// Makes the rebuilds [`plan`] lists, each in one transaction: the table
/// is rebuilt with the schema's columns, constraints and indexes; kept
/// fields are copied, retyped ones converted (`CAST`), dropped ones lost.
///
/// # Errors
///
/// As [`plan`]; or a record that breaks the new schema's constraints (that
/// entity's table is then left as it was).
pub fn apply(database: &Path, entities: &Path) -> Result<Vec<Plan>, String> {
    let mut conn = open(database)?;
    let found = plans(&conn, entities)?;
    for (plan, entity) in &found {
        rebuild(&mut conn, entity, plan)
            .map_err(|e| format!("entity `{}` was not migrated: {e}", plan.entity))?;
    }
    Ok(found.into_iter().map(|(plan, _)| plan).collect())
}

fn open(database: &Path) -> Result<Connection, String> {
    if !database.exists() {
        return Err(format!("database {} does not exist", database.display()));
    }
    Connection::open(database).map_err(|e| format!("cannot open {}: {e}", database.display()))
}

fn plans(conn: &Connection, entities: &Path) -> Result<Vec<(Plan, Entity)>, String> {
    let catalog = load_dir(entities).map_err(|errors| describe(&errors))?;
    let mut found = Vec::new();
    for entity in catalog.entities() {
        let table = table_name(&entity.name);
        let existing = declared::columns(conn, &table).map_err(|e| e.message)?;
        if existing.is_empty() {
            continue;
        }
        let mut changes = Vec::new();
        for (column, kind) in &existing {
            if STORE_COLUMNS.contains(&column.as_str()) {
                continue;
            }
            match entity.field(column) {
                None => changes.push(Change {
                    kind: "drop".into(),
                    field: column.clone(),
                    detail: "no longer declared: its values are lost".into(),
                }),
                Some(spec) if !kind.eq_ignore_ascii_case(spec.kind.column_type()) => {
                    changes.push(Change {
                        kind: "retype".into(),
                        field: column.clone(),
                        detail: format!(
                            "{kind} → {} ({:?}): values converted with CAST",
                            spec.kind.column_type(),
                            spec.kind
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        if changes.is_empty() {
            continue;
        }
        for (name, spec) in &entity.fields {
            if !existing.iter().any(|(c, _)| c == name) {
                changes.push(Change {
                    kind: "add".into(),
                    field: name.clone(),
                    detail: match &spec.default {
                        Some(default) => format!("new: existing records get {default}"),
                        None => "new: existing records hold null".into(),
                    },
                });
            }
        }
        let records: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
                r.get(0)
            })
            .map_err(|e| e.to_string())?;
        found.push((
            Plan {
                entity: entity.name.clone(),
                table,
                records,
                changes,
            },
            entity.clone(),
        ));
    }
    Ok(found)
}

fn rebuild(conn: &mut Connection, entity: &Entity, plan: &Plan) -> Result<(), String> {
    let table = &plan.table;
    let old = format!("{table}__old");
    let existing = declared::columns(conn, table).map_err(|e| e.message)?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let indexes: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL")
            .map_err(|e| e.to_string())?;
        let names = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        names
    };
    for index in indexes {
        tx.execute_batch(&format!("DROP INDEX \"{index}\""))
            .map_err(|e| e.to_string())?;
    }
    tx.execute_batch(&format!("ALTER TABLE \"{table}\" RENAME TO \"{old}\""))
        .map_err(|e| e.to_string())?;
    for statement in ddl::create_statements(entity) {
        tx.execute_batch(&statement).map_err(|e| e.to_string())?;
    }
    let mut targets = vec!["\"tenantId\"".to_owned(), "\"id\"".to_owned()];
    let mut sources = targets.clone();
    for (name, spec) in &entity.fields {
        targets.push(format!("\"{name}\""));
        sources.push(match existing.iter().find(|(c, _)| c == name) {
            Some((_, kind)) if kind.eq_ignore_ascii_case(spec.kind.column_type()) => {
                format!("\"{name}\"")
            }
            Some(_) => format!("CAST(\"{name}\" AS {})", spec.kind.column_type()),
            None => spec
                .default
                .as_ref()
                .map_or_else(|| "NULL".to_owned(), |d| declared::default_literal(spec, d)),
        });
    }
    tx.execute_batch(&format!(
        "INSERT INTO \"{table}\" ({}) SELECT {} FROM \"{old}\"; DROP TABLE \"{old}\";",
        targets.join(", "),
        sources.join(", ")
    ))
    .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    tracing::info!(entity = %plan.entity, records = plan.records, "entity table rebuilt for its new schema");
    Ok(())
}
