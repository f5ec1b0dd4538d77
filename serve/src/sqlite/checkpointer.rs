//! Checkpoints of the store's log, made on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that commit — and every write queued behind it — waits while
//! the log is copied into the database file and the file is synced, which
//! showed as 10 ms steps in the service's p99 latency. Here the writing
//! connection never checkpoints; a second connection makes passive
//! checkpoints shortly after commits (they copy the log without blocking
//! the writer). Under steady writes a passive checkpoint never catches the
//! log's end, and a log is only restarted from its beginning once all of
//! it is copied; so when it has grown past [`RESTART_FRAMES`], a restart
//! checkpoint holds new writes back for the little a passive one left.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How long after a commit its pages are checkpointed, at most.
const INTERVAL: Duration = Duration::from_millis(100);

/// Pages in the log (of 4 KiB) past which it is restarted: 64 MiB.
const RESTART_FRAMES: i64 = 16_384;

/// The checkpointing thread; stopped when dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Checkpoints the database at `path` every [`INTERVAL`] in which
    /// `committed` was set (and clears it).
    pub(super) fn start(path: &Path, committed: Arc<AtomicBool>) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("plugflow-checkpoint".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::park_timeout(INTERVAL);
                    if committed.swap(false, Ordering::AcqRel) {
                        if let Err(e) = checkpoint(&connection) {
                            tracing::warn!(
                                component = "serve",
                                "could not checkpoint the execution store's log: {e}"
                            );
                        }
                    }
                }
            })
            .map_err(|e| {
                StoreError::Failed(format!("could not start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
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
