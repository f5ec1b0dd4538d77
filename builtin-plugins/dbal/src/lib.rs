//! `dbal-read` and `dbal-write`: tenant-scoped records in an embedded
//! SQLite database (one table per entity: `id`, `tenantId`, a JSON `data`
//! document, `createdAt`, `updatedAt`; keyed by tenant and id, indexed on
//! the tenant).
//!
//! Every statement is scoped to the request's tenant by the SQL itself: the
//! tenant predicate is AND-ed at the outermost level and writes set the
//! tenant column from the context, whatever the parameters say. Filters are
//! compiled to parameterised SQL over `json_extract`; field names must match
//! a strict pattern. Multi-record writes run in one transaction.
//!
//! Entities declared by MetaBuilder entity schemas (the host's
//! `config.entities` directory; see [`entity`]) live in typed tables with
//! their constraints and tenant-leading indexes instead: writes are checked
//! against the schema, filters read the columns, the schema's `acl` limits
//! what the execution's user sees and changes, and [`migrate`] makes the
//! destructive schema changes an operator asks for.

mod acl;
mod bulk_create;
mod check_blocks;
mod declared;
pub mod entity;
mod filter;
mod metabuilder;
pub mod migrate;
mod postgres;
mod store;
mod target;
mod upsert;

pub use store::{names as table_names, valid_entity};

use plugin_abi::sdk::{
    kind, Node, NodeDescription, NodeError, NodeOutput, NodeRequest, NodeSpec, PluginDefinition,
    Validation,
};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, OptionalExtension};
use serde_json::{json, Map, Value};

use acl::Access;
use store::{record, sql, NOW};
use target::Target;

type NodeResult = Result<NodeOutput, NodeError>;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 10_000;

/// The plugin's definition.
pub fn definition() -> PluginDefinition {
    let filter = json!({"type": "object", "description": "Equality on fields, or operators $eq $ne $gt $gte $lt $lte $in $nin $like $exists, combined with $and $or $not."});
    PluginDefinition::new("plugflow-dbal", env!("CARGO_PKG_VERSION"))
        .description("Tenant-scoped records in an embedded SQLite database.")
        .node(
            NodeSpec::new("dbal-read", "1.0.0", "data", "Reads records of `entity` for the execution's tenant. `operation`: validate (`input`, default the node's input, against `rules` such as {\"amount\": \"required|number|min:1|max:1000000\"}; every failing field in one VALIDATION_FAILED) → the input; read (default; `filter`, `sort` as \"field\", \"-field\", {field: 1 | -1}, {field: \"asc\" | \"desc\"}, {field, order} or a list, `limit` default 100 max 10000, `offset`) → {records, count}; get (`id`) → {record}; count (`filter`) → {count}; aggregate (`function` count|sum|avg|min|max, `field`, optional `groupBy`, `filter`) → {value} or {groups: [{key, value}]}.")
                .schema(json!({"type": "object", "properties": {
                    "operation": {"enum": ["validate", "read", "get", "count", "aggregate"], "default": "read"},
                    "input": {},
                    "rules": {"type": "object", "additionalProperties": {"type": "string"}},
                    "entity": {"type": "string"},
                    "filter": filter,
                    "sort": {"type": ["string", "array", "object"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    "offset": {"type": "integer", "minimum": 0},
                    "id": {"type": ["string", "integer"]},
                    "function": {"enum": ["count", "sum", "avg", "min", "max"]},
                    "field": {"type": "string"},
                    "groupBy": {"type": "string"}}}))
                .required(["entity"])
                .tags(["data", "database"])
                .icon("database")
                .blocking()
                .tenant_scoped()
                .executor(|| Reader),
        )
        .node(
            NodeSpec::new("dbal-write", "1.0.0", "data", "Writes records of `entity` for the execution's tenant, in one transaction, once per node of a resumable execution (run again with the same execution id, it answers what it answered the first time: a resumed execution never writes twice). `operation`: create (`data`: a record or a list) → {records, count}, and for a single record its fields (with the generated `id`) at the top level too; update (`data` merged into the records matching `id` or `filter`) → {count}; delete (`id` or `filter`; an empty filter deletes every record of the tenant's entity) → {count}; upsert (`data` with `id`, or `id`) → the stored record's fields and {record}.")
                .schema(json!({"type": "object", "properties": {
                    "operation": {"enum": ["create", "update", "delete", "upsert"], "default": "create"},
                    "entity": {"type": "string"},
                    "data": {"type": ["object", "array"]},
                    "id": {"type": ["string", "integer"]},
                    "filter": filter}}))
                .required(["entity"])
                .tags(["data", "database"])
                .icon("database")
                .blocking()
                .idempotent()
                .tenant_scoped()
                .handler(write),
        )
        .node(metabuilder::spec("metabuilder.database"))
        .node(metabuilder::spec("metabuilder.operation"))
}

plugin_abi::export_plugin!(definition);

/// `dbal-read`: the rules of its `validate` operation are checked for
/// well-formedness before the run.
struct Reader;

impl Node for Reader {
    fn validate(&self, node: &NodeDescription) -> Validation {
        let mut validation = Validation::valid();
        let p = &node.parameters;
        if p.get("operation").and_then(Value::as_str) == Some("validate") {
            if let Some(Value::Object(rules)) = p.get("rules") {
                for problem in plugin_abi::sdk::rules::check_rules(rules) {
                    validation = validation.error(problem);
                }
            }
        }
        if let Some(Value::String(entity)) = p.get("entity") {
            if !entity.contains("{{") && !store::valid_entity(entity) {
                validation = validation.error(format!(
                    "`{entity}` is not a valid entity name: a letter or `_`, then letters, digits and `_` (at most 64)"
                ));
            }
        }
        validation
    }

    fn execute(&self, request: &NodeRequest) -> NodeResult {
        read(request)
    }
}

fn tenant(request: &NodeRequest) -> Result<String, NodeError> {
    request
        .context
        .tenant_id
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            NodeError::new(
                plugin_abi::codes::INVALID_PARAMETERS,
                "dbal nodes need a tenant in the execution context",
            )
        })
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `id` parameter: absent, or a non-empty string or a number.
fn id_param(request: &NodeRequest) -> Result<Option<String>, NodeError> {
    match request.param("id").map(id_of) {
        None => Ok(None),
        Some(Some(id)) => Ok(Some(id)),
        Some(None) => Err(NodeError::invalid_parameter(
            "id",
            "expected a non-empty string or a number",
        )),
    }
}

/// The `function` of an aggregate (default `count`).
fn aggregate_function(request: &NodeRequest) -> Result<&str, NodeError> {
    let function = request
        .param("function")
        .and_then(Value::as_str)
        .unwrap_or("count");
    if matches!(function, "count" | "sum" | "avg" | "min" | "max") {
        Ok(function)
    } else {
        Err(NodeError::invalid_parameter(
            "function",
            format!("`{function}` is not count, sum, avg, min or max"),
        ))
    }
}

/// `WHERE tenantId = ?1 AND (<filter>)` with its parameters.
fn scoped_where(
    tenant: &str,
    request: &NodeRequest,
    fields: &dyn filter::Fields,
) -> Result<(String, Vec<Sql>), NodeError> {
    let mut params = vec![Sql::Text(tenant.to_owned())];
    let filter_sql = match request.param("filter") {
        Some(f) => filter::compile_with(f, &mut params, fields)
            .map_err(|e| NodeError::invalid_parameter(&e.path.replace('.', "/"), e.message))?,
        None => "1".to_owned(),
    };
    let id_sql = match id_param(request)? {
        Some(id) => {
            params.push(Sql::Text(id));
            format!(" AND id = ?{}", params.len())
        }
        None => String::new(),
    };
    Ok((
        format!("WHERE tenantId = ?1 AND {filter_sql}{id_sql}"),
        params,
    ))
}

/// Narrows a scoped `WHERE` to what `access` allows: the user's own
/// records, or none.
fn restrict(where_sql: &mut String, params: &mut Vec<Sql>, access: &Access) {
    match access {
        Access::All => {}
        Access::Owned { field, user_id } => {
            params.push(Sql::Text(user_id.clone()));
            where_sql.push_str(&format!(" AND \"{field}\" = ?{}", params.len()));
        }
        Access::Nothing => where_sql.push_str(" AND 0"),
    }
}

/// The scoped `WHERE` of an update or delete: it needs an id or a filter,
/// and is narrowed to what the execution's user may touch.
fn targeted_where(
    operation: &str,
    tenant: &str,
    request: &NodeRequest,
    target: &Target<'_>,
) -> Result<(String, Vec<Sql>), NodeError> {
    if request.param("id").is_none() && request.param("filter").is_none() {
        return Err(NodeError::invalid_parameter(
            "id",
            format!("{operation} needs an id or a filter"),
        ));
    }
    let (mut where_sql, mut params) = scoped_where(tenant, request, target.fields().as_ref())?;
    match target.access(operation, &request.context.user) {
        Access::Nothing => {
            let entity = request.str_param("entity").unwrap_or_default();
            return Err(denied(entity, operation));
        }
        access => restrict(&mut where_sql, &mut params, &access),
    }
    Ok((where_sql, params))
}

/// The `data` of an update: an object to merge.
fn update_data(request: &NodeRequest) -> Result<&Map<String, Value>, NodeError> {
    request
        .required_param("data")?
        .as_object()
        .ok_or_else(|| NodeError::invalid_parameter("data", "update takes an object to merge"))
}

/// `ACCESS_DENIED` for `operation` on `entity`.
fn denied(entity: &str, operation: &str) -> NodeError {
    NodeError::new(
        plugin_abi::codes::ACCESS_DENIED,
        format!("the execution's user may not {operation} records of entity `{entity}` (its schema's acl); run as a user whose role the acl admits"),
    )
}

/// The sort keys of `sort`: `"field"`, `"-field"`, `{field, order}`,
/// MetaBuilder's `{field: 1 | -1}` and `{field: "asc" | "desc"}` (several
/// fields in the order written), or a list of any of these.
fn sort_keys(sort: &Value) -> Result<Vec<(String, bool)>, NodeError> {
    let items: Vec<&Value> = match sort {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut keys = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = |message: String| NodeError::invalid_parameter(&format!("sort/{i}"), message);
        match item {
            Value::String(s) => keys.push(match s.strip_prefix('-') {
                Some(f) => (f.to_owned(), true),
                None => (s.clone(), false),
            }),
            Value::Object(o) if o.contains_key("field") => keys.push((
                o.get("field")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                o.get("order")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.eq_ignore_ascii_case("desc")),
            )),
            Value::Object(o) => {
                for (field, direction) in o {
                    let descending = match direction {
                        Value::Number(n) if n.as_i64() == Some(-1) => true,
                        Value::Number(n) if n.as_i64() == Some(1) => false,
                        Value::String(d) if d.eq_ignore_ascii_case("desc") => true,
                        Value::String(d) if d.eq_ignore_ascii_case("asc") => false,
                        other => {
                            return Err(at(format!(
                                "direction of `{field}` must be 1, -1, \"asc\" or \"desc\", got {}",
                                kind(other)
                            )))
                        }
                    };
                    keys.push((field.clone(), descending));
                }
            }
            other => {
                return Err(at(format!(
                    "expected \"field\", \"-field\", {{field: 1 | -1}} or {{field, order}}, got {}",
                    kind(other)
                )))
            }
        }
    }
    Ok(keys)
}

fn order_by(
    request: &NodeRequest,
    params: &mut Vec<Sql>,
    fields: &dyn filter::Fields,
    default: &str,
) -> Result<String, NodeError> {
    let Some(sort) = request.param("sort") else {
        return Ok(default.to_owned());
    };
    let mut keys = Vec::new();
    for (i, (field, descending)) in sort_keys(sort)?.into_iter().enumerate() {
        if !filter::valid_field(&field) {
            return Err(NodeError::invalid_parameter(
                &format!("sort/{i}"),
                format!("field name `{field}` is not allowed"),
            ));
        }
        let column = fields
            .sql(&field, params)
            .map_err(|m| NodeError::invalid_parameter(&format!("sort/{i}"), m))?;
        keys.push(format!(
            "{column} {}",
            if descending { "DESC" } else { "ASC" }
        ));
    }
    keys.push("id".into());
    Ok(format!(" ORDER BY {}", keys.join(", ")))
}

fn int_param(request: &NodeRequest, name: &str, default: i64, max: i64) -> Result<i64, NodeError> {
    match request.param(name) {
        None => Ok(default),
        Some(v) => v.as_i64().filter(|n| (0..=max).contains(n)).ok_or_else(|| {
            NodeError::invalid_parameter(name, format!("expected an integer from 0 to {max}"))
        }),
    }
}

pub(crate) fn read(request: &NodeRequest) -> NodeResult {
    if request.param("operation").and_then(Value::as_str) == Some("validate") {
        let input = request.param("input").unwrap_or(&request.input);
        let rules = request
            .required_param("rules")?
            .as_object()
            .ok_or_else(|| {
                NodeError::invalid_parameter("rules", "expected an object of field → rule string")
            })?;
        plugin_abi::sdk::rules::enforce(input, rules)?;
        return Ok(NodeOutput::new(input.clone()));
    }
    let tenant = tenant(request)?;
    let entity = request.str_param("entity")?.to_owned();
    let declared = declared::lookup(request, &entity)?;
    if let Some(pool) = postgres::backend(request)? {
        return postgres::read(&pool, request, declared.as_ref());
    }
    let path = store::database_path(request)?;
    store::with_connection(&path, |conn| {
        let target = Target::open(conn, &path, &entity, declared.as_ref())?;
        let (query, statement, params) = read_statement(&target, &tenant, request)?;
        let mut stmt = conn.prepare_cached(&statement).map_err(sql)?;
        let params = params_from_iter(params.iter());
        match query {
            Query::Rows { single } => {
                let rows = stmt
                    .query_map(params, |row| target.record(row))
                    .map_err(sql)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                if single {
                    Ok(NodeOutput::new(json!({"record": rows.into_iter().next()})))
                } else {
                    let count = rows.len();
                    Ok(NodeOutput::new(json!({"records": rows, "count": count})))
                }
            }
            Query::Count => {
                let count: i64 = stmt.query_row(params, |r| r.get(0)).map_err(sql)?;
                Ok(NodeOutput::new(json!({"count": count})))
            }
            Query::Aggregate { grouped: false } => {
                let value: Sql = stmt.query_row(params, |r| r.get(0)).map_err(sql)?;
                Ok(NodeOutput::new(json!({"value": sql_value(value)})))
            }
            Query::Aggregate { grouped: true } => {
                let groups = stmt
                    .query_map(params, |r| Ok((r.get::<_, Sql>(0)?, r.get::<_, Sql>(1)?)))
                    .map_err(sql)?
                    .map(|row| {
                        row.map(|(k, v)| json!({"key": sql_value(k), "value": sql_value(v)}))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                Ok(NodeOutput::new(json!({"groups": groups})))
            }
        }
    })
}

/// What a read statement returns.
enum Query {
    /// Records (`single`: at most one, for `get`).
    Rows { single: bool },
    /// One count.
    Count,
    /// One value, or `(key, value)` groups.
    Aggregate { grouped: bool },
}

/// The statement of a read operation over `target`, scoped to `tenant`,
/// with its parameters.
fn read_statement(
    target: &Target<'_>,
    tenant: &str,
    request: &NodeRequest,
) -> Result<(Query, String, Vec<Sql>), NodeError> {
    let fields = target.fields();
    let table = &target.table;
    let (mut where_sql, mut params) = scoped_where(tenant, request, fields.as_ref())?;
    // A user who may not read a record never sees it: not in a read, a
    // get, a count or an aggregate.
    restrict(
        &mut where_sql,
        &mut params,
        &target.access("read", &request.context.user),
    );
    let operation = request
        .param("operation")
        .and_then(Value::as_str)
        .unwrap_or("read");
    match operation {
        "read" | "get" => {
            let single = operation == "get";
            if single && request.param("id").is_none() {
                return Err(NodeError::invalid_parameter("id", "get needs an id"));
            }
            let order = order_by(
                request,
                &mut params,
                fields.as_ref(),
                target.default_order(),
            )?;
            let limit = if single {
                1
            } else {
                int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)?
            };
            let offset = int_param(request, "offset", 0, i64::MAX)?;
            let statement = format!(
                "SELECT {} FROM \"{table}\" {where_sql}{order} LIMIT {limit} OFFSET {offset}",
                target.select_list()
            );
            Ok((Query::Rows { single }, statement, params))
        }
        "count" => Ok((
            Query::Count,
            format!("SELECT COUNT(*) FROM \"{table}\" {where_sql}"),
            params,
        )),
        "aggregate" => {
            let function = aggregate_function(request)?;
            let sql_fn = function.to_uppercase();
            let target_sql = match request.param("field") {
                Some(f) => named_field(f, "field", fields.as_ref(), &mut params)?,
                None if function == "count" => "*".to_owned(),
                None => {
                    return Err(NodeError::invalid_parameter(
                        "field",
                        format!("{function} needs a field"),
                    ))
                }
            };
            match request.param("groupBy") {
                None => Ok((
                    Query::Aggregate { grouped: false },
                    format!("SELECT {sql_fn}({target_sql}) FROM \"{table}\" {where_sql}"),
                    params,
                )),
                Some(group) => {
                    let key = named_field(group, "groupBy", fields.as_ref(), &mut params)?;
                    Ok((
                        Query::Aggregate { grouped: true },
                        format!("SELECT {key}, {sql_fn}({target_sql}) FROM \"{table}\" {where_sql} GROUP BY 1 ORDER BY 1"),
                        params,
                    ))
                }
            }
        }
        other => Err(NodeError::invalid_parameter(
            "operation",
            format!("`{other}` is not read, get, count or aggregate"),
        )),
    }
}

/// The SQL of the field a parameter (`field`, `groupBy`) names.
fn named_field(
    value: &Value,
    parameter: &str,
    fields: &dyn filter::Fields,
    params: &mut Vec<Sql>,
) -> Result<String, NodeError> {
    let field = value
        .as_str()
        .filter(|f| filter::valid_field(f))
        .ok_or_else(|| NodeError::invalid_parameter(parameter, "expected a field name"))?;
    fields
        .sql(field, params)
        .map_err(|m| NodeError::invalid_parameter(parameter, m))
}

/// An SQL result as a JSON value.
fn sql_value(value: Sql) -> Value {
    match value {
        Sql::Integer(i) => json!(i),
        Sql::Real(f) => plugin_abi::sdk::value::number(f).unwrap_or(Value::Null),
        Sql::Text(t) => json!(t),
        _ => Value::Null,
    }
}

/// The plan SQLite chooses for a read (`EXPLAIN QUERY PLAN`, one line a
/// step): `request` is what `dbal-read` would get. For tests and
/// operators checking that a filter or sort uses an index.
///
/// # Errors
///
/// As the read itself.
pub fn query_plan(request: &NodeRequest) -> Result<Vec<String>, NodeError> {
    let tenant = tenant(request)?;
    let entity = request.str_param("entity")?.to_owned();
    let path = store::database_path(request)?;
    let declared = declared::lookup(request, &entity)?;
    store::with_connection(&path, |conn| {
        let target = Target::open(conn, &path, &entity, declared.as_ref())?;
        let (_, statement, params) = read_statement(&target, &tenant, request)?;
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
            .map_err(sql)?;
        let steps = stmt
            .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?;
        Ok(steps)
    })
}

/// The document stored for `data`: without the columns, which the store
/// owns (the tenant especially: it always comes from the context).
fn document(data: &Map<String, Value>) -> String {
    let mut doc = data.clone();
    for column in ["id", "tenantId", "createdAt", "updatedAt"] {
        doc.shift_remove(column);
    }
    Value::Object(doc).to_string()
}

/// A new record id: 32 hex digits, milliseconds first, so records created
/// together sit together in the primary-key index.
fn new_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    format!(
        "{:012x}{:04x}{:016x}",
        millis & 0xffff_ffff_ffff,
        fastrand::u16(..),
        fastrand::u64(..)
    )
}

pub(crate) fn write(request: &NodeRequest) -> NodeResult {
    let tenant = tenant(request)?;
    let entity = request.str_param("entity")?.to_owned();
    let path = store::database_path(request)?;
    let operation = request
        .param("operation")
        .and_then(Value::as_str)
        .unwrap_or("create")
        .to_owned();
    // One write per node of an execution: run again (a resumed execution,
    // a retried attempt that had committed), it answers what it answered
    // the first time instead of writing twice.
    let idempotency_key = (request.context.resumable && !request.context.execution_id.is_empty())
        .then(|| format!("{}/{}", request.context.execution_id, request.node_id));
    let declared = declared::lookup(request, &entity)?;
    if let Some(pool) = postgres::backend(request)? {
        return postgres::write(&pool, request, declared.as_ref());
    }
    store::with_connection(&path, |conn| {
        let target = Target::open(conn, &path, &entity, declared.as_ref())?;
        let table = target.table.clone();
        conn.execute_batch(IDEMPOTENCY_TABLE).map_err(sql)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        if let Some(key) = &idempotency_key {
            let done: Option<String> = tx
                .query_row(
                    "SELECT output FROM _plugflow_idempotency WHERE tenantId = ?1 AND key = ?2",
                    rusqlite::params![tenant, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            if let Some(done) = done {
                let output = serde_json::from_str(&done).unwrap_or(Value::Null);
                return Ok(NodeOutput::new(output));
            }
        }
        let output = match (operation.as_str(), target.declared) {
            ("create", Some(schema)) => {
                let owner = match target.access("create", &request.context.user) {
                    Access::All => None,
                    Access::Owned { field, user_id } => Some((field, user_id)),
                    Access::Nothing => return Err(denied(&entity, "create")),
                };
                let records = records_param(request)?;
                let created = bulk_create::create(&tx, schema, &table, &tenant, &records, owner)?;
                create_output(request, created)?
            }
            ("update", Some(schema)) => {
                let data = update_data(request)?;
                let (where_sql, params) = targeted_where("update", &tenant, request, &target)?;
                let count = declared::update(&tx, schema, &table, data, &where_sql, params)?;
                json!({"count": count})
            }
            ("upsert", Some(schema)) => {
                let data = request.required_param("data")?.as_object().ok_or_else(|| {
                    NodeError::invalid_parameter("data", "upsert takes an object")
                })?;
                let id = upsert_id(request, data)?;
                let user = &request.context.user;
                if target.access("create", user) != Access::All
                    || target.access("update", user) != Access::All
                {
                    return Err(denied(
                        &entity,
                        "upsert (it needs full create and update access; use create and update)",
                    ));
                }
                let stored = upsert::upsert(&tx, schema, &table, &tenant, &id, data)?;
                let mut output = stored.as_object().cloned().unwrap_or_default();
                output.insert("record".into(), stored);
                Value::Object(output)
            }
            ("create", None) => {
                let records = records_param(request)?;
                let mut created = Vec::with_capacity(records.len());
                // Parsed once for all the records.
                let mut insert = tx
                    .prepare_cached(&format!("INSERT INTO \"{table}\" (id, tenantId, data, createdAt, updatedAt) VALUES (?1, ?2, ?3, {NOW}, {NOW}) RETURNING createdAt, updatedAt"))
                    .map_err(sql)?;
                for data in records {
                    let id = data.get("id").and_then(id_of).unwrap_or_else(new_id);
                    let row = insert
                        .query_row(rusqlite::params![id, tenant, document(data)], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                        })
                        .map_err(|e| match e.sqlite_error_code() {
                            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                                NodeError::invalid_parameter(
                                    "data",
                                    format!("a record with id `{id}` already exists"),
                                )
                            }
                            _ => sql(e),
                        })?;
                    created.push(record(id, tenant.clone(), &document(data), row.0, row.1));
                }
                create_output(request, created)?
            }
            ("update", None) => {
                let data = update_data(request)?;
                let (where_sql, mut params) = targeted_where("update", &tenant, request, &target)?;
                params.push(Sql::Text(document(data)));
                let patch = params.len();
                let count = tx
                    .execute(&format!("UPDATE \"{table}\" SET data = json_patch(data, ?{patch}), updatedAt = {NOW} {where_sql}"), params_from_iter(params.iter()))
                    .map_err(sql)?;
                json!({"count": count})
            }
            ("delete", _) => {
                let (where_sql, params) = targeted_where("delete", &tenant, request, &target)?;
                let count = tx
                    .execute(
                        &format!("DELETE FROM \"{table}\" {where_sql}"),
                        params_from_iter(params.iter()),
                    )
                    .map_err(sql)?;
                json!({"count": count})
            }
            ("upsert", None) => {
                let data = request.required_param("data")?.as_object().ok_or_else(|| {
                    NodeError::invalid_parameter("data", "upsert takes an object")
                })?;
                let id = upsert_id(request, data)?;
                let (doc, created, updated): (String, String, String) = tx
                    .query_row(
                        &format!(
                            "INSERT INTO \"{table}\" (id, tenantId, data, createdAt, updatedAt) VALUES (?1, ?2, ?3, {NOW}, {NOW})
                             ON CONFLICT (tenantId, id) DO UPDATE SET data = json_patch(data, excluded.data), updatedAt = {NOW}
                             RETURNING data, createdAt, updatedAt"
                        ),
                        rusqlite::params![id, tenant, document(data)],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(sql)?;
                let stored = record(id, tenant.clone(), &doc, created, updated);
                let mut output = stored.as_object().cloned().unwrap_or_default();
                output.insert("record".into(), stored);
                Value::Object(output)
            }
            (other, _) => {
                return Err(NodeError::invalid_parameter(
                    "operation",
                    format!("`{other}` is not create, update, delete or upsert"),
                ))
            }
        };
        if let Some(key) = &idempotency_key {
            tx.execute(
                "INSERT INTO _plugflow_idempotency (tenantId, key, output) VALUES (?1, ?2, ?3)",
                rusqlite::params![tenant, key, output.to_string()],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(NodeOutput::new(output))
    })
}

/// `data` of a create: one record or a list of records.
fn records_param(request: &NodeRequest) -> Result<Vec<&Map<String, Value>>, NodeError> {
    match request.required_param("data")? {
        Value::Object(o) => Ok(vec![o]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object().ok_or_else(|| {
                    NodeError::invalid_parameter(
                        &format!("data/{i}"),
                        format!("expected an object, got {}", kind(v)),
                    )
                })
            })
            .collect(),
        other => Err(NodeError::invalid_parameter(
            "data",
            format!("expected an object or a list, got {}", kind(other)),
        )),
    }
}

/// A create's answer: `{records, count}`, and for a single record its
/// fields (with its id) at the top level too, as MetaBuilder's workflows
/// read it (`$steps.x.output.id`).
fn create_output(request: &NodeRequest, created: Vec<Value>) -> Result<Value, NodeError> {
    let single = request.required_param("data")?.is_object();
    Ok(created_answer(single, created))
}

/// A create's answer on either store: `{records, count}`, and for a
/// single record (`data` an object) its fields at the top level too.
fn created_answer(single: bool, created: Vec<Value>) -> Value {
    let count = created.len();
    let mut output = match (single, created.first()) {
        (true, Some(Value::Object(record))) => record.clone(),
        _ => Map::new(),
    };
    output.insert("records".into(), Value::Array(created));
    output.insert("count".into(), json!(count));
    Value::Object(output)
}

/// The id an upsert writes: `id`, else `data.id`.
fn upsert_id(request: &NodeRequest, data: &Map<String, Value>) -> Result<String, NodeError> {
    request
        .param("id")
        .and_then(id_of)
        .or_else(|| data.get("id").and_then(id_of))
        .ok_or_else(|| {
            NodeError::invalid_parameter("id", "upsert needs an id (in `id` or `data.id`)")
        })
}

/// What each execution's writes answered, by `<execution id>/<node id>`.
const IDEMPOTENCY_TABLE: &str = "CREATE TABLE IF NOT EXISTS _plugflow_idempotency (
    tenantId TEXT NOT NULL,
    key TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (tenantId, key)
)";
