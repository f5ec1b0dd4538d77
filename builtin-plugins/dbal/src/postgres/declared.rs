//! Declared entities on PostgreSQL: one typed column per field with its
//! constraints, tenant-leading indexes, the same row-level policy as every
//! dbal table, and writes checked against the schema before they reach
//! the database (the checks are the SQLite store's own).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use plugflow_pg::postgres::{Row, Transaction};
use plugflow_pg::Pool;
use plugin_abi::codes;
use plugin_abi::sdk::NodeError;
use serde_json::{Map, Value};

use super::tables::{POLICY, ROLE};
use super::Param;
use crate::entity::ddl::{index_name, index_statement, table_name};
use crate::entity::{Entity, FieldSpec, FieldType};

/// A field's PostgreSQL column type.
pub(crate) fn column_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Integer | FieldType::Bigint | FieldType::Timestamp => "bigint",
        FieldType::Boolean => "boolean",
        FieldType::Float | FieldType::Decimal | FieldType::Currency => "double precision",
        FieldType::Json | FieldType::Coordinates => "jsonb",
        _ => "text",
    }
}

/// A text literal: single quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One column: its type, NOT NULL unless nullable, and its CHECKs.
fn column(name: &str, spec: &FieldSpec) -> String {
    let quoted = format!("\"{name}\"");
    let mut column = format!("{quoted} {}", column_type(spec.kind));
    if !spec.is_nullable() {
        column.push_str(" NOT NULL");
    }
    let mut checks = Vec::new();
    if let (FieldType::Enum, Some(values)) = (spec.kind, &spec.values) {
        let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
        checks.push(format!("{quoted} IN ({})", list.join(", ")));
    }
    if column_type(spec.kind) == "text" {
        if let Some(min) = spec.min_length {
            checks.push(format!("char_length({quoted}) >= {min}"));
        }
        if let Some(max) = spec.max_length {
            checks.push(format!("char_length({quoted}) <= {max}"));
        }
    }
    if matches!(column_type(spec.kind), "bigint" | "double precision") {
        if let Some(min) = spec.min.filter(|m| m.is_finite()) {
            checks.push(format!("{quoted} >= {min}"));
        }
        if let Some(max) = spec.max.filter(|m| m.is_finite()) {
            checks.push(format!("{quoted} <= {max}"));
        }
    }
    if !checks.is_empty() {
        column.push_str(&format!(" CHECK ({})", checks.join(" AND ")));
    }
    column
}

/// The table, its indexes, its policy and its grants.
fn create_statements(entity: &Entity, table: &str) -> String {
    let mut columns = vec![
        "\"tenantId\" text NOT NULL".to_owned(),
        "\"id\" text NOT NULL".to_owned(),
        // Insertion order, the order of reads that name none (SQLite's
        // rowid).
        "\"_seq\" bigserial".to_owned(),
    ];
    columns.extend(entity.fields.iter().map(|(n, s)| column(n, s)));
    columns.push("PRIMARY KEY (\"tenantId\", \"id\")".to_owned());
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" ({})",
        columns.join(", ")
    )];
    statements.push(format!(
        "CREATE INDEX IF NOT EXISTS \"s_{}\" ON \"{table}\" (\"tenantId\", \"_seq\")",
        entity.name
    ));
    statements.extend(
        entity
            .indexes
            .iter()
            .map(|index| index_statement(&entity.name, table, index)),
    );
    statements.push(security(table));
    statements.join(";\n")
}

/// Row-level security on `table`, as on every dbal table.
fn security(table: &str) -> String {
    format!(
        "ALTER TABLE \"{table}\" ENABLE ROW LEVEL SECURITY;
         ALTER TABLE \"{table}\" FORCE ROW LEVEL SECURITY;
         DROP POLICY IF EXISTS tenant_isolation ON \"{table}\";
         CREATE POLICY tenant_isolation ON \"{table}\" USING ({POLICY}) WITH CHECK ({POLICY});
         GRANT SELECT, INSERT, UPDATE, DELETE ON \"{table}\" TO {ROLE};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"
    )
}

fn destructive(entity: &Entity, what: &str) -> NodeError {
    NodeError::execution(format!(
        "the schema of entity `{}` changed destructively: {what}. Only additive changes (new fields, new indexes) are applied automatically; on PostgreSQL, rebuild the table `{}` yourself (or restore the declaration)",
        entity.name,
        table_name(&entity.name)
    ))
}

/// Creates the table, or adds what the schema gained and refuses what it
/// lost or retyped.
fn create_or_migrate(
    tx: &mut Transaction<'_>,
    entity: &Entity,
    table: &str,
) -> Result<Result<(), NodeError>, plugflow_pg::postgres::Error> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('plugflow-dbal-table:' || $1))",
        &[&table],
    )?;
    let existing: Vec<(String, String)> = tx
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if existing.is_empty() {
        tx.batch_execute(&create_statements(entity, table))?;
        return adopt_documents(tx, entity, table);
    }
    for (name, _) in &existing {
        if !["tenantId", "id", "_seq"].contains(&name.as_str()) && entity.field(name).is_none() {
            return Ok(Err(destructive(
                entity,
                &format!("field `{name}` is no longer declared"),
            )));
        }
    }
    for (name, spec) in &entity.fields {
        match existing.iter().find(|(n, _)| n == name) {
            Some((_, kind)) if kind != column_type(spec.kind) => {
                return Ok(Err(destructive(
                    entity,
                    &format!(
                        "field `{name}` is stored as {kind} and is now declared as {:?} ({})",
                        spec.kind,
                        column_type(spec.kind)
                    ),
                )))
            }
            Some(_) => {}
            None => {
                // Rows already there have no value: the schema's own check
                // (on every write) enforces presence for it.
                let added = match &spec.default {
                    // Rows already there take the default.
                    Some(default) => format!(
                        "{} DEFAULT {}",
                        column(name, spec),
                        default_literal(spec, default)
                    ),
                    None => {
                        let mut relaxed = spec.clone();
                        relaxed.nullable = Some(true);
                        relaxed.required = false;
                        column(name, &relaxed)
                    }
                };
                tx.batch_execute(&format!("ALTER TABLE \"{table}\" ADD COLUMN {added}"))?;
            }
        }
    }
    let indexes: Vec<String> = entity
        .indexes
        .iter()
        .map(|index| index_statement(&entity.name, table, index))
        .collect();
    if !indexes.is_empty() {
        tx.batch_execute(&indexes.join(";\n"))?;
    }
    Ok(Ok(()))
}

/// Moves the entity's documents (stored before it had a schema) into its
/// new typed table, each checked; the documents table is kept, renamed
/// `m_<entity>`, as a copy of what was moved. Both tables' policies are
/// lifted for the owner inside this transaction only (forced again before
/// it commits), so every tenant's records move, each under its own tenant.
fn adopt_documents(
    tx: &mut Transaction<'_>,
    entity: &Entity,
    table: &str,
) -> Result<Result<(), NodeError>, plugflow_pg::postgres::Error> {
    let (old, _) = crate::store::names(&entity.name);
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("\"{old}\"")],
        )?
        .get(0);
    if !exists {
        return Ok(Ok(()));
    }
    tx.batch_execute(&format!(
        "ALTER TABLE \"{old}\" NO FORCE ROW LEVEL SECURITY;
         ALTER TABLE \"{table}\" NO FORCE ROW LEVEL SECURITY"
    ))?;
    let rows = tx.query(
        &format!("SELECT \"tenantId\", id, data FROM \"{old}\" ORDER BY \"createdAt\", id"),
        &[],
    )?;
    for (i, row) in rows.iter().enumerate() {
        let (tenant, id, data): (String, String, Value) = (row.get(0), row.get(1), row.get(2));
        let document = data.as_object().cloned().unwrap_or_default();
        let fields = match crate::entity::check::record(entity, i, &document, true) {
            Ok(fields) => fields,
            Err(violations) => {
                return Ok(Err(NodeError::execution(format!(
                    "entity `{}` gained a schema, but its existing record `{id}` (tenant `{tenant}`) does not fit it: {}; fix the record or the schema, then start again",
                    entity.name,
                    violations.first().map(ToString::to_string).unwrap_or_default()
                ))))
            }
        };
        let (sql, params) = insert(entity, table, &tenant, &id, &fields, "");
        tx.execute(&sql, &super::refs(&params))?;
    }
    tx.batch_execute(&format!(
        "ALTER TABLE \"{old}\" RENAME TO \"m_{name}\";
         ALTER INDEX IF EXISTS \"{old}__created\" RENAME TO \"m_{name}__created\";
         ALTER TABLE \"m_{name}\" FORCE ROW LEVEL SECURITY;
         ALTER TABLE \"{table}\" FORCE ROW LEVEL SECURITY",
        name = entity.name
    ))?;
    tracing::info!(entity = %entity.name, records = rows.len(), "moved documents into the declared entity's columns");
    Ok(Ok(()))
}

/// The table of `entity`, created or migrated once per process, database
/// and schema file.
pub(crate) fn ensure(pool: &Pool, entity: &Entity) -> Result<String, NodeError> {
    static ENSURED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let table = table_name(&entity.name);
    if table.len() > 63 {
        return Err(NodeError::execution(format!(
            "entity `{}` has a name longer than PostgreSQL table names allow (61 characters)",
            entity.name
        )));
    }
    let key = format!(
        "{}\n{}\n{}",
        pool.config().url,
        entity.file.display(),
        entity.name
    );
    let ensured = ENSURED.get_or_init(Mutex::default);
    if ensured
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&key)
    {
        return Ok(table);
    }
    let (schema, name) = (entity.clone(), table.clone());
    pool.run(move |client| {
        let mut tx = client.transaction()?;
        match create_or_migrate(&mut tx, &schema, &name)? {
            Ok(()) => tx.commit().map(|()| Ok(())),
            Err(refused) => Ok(Err(refused)),
        }
    })
    .map_err(super::database)??;
    ensured
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key);
    Ok(table)
}

/// A checked value as its column's parameter and cast.
pub(crate) fn param(spec: &FieldSpec, value: &Value) -> (Param, &'static str) {
    let cast = column_type(spec.kind);
    let param = match value {
        Value::Null => Param::Null,
        _ if cast == "jsonb" => Param::Json(value.clone()),
        Value::Bool(b) if cast == "boolean" => Param::Bool(*b),
        Value::Number(n) if cast == "bigint" => match n.as_i64() {
            Some(i) => Param::Int(i),
            None => Param::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::Number(n) => Param::Float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Param::Text(s.clone()),
        other => Param::Text(other.to_string()),
    };
    // A float for a bigint column (never after the checks) is cast.
    let cast = match (&param, cast) {
        (Param::Float(_), "bigint") => "double precision",
        _ => cast,
    };
    (param, cast)
}

/// A default as an SQL literal of its column's type.
fn default_literal(spec: &FieldSpec, value: &Value) -> String {
    let cast = column_type(spec.kind);
    match value {
        Value::Null => "NULL".to_owned(),
        _ if cast == "jsonb" => format!("{}::jsonb", literal(&value.to_string())),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => literal(s),
        other => literal(&other.to_string()),
    }
}

/// `"id", "tenantId", "f1", …` for reading records.
pub(crate) fn select_list(entity: &Entity) -> String {
    let mut names = vec!["\"id\"".to_owned(), "\"tenantId\"".to_owned()];
    names.extend(entity.fields.iter().map(|(n, _)| format!("\"{n}\"")));
    names.join(", ")
}

/// A row of [`select_list`] as a record.
pub(crate) fn record(entity: &Entity, row: &Row) -> Result<Value, plugflow_pg::postgres::Error> {
    let mut record = Map::with_capacity(entity.fields.len() + 2);
    record.insert("id".into(), Value::String(row.try_get(0)?));
    record.insert("tenantId".into(), Value::String(row.try_get(1)?));
    for (i, (name, spec)) in entity.fields.iter().enumerate() {
        let at = i + 2;
        let value = match column_type(spec.kind) {
            "bigint" => row.try_get::<_, Option<i64>>(at)?.map(Value::from),
            "boolean" => row.try_get::<_, Option<bool>>(at)?.map(Value::Bool),
            "double precision" => row
                .try_get::<_, Option<f64>>(at)?
                .and_then(plugin_abi::sdk::value::number),
            "jsonb" => row.try_get::<_, Option<Value>>(at)?,
            _ => row.try_get::<_, Option<String>>(at)?.map(Value::String),
        };
        record.insert(name.clone(), value.unwrap_or(Value::Null));
    }
    Ok(Value::Object(record))
}

/// A write's database error: a unique violation names the field (never
/// the record that holds the value); other constraint failures name the
/// record.
pub(crate) fn write_error(
    entity: &Entity,
    index: usize,
    e: &plugflow_pg::postgres::Error,
) -> Option<NodeError> {
    let db = e.as_db_error()?;
    let state = db.code().code();
    if state == "23505" {
        let constraint = db.constraint().unwrap_or_default();
        let fields: Vec<String> = entity
            .indexes
            .iter()
            .find(|i| index_name(&entity.name, i) == constraint)
            .map(|i| i.fields.clone())
            .unwrap_or_else(|| vec!["id".to_owned()]);
        let which = fields.join(", ");
        let message = if fields == ["id"] {
            format!("data/{index}/id: a record with this id already exists")
        } else {
            format!("data/{index}/{which}: another record of this tenant already has this value ({which} is unique)")
        };
        return Some(NodeError::new(
            codes::VALIDATION_FAILED,
            format!("{message}; nothing was written to entity `{}`", entity.name),
        ));
    }
    state.starts_with("23").then(|| {
        NodeError::new(
            codes::VALIDATION_FAILED,
            format!(
                "data/{index}: the record breaks a constraint of entity `{}` ({}); nothing was written",
                entity.name,
                db.message()
            ),
        )
    })
}

/// `INSERT` of one checked record: its SQL and parameters.
pub(crate) fn insert(
    entity: &Entity,
    table: &str,
    tenant: &str,
    id: &str,
    fields: &Map<String, Value>,
    suffix: &str,
) -> (String, Vec<Param>) {
    let mut names = vec!["\"tenantId\"".to_owned(), "\"id\"".to_owned()];
    let mut marks = vec!["$1::text".to_owned(), "$2::text".to_owned()];
    let mut params = vec![Param::Text(tenant.to_owned()), Param::Text(id.to_owned())];
    for (name, spec) in &entity.fields {
        let (value, cast) = param(spec, fields.get(name).unwrap_or(&Value::Null));
        params.push(value);
        names.push(format!("\"{name}\""));
        marks.push(format!("${}::{cast}", params.len()));
    }
    (
        format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({}){suffix}",
            names.join(", "),
            marks.join(", ")
        ),
        params,
    )
}

/// The `SET` list of an update of `fields`, its parameters appended.
pub(crate) fn sets(
    entity: &Entity,
    fields: &Map<String, Value>,
    params: &mut Vec<Param>,
) -> String {
    let mut sets = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if let Some(spec) = entity.field(name) {
            let (value, cast) = param(spec, value);
            params.push(value);
            sets.push(format!("\"{name}\" = ${}::{cast}", params.len()));
        }
    }
    sets.join(", ")
}
