//! Group commit: the writes of concurrent executions share one SQLite
//! transaction, so one log append makes all of them durable.

use std::sync::{Arc, Mutex, PoisonError};

use plugflow_sqlite_wal::WriteSignal;
use rusqlite::Connection;

use crate::store::StoreError;

/// A write waiting for the next group commit.
pub(super) type Write = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

/// Where a queued write's result goes.
type Done = Arc<Mutex<Option<Result<(), StoreError>>>>;

/// A queued write and where its result goes.
struct QueuedWrite {
    write: Write,
    done: Done,
}

/// One connection, its readers and its queue of writes.
///
/// A write joins the queue, then waits for the connection; whoever holds
/// the connection next commits every queued write in one transaction (each
/// under a savepoint of its own when there are several, so a failing write
/// fails alone). Under concurrent executions one commit serves every write
/// that arrived while the last one was being made; a lone write is
/// committed at once.
pub(super) struct GroupCommit {
    connection: Mutex<Connection>,
    queued: Mutex<Vec<QueuedWrite>>,
    /// Told after each commit (the checkpointer's cue), if there is one.
    committed: Option<WriteSignal>,
}

impl GroupCommit {
    /// Commits on `connection`, telling `committed` after each commit.
    pub(super) fn new(connection: Connection, committed: Option<WriteSignal>) -> Self {
        Self {
            connection: Mutex::new(connection),
            queued: Mutex::new(Vec::new()),
            committed,
        }
    }

    /// Runs `read` on the connection, between group commits.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Failed("the store's lock is poisoned".into()))?;
        read(&connection)
    }

    /// Runs `write` in the next group commit and returns its result once
    /// that commit is made.
    pub(super) fn write(
        &self,
        write: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let done: Done = Arc::new(Mutex::new(None));
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(QueuedWrite {
                write: Box::new(write),
                done: Arc::clone(&done),
            });
        let connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Failed("the store's lock is poisoned".into()))?;
        // The writer before us may have committed ours with its own.
        if let Some(result) = take(&done) {
            return result;
        }
        let group =
            std::mem::take(&mut *self.queued.lock().unwrap_or_else(PoisonError::into_inner));
        commit_group(&connection, group);
        if let Some(committed) = &self.committed {
            committed.wrote();
        }
        take(&done).unwrap_or_else(|| {
            Err(StoreError::Failed(
                "a queued write was not committed".into(),
            ))
        })
    }
}

fn take(done: &Done) -> Option<Result<(), StoreError>> {
    done.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Commits `group` in one transaction — each write under a savepoint of
/// its own when there are several — and hands each write its result (the
/// commit's error to all of them if the commit fails).
fn commit_group(connection: &Connection, group: Vec<QueuedWrite>) {
    let failed = |message: &str| StoreError::Failed(message.to_owned());
    let results: Vec<_> = match connection.execute_batch("BEGIN IMMEDIATE") {
        Err(e) => {
            let message = e.to_string();
            group
                .into_iter()
                .map(|q| (q.done, Err(failed(&message))))
                .collect()
        }
        Ok(()) => {
            let lone = group.len() == 1;
            let results: Vec<_> = group
                .into_iter()
                .map(|q| {
                    let result = if lone {
                        (q.write)(connection)
                    } else {
                        in_savepoint(connection, q.write)
                    };
                    (q.done, result)
                })
                .collect();
            let end = if lone && results.iter().any(|(_, r)| r.is_err()) {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            match connection.execute_batch(end) {
                Ok(()) => results,
                Err(e) => {
                    let _ = connection.execute_batch("ROLLBACK");
                    let message = e.to_string();
                    results
                        .into_iter()
                        .map(|(done, _)| (done, Err(failed(&message))))
                        .collect()
                }
            }
        }
    };
    for (done, result) in results {
        *done.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    }
}

/// Runs `write` under a savepoint: undone alone if it fails.
fn in_savepoint(connection: &Connection, write: Write) -> Result<(), StoreError> {
    connection.execute_batch("SAVEPOINT one_write")?;
    match write(connection) {
        Ok(()) => {
            connection.execute_batch("RELEASE one_write")?;
            Ok(())
        }
        Err(e) => {
            let _ = connection.execute_batch("ROLLBACK TO one_write; RELEASE one_write");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(writes: Vec<Write>) -> (Vec<QueuedWrite>, Vec<Done>) {
        writes
            .into_iter()
            .map(|write| {
                let done: Done = Arc::new(Mutex::new(None));
                let queued = QueuedWrite {
                    write,
                    done: Arc::clone(&done),
                };
                (queued, done)
            })
            .unzip()
    }

    fn insert(id: &'static str) -> Write {
        Box::new(move |c| {
            c.execute("INSERT INTO t (id) VALUES (?1)", [id])?;
            Ok(())
        })
    }

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .unwrap();
        connection
    }

    fn ids(connection: &Connection) -> Vec<String> {
        let mut statement = connection.prepare("SELECT id FROM t ORDER BY id").unwrap();
        let rows = statement.query_map([], |row| row.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_failing_write_in_a_group_fails_alone() {
        let connection = table();
        // The second write inserts a row, then breaks the primary key.
        let breaking: Write = Box::new(|c| {
            insert("b")(c)?;
            insert("a")(c)
        });
        let (group, done) = queued(vec![insert("a"), breaking, insert("c")]);
        commit_group(&connection, group);
        let results: Vec<bool> = done.iter().map(|d| take(d).unwrap().is_ok()).collect();
        assert_eq!(results, [true, false, true]);
        assert_eq!(ids(&connection), ["a", "c"], "b is undone with its write");
    }

    #[test]
    fn a_lone_failing_write_leaves_nothing() {
        let connection = table();
        let breaking: Write = Box::new(|c| {
            insert("a")(c)?;
            insert("a")(c)
        });
        let (group, done) = queued(vec![breaking]);
        commit_group(&connection, group);
        assert!(take(&done[0]).unwrap().is_err());
        assert!(ids(&connection).is_empty());
    }

    #[test]
    fn concurrent_writes_are_all_committed() {
        let commits = Arc::new(GroupCommit::new(table(), None));
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let commits = Arc::clone(&commits);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let id = format!("{t}-{i}");
                        commits
                            .write(move |c| {
                                c.execute("INSERT INTO t (id) VALUES (?1)", [id])?;
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let count = commits
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .unwrap();
        assert_eq!(count, 400);
    }
}
