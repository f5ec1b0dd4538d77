//! Upkeep of a SQLite write-ahead log for plugflow's stores (the service's
//! execution store, the dbal's database).
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that commit — and every write waiting behind it — waits
//! while the log is copied into the database file and the file is synced.
//! [`checkpoint_in_background`] hands the copying to a [`Checkpointer`]: a
//! thread with a connection of its own that makes passive checkpoints
//! (they never block a writer) shortly after writes, and restarts the log
//! when it has grown long.
//!
//! ```
//! # fn main() -> rusqlite::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("data.db");
//! let mut connection = rusqlite::Connection::open(&path)?;
//! connection.pragma_update(None, "journal_mode", "WAL")?;
//! let checkpointer = plugflow_sqlite_wal::checkpoint_in_background(&mut connection, &path)?;
//! connection.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
//! checkpointer.wrote(); // copied into data.db within a tenth of a second
//! # Ok(()) }
//! ```

mod checkpointer;

pub use checkpointer::{checkpoint_in_background, Checkpointer, WriteSignal};
