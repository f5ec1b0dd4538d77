//! The checkpointing thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How long after a write its pages are checkpointed, at most.
const INTERVAL: Duration = Duration::from_millis(100);

/// Pages in the log (of 4 KiB) past which it is restarted: 64 MiB. Under
/// steady writes a passive checkpoint never reaches the log's end, and
/// SQLite starts a log over only once all of it is copied; a restart
/// checkpoint holds new writes back for the little a passive one left.
const RESTART_FRAMES: i64 = 16_384;

/// How often, and how long in all, a write held back by a restart
/// checkpoint tries again (SQLite's own busy timeout sleeps in steps of up
/// to 100 ms).
const RETRY_EVERY: Duration = Duration::from_micros(100);
const RETRIES: i32 = 50_000;

/// Makes the checkpoints of `connection`'s database (at `path`, in WAL
/// mode) on a thread of their own: `connection` no longer checkpoints
/// itself, and a write of it held back by a restart checkpoint retries
/// every 100 µs for up to 5 s. Tell the returned [`Checkpointer`] (or its
/// [`WriteSignal`]) after writes.
///
/// # Errors
///
/// When the checkpointer cannot start (its connection cannot be opened, or
/// no thread can be made, as under a tight address-space limit) —
/// `connection` is then left as it was, checkpointing itself — or the
/// settings cannot be made.
pub fn checkpoint_in_background(
    connection: &mut Connection,
    path: &Path,
) -> rusqlite::Result<Checkpointer> {
    let checkpointer = Checkpointer::start(path)?;
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.busy_handler(Some(|tries: i32| {
        std::thread::sleep(RETRY_EVERY);
        tries < RETRIES
    }))?;
    Ok(checkpointer)
}

/// Tells a [`Checkpointer`] that the log has new pages. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WriteSignal(Arc<AtomicBool>);

impl WriteSignal {
    /// The log has new pages: the next round checkpoints them.
    pub fn wrote(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The checkpointing thread of one database; stopped when dropped.
#[derive(Debug)]
pub struct Checkpointer {
    signal: WriteSignal,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Checkpoints the database at `path` every tenth of a second in which
    /// it was told of writes.
    ///
    /// # Errors
    ///
    /// When its connection cannot be opened.
    pub fn start(path: &Path) -> rusqlite::Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        let signal = WriteSignal(Arc::new(AtomicBool::new(false)));
        let stop = Arc::new(AtomicBool::new(false));
        let (written, stopping) = (Arc::clone(&signal.0), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("plugflow-checkpoint".into())
            // It runs one statement at a time: SQLite needs little stack.
            .stack_size(256 * 1024)
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(INTERVAL);
                    if written.swap(false, Ordering::AcqRel) {
                        if let Err(e) = checkpoint(&connection) {
                            tracing::warn!(
                                component = "sqlite",
                                "could not checkpoint a database's log: {e}"
                            );
                        }
                    }
                }
            })
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!("could not start the checkpoint thread: {e}")),
                )
            })?;
        Ok(Self {
            signal,
            stop,
            thread: Some(thread),
        })
    }

    /// The log has new pages: the next round checkpoints them.
    pub fn wrote(&self) {
        self.signal.wrote();
    }

    /// A handle that says so from elsewhere.
    pub fn signal(&self) -> WriteSignal {
        self.signal.clone()
    }
}

/// A passive checkpoint; then a restart one if the log is long.
fn checkpoint(connection: &Connection) -> rusqlite::Result<()> {
    let log_frames = run(connection, "PASSIVE")?;
    if log_frames > RESTART_FRAMES {
        run(connection, "RESTART")?;
    }
    Ok(())
}

/// Runs a checkpoint of `mode`; returns the pages in the log.
fn run(connection: &Connection, mode: &str) -> rusqlite::Result<i64> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get(1)
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let connection = Connection::open(&path).unwrap();
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .unwrap();
        (dir, path, connection)
    }

    #[test]
    fn written_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let (_dir, path, mut connection) = database();
        let checkpointer = checkpoint_in_background(&mut connection, &path).unwrap();
        let size_before = std::fs::metadata(&path).unwrap().len();
        connection
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        checkpointer.wrote();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= size_before {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_writer_no_longer_checkpoints_itself() {
        let (_dir, path, mut connection) = database();
        let _checkpointer = checkpoint_in_background(&mut connection, &path).unwrap();
        let threshold: i64 = connection
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(threshold, 0);
    }

    #[test]
    fn without_a_write_signal_nothing_is_checkpointed() {
        let (_dir, path, mut connection) = database();
        let _checkpointer = checkpoint_in_background(&mut connection, &path).unwrap();
        let size_before = std::fs::metadata(&path).unwrap().len();
        connection
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        std::thread::sleep(INTERVAL * 3);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size_before);
    }

    #[test]
    fn a_checkpointer_that_cannot_start_leaves_the_connection_checkpointing_itself() {
        let (_dir, _path, mut connection) = database();
        let nowhere = Path::new("/nonexistent-plugflow-dir/data.db");
        assert!(checkpoint_in_background(&mut connection, nowhere).is_err());
        let threshold: i64 = connection
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(threshold, 1000, "SQLite's default, untouched");
    }
}
