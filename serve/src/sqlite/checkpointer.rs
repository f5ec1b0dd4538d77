//! Checkpoints of the store's log, made on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: that commit — and every write queued behind it — waits while
//! the log is copied into the database file and the file is synced, which
//! showed as 10 ms steps in the service's p99 latency. Here the writing
//! connection never checkpoints; a second connection makes passive
//! checkpoints (they never block the writer) shortly after commits.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How long after a commit its pages are checkpointed, at most.
const INTERVAL: Duration = Duration::from_millis(100);

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
                        let checkpoint =
                            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        if let Err(e) = checkpoint {
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

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
