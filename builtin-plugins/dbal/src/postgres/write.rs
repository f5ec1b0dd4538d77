//! `dbal-write` on PostgreSQL: create, update, delete, upsert — one
//! transaction per node, at most once per node of a resumable execution.

use plugflow_pg::postgres::Transaction;
use plugflow_pg::Pool;
use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest};
use serde_json::{json, Map, Value};

use super::filter::Shape;
use super::read::{access, record, restrict, scoped_where};
use super::tables::{self, NOW};
use super::{database, refs, Declared, Param};
use crate::acl::Access;
use crate::{
    created_answer, denied, id_of, new_id, records_param, update_data, upsert_id, NodeResult,
};

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
    /// Records of a declared entity, checked, with their ids.
    CreateTyped {
        rows: Vec<crate::declared::CheckedRecord>,
        single: bool,
    },
    /// Checked fields set on the matching rows of a declared entity.
    UpdateTyped {
        where_sql: String,
        params: Vec<Param>,
        fields: Map<String, Value>,
    },
    /// A declared entity's record created, or its given fields set.
    UpsertTyped {
        id: String,
        data: Map<String, Value>,
    },
}

fn plan(
    request: &NodeRequest,
    tenant: &str,
    operation: &str,
    shape: Shape<'_>,
) -> Result<Plan, NodeError> {
    let entity_name = request.str_param("entity").unwrap_or_default();
    // An update or delete needs an id or a filter, and touches only what
    // the execution's user may.
    let targeted = |operation: &str| {
        if request.param("id").is_none() && request.param("filter").is_none() {
            return Err(NodeError::invalid_parameter(
                "id",
                format!("{operation} needs an id or a filter"),
            ));
        }
        let (mut where_sql, mut params) = scoped_where(tenant, request, shape)?;
        match access(shape, operation, request) {
            Access::Nothing => return Err(denied(entity_name, operation)),
            allowed => restrict(&mut where_sql, &mut params, &allowed),
        }
        Ok((where_sql, params))
    };
    if let Shape::Declared(entity) = shape {
        match operation {
            "create" => {
                let owner = match access(shape, "create", request) {
                    Access::All => None,
                    Access::Owned { field, user_id } => Some((field, user_id)),
                    Access::Nothing => return Err(denied(entity_name, "create")),
                };
                let records = records_param(request)?;
                return Ok(Plan::CreateTyped {
                    rows: crate::declared::checked_records(
                        entity,
                        tenant,
                        &records,
                        owner.as_ref(),
                    )?,
                    single: request.param("data").is_some_and(Value::is_object),
                });
            }
            "update" => {
                let fields = crate::declared::checked_patch(entity, update_data(request)?)?;
                let (where_sql, params) = targeted("update")?;
                return Ok(Plan::UpdateTyped {
                    where_sql,
                    params,
                    fields,
                });
            }
            "upsert" => {
                let data = request.required_param("data")?.as_object().ok_or_else(|| {
                    NodeError::invalid_parameter("data", "upsert takes an object")
                })?;
                if access(shape, "create", request) != Access::All
                    || access(shape, "update", request) != Access::All
                {
                    return Err(denied(
                        entity_name,
                        "upsert (it needs full create and update access; use create and update)",
                    ));
                }
                return Ok(Plan::UpsertTyped {
                    id: upsert_id(request, data)?,
                    data: data.clone(),
                });
            }
            _ => {}
        }
    }
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
    shape: Shape<'_>,
) -> Result<Result<Value, NodeError>, plugflow_pg::postgres::Error> {
    if let Shape::Declared(entity) = shape {
        if let Some(done) = apply_typed(tx, entity, table, tenant, plan)? {
            return Ok(done);
        }
    }
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
                    let created: Vec<Value> =
                        ids.iter().filter_map(|id| by_id.remove(id)).collect();
                    Ok(Ok(created_answer(*single, created)))
                }
                Err(e)
                    if e.code()
                        == Some(&plugflow_pg::postgres::error::SqlState::UNIQUE_VIOLATION) =>
                {
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
        Plan::CreateTyped { .. } | Plan::UpdateTyped { .. } | Plan::UpsertTyped { .. } => Ok(Err(
            NodeError::execution("a declared entity's write reached the documents store"),
        )),
    }
}

/// The writes of a declared entity (`None`: a write both shapes share).
fn apply_typed(
    tx: &mut Transaction<'_>,
    entity: &crate::entity::Entity,
    table: &str,
    tenant: &str,
    plan: &Plan,
) -> Result<Option<Result<Value, NodeError>>, plugflow_pg::postgres::Error> {
    use super::declared;
    match plan {
        Plan::CreateTyped { rows, single } => {
            let mut created = Vec::with_capacity(rows.len());
            let mut statement = None;
            for (i, row) in rows.iter().enumerate() {
                let (sql, params) =
                    declared::insert(entity, table, tenant, row.id(), row.fields(), "");
                let prepared = match &statement {
                    Some(prepared) => prepared,
                    None => statement.insert(tx.prepare(&sql)?),
                };
                if let Err(e) = tx.execute(prepared, &refs(&params)) {
                    return match declared::write_error(entity, i, &e) {
                        Some(refused) => Ok(Some(Err(refused))),
                        None => Err(e),
                    };
                }
                created.push(row.clone().into_stored());
            }
            Ok(Some(Ok(created_answer(*single, created))))
        }
        Plan::UpdateTyped {
            where_sql,
            params,
            fields,
        } => {
            if fields.is_empty() {
                return Ok(Some(Ok(json!({"count": 0}))));
            }
            let mut params = params.clone();
            let sets = declared::sets(entity, fields, &mut params);
            match tx.execute(
                &format!("UPDATE \"{table}\" SET {sets} {where_sql}"),
                &refs(&params),
            ) {
                Ok(count) => Ok(Some(Ok(json!({"count": count})))),
                Err(e) => match declared::write_error(entity, 0, &e) {
                    Some(refused) => Ok(Some(Err(refused))),
                    None => Err(e),
                },
            }
        }
        Plan::UpsertTyped { id, data } => {
            let key = [Param::Text(tenant.to_owned()), Param::Text(id.clone())];
            let exists = tx
                .query_opt(
                    &format!("SELECT 1 FROM \"{table}\" WHERE \"tenantId\" = $1::text AND \"id\" = $2::text"),
                    &refs(&key),
                )?
                .is_some();
            let written = if exists {
                match crate::declared::checked_patch(entity, data) {
                    Err(refused) => return Ok(Some(Err(refused))),
                    Ok(fields) if fields.is_empty() => Ok(0),
                    Ok(fields) => {
                        let mut params = key.to_vec();
                        let sets = declared::sets(entity, &fields, &mut params);
                        tx.execute(
                            &format!("UPDATE \"{table}\" SET {sets} WHERE \"tenantId\" = $1::text AND \"id\" = $2::text"),
                            &refs(&params),
                        )
                    }
                }
            } else {
                let mut record = data.clone();
                record.insert("id".into(), Value::String(id.clone()));
                match crate::declared::checked_records(entity, tenant, &[&record], None) {
                    Err(refused) => return Ok(Some(Err(refused))),
                    Ok(rows) => {
                        let row = &rows[0];
                        let (sql, params) =
                            declared::insert(entity, table, tenant, row.id(), row.fields(), "");
                        tx.execute(&sql, &refs(&params))
                    }
                }
            };
            if let Err(e) = written {
                return match declared::write_error(entity, 0, &e) {
                    Some(refused) => Ok(Some(Err(refused))),
                    None => Err(e),
                };
            }
            let row = tx.query_one(
                &format!(
                    "SELECT {} FROM \"{table}\" WHERE \"tenantId\" = $1::text AND \"id\" = $2::text",
                    declared::select_list(entity)
                ),
                &refs(&key),
            )?;
            let stored = declared::record(entity, &row)?;
            let mut output = stored.as_object().cloned().unwrap_or_default();
            output.insert("record".into(), stored);
            Ok(Some(Ok(Value::Object(output))))
        }
        _ => Ok(None),
    }
}

/// `dbal-write` against `pool`.
pub(crate) fn write(pool: &Pool, request: &NodeRequest, declared: Option<&Declared>) -> NodeResult {
    let tenant = crate::tenant(request)?;
    let operation = request
        .param("operation")
        .and_then(Value::as_str)
        .unwrap_or("create");
    let (table, shape) = super::open(pool, request, declared)?;
    let plan = plan(request, &tenant, operation, shape)?;
    // One write per node of an execution (see the SQLite store).
    let key = (request.context.resumable && !request.context.execution_id.is_empty())
        .then(|| format!("{}/{}", request.context.execution_id, request.node_id));
    let declared = declared.cloned();
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
            let output = match apply(&mut tx, &table, &tenant, &plan, super::shape(declared.as_ref()))? {
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
