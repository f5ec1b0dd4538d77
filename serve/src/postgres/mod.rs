//! The execution store and queue on PostgreSQL: many `plugflow serve` and
//! `plugflow worker` processes share one database.

mod queue;
mod schema;
mod store;

use std::sync::Arc;
use std::time::Duration;

use plugflow_pg::{Pool, PoolConfig};

pub use store::PgStore;

/// How the PostgreSQL backend connects and leases.
#[derive(Debug, Clone)]
pub(crate) struct PgSettings {
    pub(crate) url: String,
    pub(crate) pool_size: usize,
    pub(crate) statement_timeout: Duration,
    pub(crate) lease: Duration,
}

/// Connects, applies the migrations, and returns the store (which is also
/// the queue) for a worker with a fresh id.
pub(crate) fn open(settings: &PgSettings) -> Result<Arc<PgStore>, crate::StoreError> {
    let mut config = PoolConfig::new(settings.url.clone());
    config.size = settings.pool_size.max(2);
    config.statement_timeout = settings.statement_timeout;
    config.application_name = "plugflow-serve".to_owned();
    let pool = Pool::open(config).map_err(|e| crate::StoreError::Failed(e.to_string()))?;
    plugflow_pg::migrate(&pool, "executions", schema::MIGRATIONS)
        .map_err(|e| crate::StoreError::Failed(e.to_string()))?;
    Ok(Arc::new(PgStore::new(pool, settings.lease)))
}
