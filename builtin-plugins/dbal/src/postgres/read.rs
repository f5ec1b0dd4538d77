//! `dbal-read` on PostgreSQL: read, get, count, aggregate.

use plugflow_pg::postgres::Row;
use plugflow_pg::Pool;
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest};

use super::Declared;
use serde_json::{json, Map, Value};

use super::filter::{compile, Field, Shape};
use super::{database, refs, Param};
use crate::acl::Access;
use crate::{int_param, sort_keys, NodeResult, DEFAULT_LIMIT, MAX_LIMIT};

/// `WHERE "tenantId" = $1 AND (<filter>) [AND id = $n]` with its
/// parameters: the tenant predicate stays, whatever the filter (and the
/// row-level policy holds besides).
pub(crate) fn scoped_where(
    tenant: &str,
    request: &NodeRequest,
    shape: Shape<'_>,
) -> Result<(String, Vec<Param>), NodeError> {
    let mut params = vec![Param::Text(tenant.to_owned())];
    let filter_sql = match request.param("filter") {
        Some(f) => compile(f, &mut params, shape)
            .map_err(|e| NodeError::invalid_parameter(&e.path.replace('.', "/"), e.message))?,
        None => "TRUE".to_owned(),
    };
    let id_sql = match crate::id_param(request)? {
        Some(id) => {
            params.push(Param::Text(id));
            format!(" AND id = ${}::text", params.len())
        }
        None => String::new(),
    };
    Ok((
        format!("WHERE \"tenantId\" = $1::text AND {filter_sql}{id_sql}"),
        params,
    ))
}

/// Narrows a scoped `WHERE` to what `access` allows: the user's own
/// records, or none.
pub(crate) fn restrict(where_sql: &mut String, params: &mut Vec<Param>, access: &Access) {
    match access {
        Access::All => {}
        Access::Owned { field, user_id } => {
            params.push(Param::Text(user_id.clone()));
            where_sql.push_str(&format!(" AND \"{field}\" = ${}::text", params.len()));
        }
        Access::Nothing => where_sql.push_str(" AND FALSE"),
    }
}

/// What the execution's user may do with `operation` on `shape`:
/// everything on documents, what the schema's `acl` says on a declared
/// entity.
pub(crate) fn access(shape: Shape<'_>, operation: &str, request: &NodeRequest) -> Access {
    match shape {
        Shape::Documents => Access::All,
        Shape::Declared(entity) => crate::acl::access(entity, operation, &request.context.user),
    }
}

/// The field a parameter (`field`, `groupBy`) names.
fn named_field(
    request: &NodeRequest,
    parameter: &str,
    params: &mut Vec<Param>,
    shape: Shape<'_>,
) -> Result<Option<Field>, NodeError> {
    let Some(value) = request.param(parameter) else {
        return Ok(None);
    };
    let field = value
        .as_str()
        .filter(|f| crate::filter::valid_field(f))
        .ok_or_else(|| NodeError::invalid_parameter(parameter, "expected a field name"))?;
    shape
        .field(field, params)
        .map(Some)
        .map_err(|m| NodeError::invalid_parameter(parameter, m))
}

fn order_by(
    request: &NodeRequest,
    params: &mut Vec<Param>,
    shape: Shape<'_>,
) -> Result<String, NodeError> {
    let Some(sort) = request.param("sort") else {
        return Ok(match shape {
            Shape::Documents => " ORDER BY \"createdAt\", id".to_owned(),
            // Insertion order, as SQLite's rowid.
            Shape::Declared(_) => " ORDER BY \"_seq\"".to_owned(),
        });
    };
    let mut keys = Vec::new();
    for (i, (field, descending)) in sort_keys(sort)?.into_iter().enumerate() {
        if !crate::filter::valid_field(&field) {
            return Err(NodeError::invalid_parameter(
                &format!("sort/{i}"),
                format!("field name `{field}` is not allowed"),
            ));
        }
        let column = shape
            .field(&field, params)
            .map_err(|m| NodeError::invalid_parameter(&format!("sort/{i}"), m))?;
        // NULLs where SQLite puts them: first ascending, last descending.
        keys.push(format!(
            "{} {}",
            column.sql(),
            if descending {
                "DESC NULLS LAST"
            } else {
                "ASC NULLS FIRST"
            }
        ));
    }
    keys.push("id".into());
    Ok(format!(" ORDER BY {}", keys.join(", ")))
}

/// The columns a read of `shape` selects.
pub(crate) fn select_list(shape: Shape<'_>) -> String {
    match shape {
        Shape::Documents => "id, \"tenantId\", data, \"createdAt\", \"updatedAt\"".to_owned(),
        Shape::Declared(entity) => super::declared::select_list(entity),
    }
}

/// A row of [`select_list`] as a record.
pub(crate) fn shaped_record(
    shape: Shape<'_>,
    row: &Row,
) -> Result<Value, plugflow_pg::postgres::Error> {
    match shape {
        Shape::Documents => record(row),
        Shape::Declared(entity) => super::declared::record(entity, row),
    }
}

/// A stored row (`id, "tenantId", data, "createdAt", "updatedAt"`) as a
/// record: the document plus its columns.
pub(crate) fn record(row: &Row) -> Result<Value, plugflow_pg::postgres::Error> {
    let mut object = match row.try_get::<_, Value>(2)? {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    object.insert("id".into(), Value::String(row.try_get(0)?));
    object.insert("tenantId".into(), Value::String(row.try_get(1)?));
    object.insert("createdAt".into(), Value::String(row.try_get(3)?));
    object.insert("updatedAt".into(), Value::String(row.try_get(4)?));
    Ok(Value::Object(object))
}

/// A numeric or text result read as text, as a JSON value.
fn scalar(text: Option<String>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => match serde_json::from_str::<Value>(&t) {
            Ok(n @ Value::Number(_)) => n,
            _ => Value::String(t),
        },
    }
}

enum Query {
    Rows { single: bool },
    Count,
    Aggregate { grouped: bool },
}

fn statement(
    table: &str,
    shape: Shape<'_>,
    tenant: &str,
    request: &NodeRequest,
) -> Result<(Query, String, Vec<Param>), NodeError> {
    let (mut where_sql, mut params) = scoped_where(tenant, request, shape)?;
    // A user who may not read a record never sees it: not in a read, a
    // get, a count or an aggregate.
    restrict(&mut where_sql, &mut params, &access(shape, "read", request));
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
            let order = order_by(request, &mut params, shape)?;
            let limit = if single {
                1
            } else {
                int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)?
            };
            let offset = int_param(request, "offset", 0, i64::MAX)?;
            Ok((
                Query::Rows { single },
                format!(
                    "SELECT {} FROM \"{table}\" {where_sql}{order} LIMIT {limit} OFFSET {offset}",
                    select_list(shape)
                ),
                params,
            ))
        }
        "count" => Ok((
            Query::Count,
            format!("SELECT count(*) FROM \"{table}\" {where_sql}"),
            params,
        )),
        "aggregate" => {
            let function = crate::aggregate_function(request)?;
            let target = match named_field(request, "field", &mut params, shape)? {
                Some(field) if function == "count" => format!("count({})", field.sql()),
                Some(field) if matches!(function, "min" | "max") => {
                    format!("{function}({})", field.ordered())
                }
                Some(field) => format!("{function}({})", field.numeric()),
                None if function == "count" => "count(*)".to_owned(),
                None => {
                    return Err(NodeError::invalid_parameter(
                        "field",
                        format!("{function} needs a field"),
                    ))
                }
            };
            match named_field(request, "groupBy", &mut params, shape)? {
                None => Ok((
                    Query::Aggregate { grouped: false },
                    format!("SELECT ({target})::text FROM \"{table}\" {where_sql}"),
                    params,
                )),
                Some(key) => Ok((
                    Query::Aggregate { grouped: true },
                    format!(
                        "SELECT to_jsonb({}), ({target})::text FROM \"{table}\" {where_sql} GROUP BY 1 ORDER BY 1 NULLS FIRST",
                        key.sql()
                    ),
                    params,
                )),
            }
        }
        other => Err(NodeError::invalid_parameter(
            "operation",
            format!("`{other}` is not read, get, count or aggregate"),
        )),
    }
}

/// `dbal-read` (other than `validate`) against `pool`, of a documents
/// entity or the declared `schema`.
pub(crate) fn read(pool: &Pool, request: &NodeRequest, declared: Option<&Declared>) -> NodeResult {
    let tenant = crate::tenant(request)?;
    let (table, shape) = super::open(pool, request, declared)?;
    let (query, sql, params) = statement(&table, shape, &tenant, request)?;
    let declared = declared.cloned();
    let output = pool
        .run(move |client| {
            let mut tx = client.transaction()?;
            super::tables::enter(&mut tx, &tenant)?;
            let rows = tx.query(&sql, &refs(&params))?;
            let shape = super::shape(declared.as_ref());
            let output = match query {
                Query::Rows { single } => {
                    let records = rows
                        .iter()
                        .map(|row| shaped_record(shape, row))
                        .collect::<Result<Vec<_>, _>>()?;
                    if single {
                        json!({"record": records.into_iter().next()})
                    } else {
                        let count = records.len();
                        json!({"records": records, "count": count})
                    }
                }
                Query::Count => json!({"count": rows.first().map_or(0, |r| r.get::<_, i64>(0))}),
                Query::Aggregate { grouped: false } => {
                    json!({"value": scalar(rows.first().and_then(|r| r.get(0)))})
                }
                Query::Aggregate { grouped: true } => {
                    let groups: Vec<Value> = rows
                        .iter()
                        .map(|r| {
                            let key: Option<Value> = r.get(0);
                            json!({"key": key.unwrap_or(Value::Null), "value": scalar(r.get(1))})
                        })
                        .collect();
                    json!({"groups": groups})
                }
            };
            tx.commit()?;
            Ok(output)
        })
        .map_err(database)?;
    Ok(NodeOutput::new(output))
}
