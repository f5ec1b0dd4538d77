//! `dbal-write` on PostgreSQL: create, update, delete, upsert — one
//! transaction per node, at most once per node of a resumable execution.

use plugflow_pg::postgres::Transaction;
use plugflow_pg::Pool;
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest};
use serde_json::{json, Map, Value};

use super::read::{record, scoped_where};
use super::tables::{self, NOW};
use super::{database, refs, Param};
use crate::{id_of, new_id, records_param, update_data, upsert_id, NodeResult};

/// The document stored for `data`: without the columns the store owns
/// (the tenant especially: it always comes from the context).
fn document(data: &Map<String, Value>) -> Value {
    let mut doc = data.clone();
    for column in ["id", "tenantId", "createdAt", "updatedAt"] {
        doc.shift_remove(column);
    }
    Value::Object(doc)
}

/// What one write does, decided before the transaction.
enum Plan {
    Create {
        ids: Vec<String>,
        documents: Vec<Value>,
        single: bool,
    },
    Update {
        where_sql: String,
        params: Vec<Param>,
        patch: Value,
    },
    Delete {
        where_sql: String,
        params: Vec<Param>,
    },
    Upsert {
        id: String,
        document: Value,
    },
}

fn plan(request: &NodeRequest, tenant: &str, operation: &str) -> Result<Plan, NodeError> {
    let targeted = |operation: &str| {
        if request.param("id").is_none() && request.param("filter").is_none() {
            return Err(NodeError::invalid_parameter(
                "id",
                format!("{operation} needs an id or a filter"),
            ));
        }
        scoped_where(tenant, request)
    };
    match operation {
        "create" => {
            let records = records_param(request)?;
            let ids = records
                .iter()
                .map(|data| data.get("id").and_then(id_of).unwrap_or_else(new_id))
                .collect();
            Ok(Plan::Create {
                ids,
                documents: records.iter().map(|data| document(data)).collect(),
                single: request.param("data").is_some_and(Value::is_object),
            })
        }
        "update" => {
            let patch = document(update_data(request)?);
            let (where_sql, params) = targeted("update")?;
            Ok(Plan::Update {
                where_sql,
                params,
                patch,
            })
        }
        "delete" => {
            let (where_sql, params) = targeted("delete")?;
            Ok(Plan::Delete { where_sql, params })
        }
        "upsert" => {
            let data = request
                .required_param("data")?
                .as_object()
                .ok_or_else(|| NodeError::invalid_parameter("data", "upsert takes an object"))?;
            Ok(Plan::Upsert {
                id: upsert_id(request, data)?,
                document: document(data),
            })
        }
        other => Err(NodeError::invalid_parameter(
            "operation",
            format!("`{other}` is not create, update, delete or upsert"),
        )),
    }
}

/// Runs `plan` in `tx`: the output, or the node's error (the transaction
/// is then dropped, so nothing of it is written).
fn apply(
    tx: &mut Transaction<'_>,
    table: &str,
    tenant: &str,
    plan: &Plan,
) -> Result<Result<Value, NodeError>, plugflow_pg::postgres::Error> {
    match plan {
        Plan::Create {
            ids,
            documents,
            single,
        } => {
            let inserted = tx.query(
                &format!(
                    "INSERT INTO \"{table}\" (id, \"tenantId\", data, \"createdAt\", \"updatedAt\")
                     SELECT u.id, $1::text, u.data, {NOW}, {NOW}
                     FROM unnest($2::text[], $3::jsonb[]) WITH ORDINALITY AS u(id, data, n)
                     ORDER BY u.n
                     RETURNING id, \"tenantId\", data, \"createdAt\", \"updatedAt\""
                ),
                &[&tenant, ids, documents],
            );
            match inserted {
                Ok(rows) => {
                    let mut by_id: std::collections::HashMap<String, Value> = rows
                        .iter()
                        .map(|row| Ok((row.try_get::<_, String>(0)?, record(row)?)))
                        .collect::<Result<_, plugflow_pg::postgres::Error>>()?;
                    let created: Vec<Value> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
                    // As on SQLite: {records, count}, and a single
                    // record's fields at the top level too.
                    let count = created.len();
                    let mut output = match (single, created.first()) {
                        (true, Some(Value::Object(first))) => first.clone(),
                        _ => Map::new(),
                    };
                    output.insert("records".into(), Value::Array(created));
                    output.insert("count".into(), json!(count));
                    Ok(Ok(Value::Object(output)))
                }
                Err(e) if e.code() == Some(&plugflow_pg::postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    // Which id: the first one the tenant already has, or
                    // that the list repeats (only the tenant's own rows
                    // are visible here).
                    Ok(Err(NodeError::invalid_parameter(
                        "data",
                        "a record with one of these ids already exists (or an id appears twice)",
                    )))
                }
                Err(e) => Err(e),
            }
        }
        Plan::Update {
            where_sql,
            params,
            patch,
        } => {
            let mut params = params.clone();
            params.push(Param::Json(patch.clone()));
            let n = params.len();
            let count = tx.execute(
                &format!("UPDATE \"{table}\" SET data = plugflow_merge_patch(data, ${n}::jsonb), \"updatedAt\" = {NOW} {where_sql}"),
                &refs(&params),
            )?;
            Ok(Ok(json!({"count": count})))
        }
        Plan::Delete { where_sql, params } => {
            let count = tx.execute(
                &format!("DELETE FROM \"{table}\" {where_sql}"),
                &refs(params),
            )?;
            Ok(Ok(json!({"count": count})))
        }
        Plan::Upsert { id, document } => {
            let row = tx.query_one(
                &format!(
                    "INSERT INTO \"{table}\" AS t (id, \"tenantId\", data, \"createdAt\", \"updatedAt\")
                     VALUES ($1::text, $2::text, $3::jsonb, {NOW}, {NOW})
                     ON CONFLICT (\"tenantId\", id) DO UPDATE
                     SET data = plugflow_merge_patch(t.data, excluded.data), \"updatedAt\" = {NOW}
                     RETURNING id, \"tenantId\", data, \"createdAt\", \"updatedAt\""
                ),
                &[id, &tenant, document],
            )?;
            let stored = record(&row)?;
            let mut output = stored.as_object().cloned().unwrap_or_default();
            output.insert("record".into(), stored);
            Ok(Ok(Value::Object(output)))
        }
    }
}

/// `dbal-write` against `pool`.
pub(crate) fn write(pool: &Pool, request: &NodeRequest) -> NodeResult {
    let tenant = crate::tenant(request)?;
    let entity = request.str_param("entity")?;
    let table = tables::table_name(entity)?;
    let operation = request
        .param("operation")
        .and_then(Value::as_str)
        .unwrap_or("create");
    let plan = plan(request, &tenant, operation)?;
    // One write per node of an execution (see the SQLite store).
    let key = (request.context.resumable && !request.context.execution_id.is_empty())
        .then(|| format!("{}/{}", request.context.execution_id, request.node_id));
    tables::ensure(pool, &table)?;
    let outcome = pool
        .run(move |client| {
            let mut tx = client.transaction()?;
            tables::enter(&mut tx, &tenant)?;
            if let Some(key) = &key {
                // Two workers resuming the same node wait for each other.
                tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[key])?;
                if let Some(row) = tx.query_opt(
                    "SELECT output FROM _plugflow_idempotency WHERE \"tenantId\" = $1 AND key = $2",
                    &[&tenant, key],
                )? {
                    return Ok(Ok(row.try_get::<_, Value>(0)?));
                }
            }
            let output = match apply(&mut tx, &table, &tenant, &plan)? {
                Ok(output) => output,
                Err(error) => return Ok(Err(error)),
            };
            if let Some(key) = &key {
                tx.execute(
                    "INSERT INTO _plugflow_idempotency (\"tenantId\", key, output) VALUES ($1, $2, $3::jsonb)",
                    &[&tenant, key, &output],
                )?;
            }
            tx.commit()?;
            Ok(Ok(output))
        })
        .map_err(database)??;
    Ok(NodeOutput::new(outcome))
}
