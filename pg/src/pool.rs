//! A pool of connections, each owned by a thread of its own.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::error::{is_transient, PgError, PgErrorKind};

/// How to connect and how hard to try.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// `postgres://user@host:port/database?…` (or a key=value string).
    pub url: String,
    /// Connections (and threads) at most.
    pub size: usize,
    /// Longest any statement may run (`statement_timeout`); 0: no limit.
    pub statement_timeout: Duration,
    /// How long a call keeps retrying on dropped connections, restarts and
    /// serialisation failures before it gives up.
    pub retry_for: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
}

impl PoolConfig {
    /// Eight connections, 30 s statement timeout, retries for 30 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            size: 8,
            statement_timeout: Duration::from_secs(30),
            retry_for: Duration::from_secs(30),
            application_name: "plugflow".to_owned(),
        }
    }

    /// The client configuration this pool connects with.
    ///
    /// # Errors
    ///
    /// [`PgErrorKind::Config`] when the URL does not parse (the message
    /// never repeats a password).
    pub fn client_config(&self) -> Result<postgres::Config, PgError> {
        let mut config: postgres::Config = self.url.parse().map_err(|e| {
            PgError::new(
                PgErrorKind::Config,
                format!("database url `{}` is not usable: {e}", redact(&self.url)),
            )
        })?;
        config.application_name(&self.application_name);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(30));
        if !self.statement_timeout.is_zero() {
            config.options(&format!(
                "-c statement_timeout={}",
                self.statement_timeout.as_millis()
            ));
        }
        Ok(config)
    }
}

/// `url` with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Counters of a pool, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Calls that failed in the end.
    pub errors: u64,
    /// Attempts run again after a transient failure.
    pub retries: u64,
    /// Connections opened.
    pub connects: u64,
    /// Calls made.
    pub calls: u64,
}

#[derive(Default)]
struct Counters {
    errors: AtomicU64,
    retries: AtomicU64,
    connects: AtomicU64,
    calls: AtomicU64,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Statements prepared on one connection, by their text: a statement run
/// again is bound and executed, not parsed and planned again.
#[derive(Default)]
pub struct Statements {
    prepared: std::collections::HashMap<String, postgres::Statement>,
}

impl Statements {
    /// `sql` prepared on `client` (the connection these statements belong
    /// to), once.
    ///
    /// # Errors
    ///
    /// The statement does not prepare.
    pub fn get(
        &mut self,
        client: &mut Client,
        sql: &str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// One thread's connection, opened when first needed and again after it
/// drops (its prepared statements with it).
struct Connection {
    config: postgres::Config,
    client: Option<Client>,
    statements: Statements,
    counters: Arc<Counters>,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client, postgres::Error> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                self.counters.connects.fetch_add(1, Ordering::Relaxed);
                self.statements = Statements::default();
                self.config.connect(NoTls)?
            }
        };
        Ok(self.client.insert(client))
    }
}

/// Connections to one database, each on a thread of its own. Cheap to
/// clone; the threads stop when the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    jobs: Arc<Mutex<Sender<Job>>>,
    counters: Arc<Counters>,
    config: Arc<PoolConfig>,
}

impl Pool {
    /// Starts the pool's threads and checks that the database answers.
    ///
    /// # Errors
    ///
    /// The URL is not usable, or the database cannot be reached within
    /// `retry_for`.
    pub fn open(config: PoolConfig) -> Result<Self, PgError> {
        let pool = Self::start(config)?;
        pool.run(|client| client.simple_query("SELECT 1").map(drop))?;
        Ok(pool)
    }

    /// Starts the pool's threads without connecting (the first call does).
    ///
    /// # Errors
    ///
    /// The URL is not usable.
    pub fn start(config: PoolConfig) -> Result<Self, PgError> {
        let client_config = config.client_config()?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let counters = Arc::new(Counters::default());
        for n in 0..config.size.max(1) {
            let receiver = Arc::clone(&receiver);
            let connection = Connection {
                config: client_config.clone(),
                client: None,
                statements: Statements::default(),
                counters: Arc::clone(&counters),
            };
            std::thread::Builder::new()
                .name(format!("plugflow-pg-{n}"))
                .spawn(move || serve_jobs(&receiver, connection))
                .map_err(|e| {
                    PgError::new(
                        PgErrorKind::Closed,
                        format!("cannot start a database thread: {e}"),
                    )
                })?;
        }
        Ok(Self {
            jobs: Arc::new(Mutex::new(sender)),
            counters,
            config: Arc::new(config),
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            errors: self.counters.errors.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            connects: self.counters.connects.load(Ordering::Relaxed),
            calls: self.counters.calls.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` with a connection of the pool and waits for its answer.
    /// When the connection drops, the server restarts or a transaction
    /// loses a serialisation race, `work` runs again on a fresh connection
    /// (so it must be safe to run again: one transaction, or statements
    /// that are idempotent), for up to `retry_for`.
    ///
    /// # Errors
    ///
    /// The statement's error, or [`PgErrorKind::Connection`] once retries
    /// ran out.
    pub fn run<T, F>(&self, mut work: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnMut(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    {
        self.run_prepared(move |client, _| work(client))
    }

    /// [`Self::run`], with the connection's [`Statements`]: for statements
    /// run often, prepared once per connection.
    ///
    /// # Errors
    ///
    /// As [`Self::run`].
    pub fn run_prepared<T, F>(&self, work: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnMut(&mut Client, &mut Statements) -> Result<T, postgres::Error> + Send + 'static,
    {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = mpsc::sync_channel(1);
        let retry_for = self.config.retry_for;
        let counters = Arc::clone(&self.counters);
        let job: Job = Box::new(move |connection| {
            let result = attempt(connection, work, retry_for, &counters);
            let _ = reply.send(result);
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        let result = match sent {
            Ok(()) => answer.recv().unwrap_or_else(|_| {
                Err(PgError::new(
                    PgErrorKind::Closed,
                    "the database thread stopped before answering",
                ))
            }),
            Err(_) => Err(PgError::new(PgErrorKind::Closed, "the pool is shut down")),
        };
        if result.is_err() {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// Runs `work`, retrying transient failures until `retry_for` has passed.
fn attempt<T>(
    connection: &mut Connection,
    mut work: impl FnMut(&mut Client, &mut Statements) -> Result<T, postgres::Error>,
    retry_for: Duration,
    counters: &Counters,
) -> Result<T, PgError> {
    let deadline = Instant::now() + retry_for;
    let mut pause = Duration::from_millis(20);
    loop {
        let outcome = match connection.client() {
            Ok(_) => {
                let Connection {
                    client, statements, ..
                } = &mut *connection;
                let Some(client) = client.as_mut() else {
                    continue;
                };
                match std::panic::catch_unwind(AssertUnwindSafe(|| work(client, statements))) {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        connection.client = None;
                        return Err(PgError::new(
                            PgErrorKind::Query,
                            "a database call panicked; its connection was closed",
                        ));
                    }
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(e) if is_transient(&e) && Instant::now() + pause < deadline => {
                tracing::warn!(
                    component = "pg",
                    "retrying after a transient database error: {e}"
                );
                connection.client = None;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                if e.is_closed() {
                    connection.client = None;
                }
                return Err(e.into());
            }
        }
    }
}

fn serve_jobs(receiver: &Mutex<Receiver<Job>>, mut connection: Connection) {
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            receiver.recv()
        };
        match job {
            Ok(job) => job(&mut connection),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_appears_in_a_redacted_url() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
    }

    #[test]
    fn an_unparsable_url_is_a_config_error_without_the_password() {
        let error = PoolConfig::new("postgres://app:s3cret@db:notaport/x")
            .client_config()
            .unwrap_err();
        assert_eq!(error.kind(), PgErrorKind::Config);
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
