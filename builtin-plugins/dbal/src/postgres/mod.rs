//! The dbal on PostgreSQL (`[database] url`): undeclared entities as
//! `jsonb` documents, one table per entity, with the same node semantics
//! as on SQLite, and a fifth layer of tenant isolation: row-level
//! security.
//!
//! Every call runs in one transaction that first sets the tenant with
//! `set_config('plugflow.tenant', …, true)` (that is, `SET LOCAL`) and
//! switches to the role `plugflow_dbal` (`SET LOCAL ROLE`), which owns no
//! table and has no `BYPASSRLS`. Each table's policy admits only rows whose
//! `tenantId` is that setting, for reads and writes alike, and is forced
//! on the owner too — so even a statement the SQL builder got wrong cannot
//! read or change another tenant's rows.
//!
//! Entities declared by schemas get typed columns with their constraints
//! and tenant-leading indexes, checked on write as on SQLite.
//!
//! Differences from SQLite, by design of `jsonb`: key order of stored
//! documents is PostgreSQL's; `$gt`/`$gte`/`$lt`/`$lte` compare values of
//! the same JSON type only; `$like` is case-insensitive (as SQLite's is
//! for ASCII); `sum`/`avg`/`min`/`max` of a document field consider its
//! numeric values.

mod declared;
mod filter;
mod read;
mod tables;
mod write;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use plugflow_pg::{Pool, PoolConfig};
use plugin_abi::sdk::{NodeError, NodeRequest};
use serde_json::Value;

pub(crate) use read::read;
pub(crate) use write::write;

/// The pool for the host's `databaseUrl`, when it names one (opened, and
/// the dbal's migrations applied, on first use).
pub(crate) fn backend(request: &NodeRequest) -> Result<Option<Pool>, NodeError> {
    let Some(url) = request.config.get("databaseUrl") else {
        return Ok(None);
    };
    let url = url
        .as_str()
        .ok_or_else(|| NodeError::execution("host configuration `databaseUrl` must be a string"))?;
    static POOLS: OnceLock<Mutex<HashMap<String, Pool>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(url) {
        return Ok(Some(pool.clone()));
    }
    let mut config = PoolConfig::new(url);
    config.application_name = "plugflow-dbal".to_owned();
    let pool = Pool::start(config).map_err(|e| NodeError::execution(e.to_string()))?;
    plugflow_pg::migrate(&pool, "dbal", tables::MIGRATIONS).map_err(database)?;
    pools.insert(url.to_owned(), pool.clone());
    Ok(Some(pool))
}

/// A declared entity: its catalog and name (cheap to clone into a call).
pub(crate) type Declared = (std::sync::Arc<crate::entity::Catalog>, String);

fn schema_of(declared: Option<&Declared>) -> Option<&crate::entity::Entity> {
    declared.and_then(|(catalog, name)| catalog.get(name))
}

/// How `declared` (or, without one, a documents entity) is stored.
pub(crate) fn shape(declared: Option<&Declared>) -> filter::Shape<'_> {
    schema_of(declared).map_or(filter::Shape::Documents, filter::Shape::Declared)
}

/// The table of the request's entity and how it is stored: the declared
/// `schema`'s typed table, or the entity's documents table (created or
/// migrated on first use).
pub(crate) fn open<'a>(
    pool: &Pool,
    request: &NodeRequest,
    declared: Option<&'a Declared>,
) -> Result<(String, filter::Shape<'a>), NodeError> {
    match schema_of(declared) {
        Some(entity) => Ok((
            declared::ensure(pool, entity)?,
            filter::Shape::Declared(entity),
        )),
        None => {
            let table = tables::table_name(request.str_param("entity")?)?;
            tables::ensure(pool, &table)?;
            Ok((table, filter::Shape::Documents))
        }
    }
}

/// A database error as the node's error: retryable when the database
/// could not be reached.
pub(crate) fn database(e: plugflow_pg::PgError) -> NodeError {
    let error = NodeError::execution(format!("database error: {e}"));
    if e.kind() == plugflow_pg::PgErrorKind::Connection {
        error.retryable()
    } else {
        error
    }
}

/// A bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Json(Value),
    Path(Vec<String>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl plugflow_pg::postgres::types::ToSql for Param {
    fn to_sql(
        &self,
        ty: &plugflow_pg::postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<plugflow_pg::postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Param::Text(text) => text.to_sql(ty, out),
            Param::Json(value) => value.to_sql(ty, out),
            Param::Path(path) => path.to_sql(ty, out),
            Param::Int(n) => n.to_sql(ty, out),
            Param::Float(f) => f.to_sql(ty, out),
            Param::Bool(b) => b.to_sql(ty, out),
            Param::Null => Ok(plugflow_pg::postgres::types::IsNull::Yes),
        }
    }

    fn accepts(_: &plugflow_pg::postgres::types::Type) -> bool {
        // Every placeholder is cast in the SQL (`::text`, `::jsonb`,
        // `::text[]`, `::bigint`, …) to the type its variant writes.
        true
    }

    plugflow_pg::postgres::types::to_sql_checked!();
}

/// `params` as the client takes them.
pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn plugflow_pg::postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn plugflow_pg::postgres::types::ToSql + Sync))
        .collect()
}
