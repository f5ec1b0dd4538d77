//! Connections, tables and records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use plugin_abi::sdk::{NodeError, NodeRequest};
use rusqlite::Connection;
use serde_json::{Map, Value};

/// SQLite's current time as RFC 3339 with milliseconds.
pub const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/// One database file: its connection, and the thread that checkpoints its
/// log (absent for `:memory:`).
struct Database {
    connection: Mutex<Connection>,
    checkpointer: Option<plugflow_sqlite_wal::Checkpointer>,
}

type Shared = Arc<Database>;

fn connections() -> &'static Mutex<HashMap<PathBuf, Shared>> {
    static CONNECTIONS: OnceLock<Mutex<HashMap<PathBuf, Shared>>> = OnceLock::new();
    CONNECTIONS.get_or_init(Mutex::default)
}

/// The database file: the host's `config.database`, else `PLUGFLOW_DB`,
/// else `plugflow.db` under the user's data directory.
pub fn database_path(request: &NodeRequest) -> Result<PathBuf, NodeError> {
    if let Some(path) = request.config.get("database") {
        return path
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| NodeError::execution("host configuration `database` must be a path"));
    }
    if let Some(path) = std::env::var_os("PLUGFLOW_DB") {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(base.join("plugflow").join("plugflow.db"))
}

fn db_error(e: rusqlite::Error) -> NodeError {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let error = NodeError::execution(format!("database error: {e}"));
    if busy {
        error.retryable()
    } else {
        error
    }
}

/// Runs `f` with the connection to `path` (one per file, serialised).
pub fn with_connection<T>(
    path: &Path,
    f: impl FnOnce(&mut Connection) -> Result<T, NodeError>,
) -> Result<T, NodeError> {
    let shared = {
        let mut map = connections().lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(path) {
            Some(c) => c.clone(),
            None => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        NodeError::execution(format!(
                            "cannot create database directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let mut conn = Connection::open(path).map_err(db_error)?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(db_error)?;
                conn.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(db_error)?;
                // 64 MiB of page cache (the default is 2 MiB): index pages
                // of a million-row entity stay in memory for inserts and
                // lookups instead of being read again and again.
                conn.pragma_update(None, "cache_size", -65_536)
                    .map_err(db_error)?;
                // Pages read through a memory map (up to 1 GiB of the
                // file): no read system call per page a lookup touches.
                conn.pragma_update(None, "mmap_size", 1_i64 << 30)
                    .map_err(db_error)?;
                // Statement journals (a multi-row INSERT that fails half
                // way undoes its own rows) and sorts in memory, not in
                // temporary files.
                conn.pragma_update(None, "temp_store", "MEMORY")
                    .map_err(db_error)?;
                // The log is copied into the database on a thread of its
                // own, never inside a write: a bulk write into a large
                // entity dirties thousands of index pages, and a checkpoint
                // copying them and syncing the file inside the write that
                // crossed SQLite's threshold cost that write tens of
                // milliseconds. (A write held back by the checkpointer's
                // occasional restart of the log retries for up to 5 s.)
                // Where no checkpointer can start (a thread refused under a
                // tight address-space limit), SQLite checkpoints as before.
                let checkpointer = if path.as_os_str() == ":memory:" {
                    None
                } else {
                    plugflow_sqlite_wal::checkpoint_in_background(&mut conn, path)
                        .inspect_err(|e| {
                            tracing::warn!(database = %path.display(), "the log is checkpointed inside writes: no checkpoint thread ({e})");
                        })
                        .ok()
                };
                if checkpointer.is_none() {
                    conn.pragma_update(None, "wal_autocheckpoint", 16_384)
                        .map_err(db_error)?;
                    conn.busy_timeout(std::time::Duration::from_secs(5))
                        .map_err(db_error)?;
                }
                let shared = Arc::new(Database {
                    connection: Mutex::new(conn),
                    checkpointer,
                });
                map.insert(path.to_owned(), shared.clone());
                shared
            }
        }
    };
    let mut conn = shared
        .connection
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let done = f(&mut conn);
    drop(conn);
    // A read tells it too: a checkpoint with nothing to copy is cheap.
    if let Some(checkpointer) = &shared.checkpointer {
        checkpointer.wrote();
    }
    done
}

/// Whether `entity` is a valid entity name: a letter or `_`, then
/// letters, digits and `_`, at most 64 characters.
pub fn valid_entity(entity: &str) -> bool {
    !entity.is_empty()
        && entity.len() <= 64
        && entity
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && entity
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The table and tenant-index names of `entity`. Tables and indexes share
/// one namespace in SQLite, so each kind has its own prefix (`t_`, `x_`):
/// no entity name can produce another entity's table or index name, and
/// nothing one tenant names can collide with what another uses.
pub fn names(entity: &str) -> (String, String) {
    (format!("t_{entity}"), format!("x_{entity}__tenant"))
}

/// The table of `entity`, created on first use with an index on the
/// tenant. A table from before the naming change (`e_<entity>`) is renamed.
pub fn table(conn: &Connection, entity: &str) -> Result<String, NodeError> {
    if !valid_entity(entity) {
        return Err(NodeError::invalid_parameter(
            "entity",
            format!("`{entity}` is not a valid entity name: use letters, digits and `_`"),
        ));
    }
    let (table, index) = names(entity);
    let exists = |name: &str| -> Result<bool, NodeError> {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(db_error)
    };
    if !exists(&table)? && exists(&format!("e_{entity}"))? {
        conn.execute_batch(&format!(
            "DROP INDEX IF EXISTS \"e_{entity}_tenant\"; ALTER TABLE \"e_{entity}\" RENAME TO \"{table}\";"
        ))
        .map_err(db_error)?;
    }
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (
            id TEXT NOT NULL,
            tenantId TEXT NOT NULL,
            data TEXT NOT NULL CHECK (json_valid(data)),
            createdAt TEXT NOT NULL,
            updatedAt TEXT NOT NULL,
            PRIMARY KEY (tenantId, id)
        );
        CREATE INDEX IF NOT EXISTS \"{index}\" ON \"{table}\" (tenantId);"
    ))
    .map_err(db_error)?;
    Ok(table)
}

/// A stored row as a record: the document plus its columns.
pub fn record(id: String, tenant: String, data: &str, created: String, updated: String) -> Value {
    let mut object = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    object.insert("id".into(), Value::String(id));
    object.insert("tenantId".into(), Value::String(tenant));
    object.insert("createdAt".into(), Value::String(created));
    object.insert("updatedAt".into(), Value::String(updated));
    Value::Object(object)
}

/// Maps rusqlite errors for the handlers.
pub fn sql(e: rusqlite::Error) -> NodeError {
    db_error(e)
}
