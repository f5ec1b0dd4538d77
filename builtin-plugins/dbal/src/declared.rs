//! Declared entities in the store: the catalog a host points the dbal at
//! (`config.entities`), their tables (created and migrated in place on
//! first use), filters over their typed columns, and their writes checked
//! against the schema.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use plugin_abi::codes;
use plugin_abi::sdk::{NodeError, NodeRequest};
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{params_from_iter, Connection, Row, Transaction};
use serde_json::{json, Map, Value};

use crate::entity::check::{self, Violation};
use crate::entity::ddl::{self, table_name};
use crate::entity::{describe, load_dir, Catalog, Entity, FieldSpec, FieldType, STORE_COLUMNS};
use crate::filter::Fields;
use crate::store::sql;

/// Violations listed in one error before the rest are counted.
const LISTED_VIOLATIONS: usize = 20;

fn catalogs() -> &'static Mutex<HashMap<PathBuf, Arc<Catalog>>> {
    static CATALOGS: OnceLock<Mutex<HashMap<PathBuf, Arc<Catalog>>>> = OnceLock::new();
    CATALOGS.get_or_init(Mutex::default)
}

/// The declared entity named `entity`, when the host configured an
/// entity directory (`config.entities`) that declares it.
///
/// # Errors
///
/// When the directory's schemas do not load (the host checks them at
/// start-up, so this is a directory changed or removed since).
pub fn lookup(
    request: &NodeRequest,
    entity: &str,
) -> Result<Option<(Arc<Catalog>, String)>, NodeError> {
    let Some(dir) = request.config.get("entities").and_then(Value::as_str) else {
        return Ok(None);
    };
    let catalog = catalog(Path::new(dir))?;
    Ok(catalog
        .get(entity)
        .is_some()
        .then(|| (catalog, entity.to_owned())))
}

/// The catalog of `dir`, loaded once.
///
/// # Errors
///
/// Every schema problem, in one message.
pub fn catalog(dir: &Path) -> Result<Arc<Catalog>, NodeError> {
    let mut loaded = catalogs().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(catalog) = loaded.get(dir) {
        return Ok(Arc::clone(catalog));
    }
    let catalog = Arc::new(load_dir(dir).map_err(|errors| {
        NodeError::execution(format!(
            "the entity schemas in {} do not load: {}",
            dir.display(),
            describe(&errors)
        ))
    })?);
    loaded.insert(dir.to_owned(), Arc::clone(&catalog));
    Ok(catalog)
}

/// Field names of a declared entity as SQL: its columns; a dotted path
/// into a `json` field reads that column's document.
pub struct DeclaredFields<'a>(pub &'a Entity);

impl Fields for DeclaredFields<'_> {
    fn sql(&self, field: &str, params: &mut Vec<Sql>) -> Result<String, String> {
        if STORE_COLUMNS.contains(&field) || self.0.field(field).is_some() {
            return Ok(format!("\"{field}\""));
        }
        if let Some((head, rest)) = field.split_once('.') {
            if self.0.field(head).is_some_and(|f| f.kind.is_json()) {
                params.push(Sql::Text(format!("$.{rest}")));
                return Ok(format!("json_extract(\"{head}\", ?{})", params.len()));
            }
        }
        Err(format!(
            "entity `{}` has no field `{field}`; its fields are {}",
            self.0.name,
            self.0
                .fields
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Tables already created or migrated, by database file, schema file and
/// entity.
type EnsuredKey = (PathBuf, PathBuf, String);

fn ensured() -> &'static Mutex<HashSet<EnsuredKey>> {
    static ENSURED: OnceLock<Mutex<HashSet<EnsuredKey>>> = OnceLock::new();
    ENSURED.get_or_init(Mutex::default)
}

/// The table of `entity` in the database at `path`: created with its
/// columns, constraints and indexes on first use; a table from an older
/// schema gets the new fields and indexes (additive changes only); the
/// entity's schemaless records, if any, move into the columns.
///
/// # Errors
///
/// A destructive change (a field removed or retyped), or records that do
/// not fit the schema, named.
pub fn ensure(conn: &mut Connection, path: &Path, entity: &Entity) -> Result<String, NodeError> {
    let table = table_name(&entity.name);
    let key = (path.to_owned(), entity.file.clone(), entity.name.clone());
    if ensured()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&key)
    {
        return Ok(table);
    }
    let existing = columns(conn, &table)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)?;
    if existing.is_empty() {
        for statement in ddl::create_statements(entity) {
            tx.execute_batch(&statement).map_err(sql)?;
        }
        adopt_schemaless(&tx, entity, &table)?;
    } else {
        migrate(&tx, entity, &table, &existing)?;
    }
    tx.commit().map_err(sql)?;
    ensured()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key);
    Ok(table)
}

/// The columns of `table` with their declared types; empty when it does
/// not exist.
pub(crate) fn columns(conn: &Connection, table: &str) -> Result<Vec<(String, String)>, NodeError> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info(\"{table}\")"))
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(rows)
}

/// Adds what the schema gained; refuses what it lost or changed.
fn migrate(
    tx: &Transaction<'_>,
    entity: &Entity,
    table: &str,
    existing: &[(String, String)],
) -> Result<(), NodeError> {
    let kept: HashMap<&str, &str> = existing
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for (column, _) in existing {
        if !STORE_COLUMNS.contains(&column.as_str()) && entity.field(column).is_none() {
            return Err(destructive(
                entity,
                &format!("field `{column}` is no longer declared"),
            ));
        }
    }
    for (name, spec) in &entity.fields {
        match kept.get(name.as_str()) {
            Some(kind) if !kind.eq_ignore_ascii_case(spec.kind.column_type()) => {
                return Err(destructive(
                    entity,
                    &format!(
                        "field `{name}` is stored as {kind} and is now declared as {:?} ({})",
                        spec.kind,
                        spec.kind.column_type()
                    ),
                ))
            }
            Some(_) => {}
            None => {
                // Rows already there have no value: a new column cannot be
                // NOT NULL without a default, so the schema's own check
                // (on every write) enforces presence for it.
                let mut relaxed = spec.clone();
                if spec.default.is_none() {
                    relaxed.nullable = Some(true);
                    relaxed.required = false;
                }
                let mut column = ddl::column(name, &relaxed);
                if let Some(default) = &spec.default {
                    column.push_str(&format!(" DEFAULT {}", default_literal(spec, default)));
                }
                tx.execute_batch(&format!("ALTER TABLE \"{table}\" ADD COLUMN {column}"))
                    .map_err(sql)?;
                tracing::info!(entity = %entity.name, field = %name, "added a column for a newly declared field");
            }
        }
    }
    for statement in ddl::create_statements(entity).into_iter().skip(1) {
        tx.execute_batch(&statement).map_err(sql)?;
    }
    Ok(())
}

fn destructive(entity: &Entity, what: &str) -> NodeError {
    NodeError::execution(format!(
        "the schema of entity `{}` changed destructively: {what}. Only additive changes (new fields, new indexes) are applied automatically; see what a rebuild would do with `plugflow db migrate`, and make it with `plugflow db migrate --apply` (or restore the declaration)",
        entity.name
    ))
}

/// A default as an SQL literal (text quoted, booleans 0/1, JSON as text).
pub(crate) fn default_literal(spec: &FieldSpec, value: &Value) -> String {
    match to_sql(spec, value) {
        Sql::Null => "NULL".to_owned(),
        Sql::Integer(i) => i.to_string(),
        Sql::Real(f) => f.to_string(),
        Sql::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Sql::Blob(_) => "NULL".to_owned(),
    }
}

/// Moves the entity's schemaless records (from before it had a schema)
/// into the new table, each checked; the old table is kept, renamed
/// `m_<entity>`, as a copy of what was moved.
fn adopt_schemaless(tx: &Transaction<'_>, entity: &Entity, table: &str) -> Result<(), NodeError> {
    let (old, _) = crate::store::names(&entity.name);
    if columns(tx, &old)?.is_empty() {
        return Ok(());
    }
    let mut stmt = tx
        .prepare(&format!(
            "SELECT tenantId, id, data FROM \"{old}\" ORDER BY rowid"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    drop(stmt);
    let insert = insert_statement(entity, table, "");
    let mut insert = tx.prepare(&insert).map_err(sql)?;
    for (i, (tenant, id, data)) in rows.iter().enumerate() {
        let document: Map<String, Value> = serde_json::from_str(data).unwrap_or_default();
        let checked = check::record(entity, i, &document, true).map_err(|v| {
            NodeError::execution(format!(
                "entity `{}` gained a schema, but its existing record `{id}` (tenant `{tenant}`) does not fit it: {}; fix the record or the schema, then start again",
                entity.name,
                v.first().map(ToString::to_string).unwrap_or_default()
            ))
        })?;
        insert
            .execute(params_from_iter(row_values(entity, tenant, id, &checked)))
            .map_err(sql)?;
    }
    drop(insert);
    tx.execute_batch(&format!(
        "ALTER TABLE \"{old}\" RENAME TO \"m_{}\"",
        entity.name
    ))
    .map_err(sql)?;
    tracing::info!(entity = %entity.name, records = rows.len(), "moved schemaless records into the declared entity's columns");
    Ok(())
}

/// `INSERT INTO table (tenantId, id, <fields>) VALUES (...)`, then
/// `suffix` (an `ON CONFLICT` clause, say).
fn insert_statement(entity: &Entity, table: &str, suffix: &str) -> String {
    format!("{}{suffix}", insert_sql("INSERT", entity, table, 1))
}

/// `<verb> INTO table (tenantId, id, <fields>) VALUES (...), ...` with
/// `rows` rows of parameters.
pub(crate) fn insert_sql(verb: &str, entity: &Entity, table: &str, rows: usize) -> String {
    let mut names = vec!["\"tenantId\"".to_owned(), "\"id\"".to_owned()];
    names.extend(entity.fields.iter().map(|(n, _)| format!("\"{n}\"")));
    let width = names.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "{verb} INTO \"{table}\" ({}) VALUES {}",
        names.join(", "),
        tuples.join(", ")
    )
}

/// The values of one row, in [`insert_statement`]'s order.
fn row_values(entity: &Entity, tenant: &str, id: &str, record: &Map<String, Value>) -> Vec<Sql> {
    let mut values = Vec::with_capacity(entity.fields.len() + 2);
    values.push(Sql::Text(tenant.to_owned()));
    values.push(Sql::Text(id.to_owned()));
    for (name, spec) in &entity.fields {
        values.push(record.get(name).map_or(Sql::Null, |v| to_sql(spec, v)));
    }
    values
}

/// [`row_values`] of a checked record appended to `values`, text
/// borrowed rather than copied.
pub(crate) fn push_row_values<'v>(
    values: &mut Vec<ToSqlOutput<'v>>,
    entity: &'v Entity,
    record: &'v CheckedRecord,
) {
    values.push(ToSqlOutput::Borrowed(ValueRef::Text(
        record.tenant().as_bytes(),
    )));
    values.push(ToSqlOutput::Borrowed(ValueRef::Text(
        record.id().as_bytes(),
    )));
    for ((_, spec), given) in entity.fields.iter().zip(record.field_values()) {
        values.push(match given {
            Value::String(s) if !spec.kind.is_json() => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            v => ToSqlOutput::Owned(to_sql(spec, v)),
        });
    }
}

/// A checked value as its column's SQL value.
pub fn to_sql(spec: &FieldSpec, value: &Value) -> Sql {
    match value {
        Value::Null => Sql::Null,
        _ if spec.kind.is_json() => Sql::Text(value.to_string()),
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match (spec.kind.column_type(), n.as_i64()) {
            ("INTEGER", Some(i)) => Sql::Integer(i),
            (_, _) => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// A column's SQL value back as the field's JSON value.
pub fn from_sql(spec: &FieldSpec, value: Sql) -> Value {
    match value {
        Sql::Null => Value::Null,
        Sql::Integer(i) if spec.kind == FieldType::Boolean => Value::Bool(i != 0),
        Sql::Integer(i) => json!(i),
        Sql::Real(f) => plugin_abi::sdk::value::number(f).unwrap_or(Value::Null),
        Sql::Text(t) if spec.kind.is_json() => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        Sql::Text(t) => Value::String(t),
        Sql::Blob(_) => Value::Null,
    }
}

/// `id, tenantId, "f1", …` for reading records.
pub fn select_list(entity: &Entity) -> String {
    let mut names = vec!["\"id\"".to_owned(), "\"tenantId\"".to_owned()];
    names.extend(entity.fields.iter().map(|(n, _)| format!("\"{n}\"")));
    names.join(", ")
}

/// A row of [`select_list`] as a record.
pub fn record(entity: &Entity, row: &Row<'_>) -> rusqlite::Result<Value> {
    let mut record = Map::with_capacity(entity.fields.len() + 2);
    record.insert("id".into(), Value::String(row.get(0)?));
    record.insert("tenantId".into(), Value::String(row.get(1)?));
    for (i, (name, spec)) in entity.fields.iter().enumerate() {
        record.insert(name.clone(), from_sql(spec, row.get(i + 2)?));
    }
    Ok(Value::Object(record))
}

/// `VALIDATION_FAILED` listing `violations`.
pub(crate) fn invalid(entity: &Entity, violations: &[Violation]) -> NodeError {
    let mut listed: Vec<String> = violations
        .iter()
        .take(LISTED_VIOLATIONS)
        .map(ToString::to_string)
        .collect();
    if violations.len() > LISTED_VIOLATIONS {
        listed.push(format!("and {} more", violations.len() - LISTED_VIOLATIONS));
    }
    NodeError::new(
        codes::VALIDATION_FAILED,
        format!(
            "records do not fit entity `{}`; nothing was written: {}",
            entity.name,
            listed.join("; ")
        ),
    )
}

/// A write's database error: a unique violation names the field (never
/// the record that holds the value); others as usual.
pub(crate) fn write_error(entity: &Entity, index: usize, e: rusqlite::Error) -> NodeError {
    if e.sqlite_error_code() != Some(rusqlite::ErrorCode::ConstraintViolation) {
        return sql(e);
    }
    let text = e.to_string();
    if let Some(columns) = text.split("UNIQUE constraint failed: ").nth(1) {
        let fields: Vec<&str> = columns
            .split(", ")
            .filter_map(|c| c.rsplit('.').next())
            .filter(|f| *f != "tenantId")
            .collect();
        let which = fields.join(", ");
        let message = if fields == ["id"] {
            format!("data/{index}/id: a record with this id already exists")
        } else {
            format!("data/{index}/{which}: another record of this tenant already has this value ({which} is unique)")
        };
        return NodeError::new(
            codes::VALIDATION_FAILED,
            format!("{message}; nothing was written to entity `{}`", entity.name),
        );
    }
    NodeError::new(
        codes::VALIDATION_FAILED,
        format!("data/{index}: the record breaks a constraint of entity `{}` ({text}); nothing was written", entity.name),
    )
}

/// A new record's id: the given one, else a new UUID.
fn new_id(record: &Map<String, Value>) -> String {
    match record.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        // A UUID suits every text id type.
        _ => check::new_uuid(),
    }
}

/// A record checked for a create, in its stored shape: `id`, `tenantId`,
/// then every field of the schema in its order (`null` when absent) —
/// what is written and what the create answers.
#[derive(Debug, Clone)]
pub(crate) struct CheckedRecord(Map<String, Value>);

impl CheckedRecord {
    /// The record's id.
    pub(crate) fn id(&self) -> &str {
        self.0.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The record's tenant.
    pub(crate) fn tenant(&self) -> &str {
        self.0
            .get("tenantId")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The values of the schema's fields, in its order (after `id` and
    /// `tenantId`).
    fn field_values(&self) -> impl Iterator<Item = &Value> {
        self.0.values().skip(2)
    }

    /// The whole record: its fields by name (and `id`, `tenantId`).
    pub(crate) fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The record as the create answers it.
    pub(crate) fn into_stored(self) -> Value {
        Value::Object(self.0)
    }
}

/// The records of a create for `tenant`, each checked against `entity`
/// (with its id: the given one, else a new UUID). A user who may create
/// only their own records (`owner`: field and user id) gets the owner
/// field set when absent and refused when it names another.
///
/// # Errors
///
/// `VALIDATION_FAILED` naming each record's index and field.
pub(crate) fn checked_records(
    entity: &Entity,
    tenant: &str,
    records: &[&Map<String, Value>],
    owner: Option<&(String, String)>,
) -> Result<Vec<CheckedRecord>, NodeError> {
    let (checked, violations) = check_block(entity, tenant, records, 0, owner);
    if violations.is_empty() {
        Ok(checked)
    } else {
        Err(invalid(entity, &violations))
    }
}

/// [`checked_records`] of `records`, the first of which is record `first`
/// of the write: the records that passed, and every violation of the
/// others.
pub(crate) fn check_block(
    entity: &Entity,
    tenant: &str,
    records: &[&Map<String, Value>],
    first: usize,
    owner: Option<&(String, String)>,
) -> (Vec<CheckedRecord>, Vec<Violation>) {
    let mut checked = Vec::with_capacity(records.len());
    let mut violations = Vec::new();
    for (i, given) in (first..).zip(records) {
        let mut owned;
        let mut record: &Map<String, Value> = given;
        if let Some((field, user_id)) = owner {
            match given.get(field) {
                Some(Value::String(id)) if id == user_id => {}
                Some(_) => {
                    violations.push(Violation {
                        index: i,
                        field: field.clone(),
                        message: "records you create must be your own".to_owned(),
                    });
                    continue;
                }
                None => {
                    owned = (*given).clone();
                    owned.insert(field.clone(), Value::String(user_id.clone()));
                    record = &owned;
                }
            }
        }
        match check::created(entity, i, record, new_id(record), tenant) {
            Ok(stored) => checked.push(CheckedRecord(stored)),
            Err(mut found) => violations.append(&mut found),
        }
    }
    (checked, violations)
}

/// The fields an update sets: `data` without the store's columns, checked
/// as a partial record.
///
/// # Errors
///
/// `VALIDATION_FAILED` naming the field.
pub(crate) fn checked_patch(
    entity: &Entity,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>, NodeError> {
    let mut patch = data.clone();
    for column in STORE_COLUMNS {
        patch.shift_remove(column);
    }
    check::record(entity, 0, &patch, false).map_err(|v| invalid(entity, &v))
}

/// `update`: `data` checked as a partial record, then set on the rows
/// matching `where_sql`. Returns how many changed.
///
/// # Errors
///
/// `VALIDATION_FAILED` naming the field.
pub fn update(
    tx: &Transaction<'_>,
    entity: &Entity,
    table: &str,
    data: &Map<String, Value>,
    where_sql: &str,
    mut params: Vec<Sql>,
) -> Result<usize, NodeError> {
    let fields = checked_patch(entity, data)?;
    if fields.is_empty() {
        return Ok(0);
    }
    let mut sets = Vec::with_capacity(fields.len());
    for (name, value) in &fields {
        let spec = entity.field(name).ok_or_else(|| {
            NodeError::invalid_parameter("data", format!("`{name}` is not a field"))
        })?;
        params.push(to_sql(spec, value));
        sets.push(format!("\"{name}\" = ?{}", params.len()));
    }
    tx.execute(
        &format!("UPDATE \"{table}\" SET {} {where_sql}", sets.join(", ")),
        params_from_iter(params.iter()),
    )
    .map_err(|e| write_error(entity, 0, e))
}
