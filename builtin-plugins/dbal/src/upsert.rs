//! `upsert` of a declared entity: the record with the given id updated
//! when it exists, created otherwise, then read back.

use plugin_abi::sdk::NodeError;
use rusqlite::types::Value as Sql;
use rusqlite::Transaction;
use serde_json::{Map, Value};

use crate::bulk_create::create;
use crate::declared::{record, select_list, update};
use crate::entity::Entity;
use crate::store::sql;

/// `upsert`: the record created, or its given fields set when it exists.
/// Returns the stored record.
///
/// # Errors
///
/// As [`create`] and [`update`].
pub fn upsert(
    tx: &Transaction<'_>,
    entity: &Entity,
    table: &str,
    tenant: &str,
    id: &str,
    data: &Map<String, Value>,
) -> Result<Value, NodeError> {
    let exists: bool = tx
        .query_row(
            &format!("SELECT COUNT(*) FROM \"{table}\" WHERE \"tenantId\" = ?1 AND \"id\" = ?2"),
            rusqlite::params![tenant, id],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql)?
        > 0;
    if exists {
        update(
            tx,
            entity,
            table,
            data,
            "WHERE \"tenantId\" = ?1 AND \"id\" = ?2",
            vec![Sql::Text(tenant.to_owned()), Sql::Text(id.to_owned())],
        )?;
    } else {
        let mut record = data.clone();
        record.insert("id".into(), Value::String(id.to_owned()));
        create(tx, entity, table, tenant, &[&record], None)?;
    }
    tx.query_row(
        &format!(
            "SELECT {} FROM \"{table}\" WHERE \"tenantId\" = ?1 AND \"id\" = ?2",
            select_list(entity)
        ),
        rusqlite::params![tenant, id],
        |row| record(entity, row),
    )
    .map_err(sql)
}
