//! `dbal-read` on PostgreSQL: read, get, count, aggregate.

use plugflow_pg::postgres::Row;
use plugflow_pg::Pool;
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest};
use serde_json::{json, Map, Value};

use super::filter::{compile, Field};
use super::{database, refs, tables, Param};
use crate::{id_of, int_param, sort_keys, NodeResult, DEFAULT_LIMIT, MAX_LIMIT};

/// `WHERE "tenantId" = $1 AND (<filter>) [AND id = $n]` with its
/// parameters: the tenant predicate stays, whatever the filter (and the
/// row-level policy holds besides).
pub(crate) fn scoped_where(
    tenant: &str,
    request: &NodeRequest,
) -> Result<(String, Vec<Param>), NodeError> {
    let mut params = vec![Param::Text(tenant.to_owned())];
    let filter_sql = match request.param("filter") {
        Some(f) => compile(f, &mut params)
            .map_err(|e| NodeError::invalid_parameter(&e.path.replace('.', "/"), e.message))?,
        None => "TRUE".to_owned(),
    };
    let id_sql = match request.param("id").map(id_of) {
        Some(Some(id)) => {
            params.push(Param::Text(id));
            format!(" AND id = ${}::text", params.len())
        }
        Some(None) => {
            return Err(NodeError::invalid_parameter(
                "id",
                "expected a non-empty string or a number",
            ))
        }
        None => String::new(),
    };
    Ok((
        format!("WHERE \"tenantId\" = $1::text AND {filter_sql}{id_sql}"),
        params,
    ))
}

/// The field a parameter (`field`, `groupBy`) names.
fn named_field(
    request: &NodeRequest,
    parameter: &str,
    params: &mut Vec<Param>,
) -> Result<Option<Field>, NodeError> {
    let Some(value) = request.param(parameter) else {
        return Ok(None);
    };
    let field = value
        .as_str()
        .filter(|f| crate::filter::valid_field(f))
        .ok_or_else(|| NodeError::invalid_parameter(parameter, "expected a field name"))?;
    Ok(Some(Field::of(field, params)))
}

fn order_by(request: &NodeRequest, params: &mut Vec<Param>) -> Result<String, NodeError> {
    let Some(sort) = request.param("sort") else {
        return Ok(" ORDER BY \"createdAt\", id".to_owned());
    };
    let mut keys = Vec::new();
    for (i, (field, descending)) in sort_keys(sort)?.into_iter().enumerate() {
        if !crate::filter::valid_field(&field) {
            return Err(NodeError::invalid_parameter(
                &format!("sort/{i}"),
                format!("field name `{field}` is not allowed"),
            ));
        }
        let column = Field::of(&field, params);
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
    tenant: &str,
    request: &NodeRequest,
) -> Result<(Query, String, Vec<Param>), NodeError> {
    let (where_sql, mut params) = scoped_where(tenant, request)?;
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
            let order = order_by(request, &mut params)?;
            let limit = if single {
                1
            } else {
                int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)?
            };
            let offset = int_param(request, "offset", 0, i64::MAX)?;
            Ok((
                Query::Rows { single },
                format!("SELECT id, \"tenantId\", data, \"createdAt\", \"updatedAt\" FROM \"{table}\" {where_sql}{order} LIMIT {limit} OFFSET {offset}"),
                params,
            ))
        }
        "count" => Ok((
            Query::Count,
            format!("SELECT count(*) FROM \"{table}\" {where_sql}"),
            params,
        )),
        "aggregate" => {
            let function = request
                .param("function")
                .and_then(Value::as_str)
                .unwrap_or("count");
            if !matches!(function, "count" | "sum" | "avg" | "min" | "max") {
                return Err(NodeError::invalid_parameter(
                    "function",
                    format!("`{function}` is not count, sum, avg, min or max"),
                ));
            }
            let target = match named_field(request, "field", &mut params)? {
                Some(field) if function == "count" => format!("count({})", field.sql()),
                Some(field) => format!("{function}({})", field.numeric()),
                None if function == "count" => "count(*)".to_owned(),
                None => {
                    return Err(NodeError::invalid_parameter(
                        "field",
                        format!("{function} needs a field"),
                    ))
                }
            };
            match named_field(request, "groupBy", &mut params)? {
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

/// `dbal-read` (other than `validate`) against `pool`.
pub(crate) fn read(pool: &Pool, request: &NodeRequest) -> NodeResult {
    let tenant = crate::tenant(request)?;
    let entity = request.str_param("entity")?;
    let table = tables::table_name(entity)?;
    let (query, sql, params) = statement(&table, &tenant, request)?;
    tables::ensure(pool, &table)?;
    let output = pool
        .run(move |client| {
            let mut tx = client.transaction()?;
            tables::enter(&mut tx, &tenant)?;
            let rows = tx.query(&sql, &refs(&params))?;
            let output = match query {
                Query::Rows { single } => {
                    let records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
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
