//! Starting the service: open the store, read the keys and workflows,
//! bind, serve until told to stop.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use registry_core::Registry;
use tokio::net::TcpListener;

use crate::auth::ApiKeys;
use crate::catalog::{Catalog, LoadProblem};
use crate::config::ServeConfig;
use crate::service::{PluginReloader, Service};
use crate::sqlite::SqliteStore;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is not usable.
    #[error("serve configuration: {0}")]
    Config(String),
    /// The execution store cannot be opened.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Where executions are recorded.
enum Backend {
    Sqlite(Arc<dyn crate::store::ExecutionStore>),
    Postgres(Arc<crate::postgres::PgStore>),
}

/// Opens the store the configuration names: PostgreSQL (with the shared
/// queue) for a database URL, else the SQLite file.
fn open_backend(config: &ServeConfig) -> Result<Backend, StartError> {
    match &config.database_url {
        Some(_) if config.keep_executions.is_some() => Err(StartError::Config(
            "`keep-executions` bounds the embedded store only; with PostgreSQL bound executions by age with `retention-days`".into(),
        )),
        Some(url) => {
            let settings = crate::postgres::PgSettings {
                url: url.clone(),
                pool_size: config.pool_size,
                statement_timeout: Duration::from_millis(config.statement_timeout_ms),
                lease: Duration::from_millis(config.lease_ms.max(300)),
            };
            Ok(Backend::Postgres(crate::postgres::open(&settings)?))
        }
        None if config.workers == 0 || !config.api => Err(StartError::Config(
            "API-only and worker-only processes share their queue through PostgreSQL: set `[database] url` (or --database-url) to a postgres:// URL, or run `plugflow serve` with workers".into(),
        )),
        None => Ok(Backend::Sqlite(Arc::new(SqliteStore::open(&config.store)?))),
    }
}

/// A service ready to serve: bound, with its workflows loaded.
pub struct Server {
    service: Arc<Service>,
    listener: TcpListener,
    problems: Vec<LoadProblem>,
    watched: Vec<PathBuf>,
}

/// Reloads a running service (`SIGHUP`, say). Cheap to clone.
#[derive(Clone)]
pub struct Reloader(Arc<Service>);

impl Reloader {
    /// Scans plugins and workflows again; returns what was done.
    pub fn reload(&self) -> serde_json::Value {
        self.0.reload()
    }
}

impl Server {
    /// Opens the store, reads the API keys and the workflows directory,
    /// and binds `config.listen`.
    ///
    /// # Errors
    ///
    /// A [`StartError`] saying what is missing or refused.
    pub async fn bind(registry: Arc<Registry>, config: ServeConfig) -> Result<Self, StartError> {
        let keys = ApiKeys::load(&config.api_keys).map_err(StartError::Config)?;
        if keys.is_empty() {
            tracing::warn!(
                component = "serve",
                "no API keys are configured: every request but health and metrics is refused"
            );
        }
        let (catalog, problems) = match &config.workflows {
            Some(dir) => Catalog::load(dir),
            None => (Catalog::default(), Vec::new()),
        };
        for problem in &problems {
            tracing::warn!(component = "serve", file = %problem.file, "workflow not served: {}", problem.message);
        }
        let backend = open_backend(&config)?;
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    address: config.listen.clone(),
                    source,
                })?;
        let workers = config.workers;
        let service = match backend {
            Backend::Sqlite(store) => Service::new(registry, catalog, store, keys, config),
            Backend::Postgres(pg) => {
                let store = Arc::clone(&pg) as Arc<dyn crate::store::ExecutionStore>;
                Service::new(registry, catalog, store, keys, config).with_postgres(pg, workers)
            }
        };
        let service = Arc::new(service);
        let watched = service.config.workflows.iter().cloned().collect();
        Ok(Self {
            service,
            listener,
            problems,
            watched,
        })
    }

    /// Sets how a reload scans the plugin directories again, and watches
    /// `plugin_dirs` for changes along with the workflows directory.
    pub fn with_plugin_reloader(
        mut self,
        reloader: PluginReloader,
        plugin_dirs: Vec<PathBuf>,
    ) -> Self {
        if let Some(service) = Arc::get_mut(&mut self.service) {
            service.set_plugin_reloader(reloader);
        }
        self.watched.extend(plugin_dirs);
        self
    }

    /// Sets what plugin discovery found at start-up (the dashboard shows
    /// it; a reload replaces it with the rescan's summary).
    pub fn with_plugin_status(self, status: serde_json::Value) -> Self {
        self.service.set_plugin_status(status);
        self
    }

    /// Sets the supervisor of process-tier plugins: its hosts show in
    /// `GET /v1/admin/plugin-hosts` and `/metrics`, and an admin clears a
    /// quarantine with `POST /v1/admin/plugin-hosts/{plugin}/clear`.
    pub fn with_plugin_hosts(self, hosts: Arc<plugin_host::PluginHosts>) -> Self {
        self.service.set_plugin_hosts(hosts);
        self
    }

    /// A handle that reloads the service while it serves.
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::clone(&self.service))
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Workflow files that were not loaded, and why.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    /// Resumes the executions a previous run left unfinished, then serves
    /// until `shutdown` completes, stops accepting and lets in-flight
    /// requests finish. Executions still running stay `running` in the
    /// store and resume at the next start.
    ///
    /// # Errors
    ///
    /// An I/O error of the listener.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let address = self.listener.local_addr()?;
        // With the shared queue, executions a stopped process left come
        // back through lease expiry, to any worker.
        let recovered = if self.service.queue.is_some() {
            Ok(0)
        } else {
            self.service.recover().await
        };
        let (workers, listener) = crate::worker::start(&self.service);
        match recovered {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                component = "serve",
                resumed = n,
                "resumed interrupted executions"
            ),
            Err(e) => tracing::error!(
                component = "serve",
                "could not resume interrupted executions: {e}"
            ),
        }
        let watcher = watch(
            Arc::clone(&self.service),
            self.watched,
            self.service.config.reload_interval_ms,
        );
        let purger = purge(Arc::clone(&self.service));
        let trimmer = trim(Arc::clone(&self.service));
        tracing::info!(component = "serve", %address, workflows = self.service.catalog().len(), "serving");
        let router = if self.service.config.api {
            crate::http::router(Arc::clone(&self.service))
        } else {
            crate::http::worker_router(Arc::clone(&self.service))
        };
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in [watcher, purger, trimmer]
            .into_iter()
            .flatten()
            .chain(workers)
        {
            task.abort();
        }
        drain(&self.service).await;
        drop(listener);
        served
    }
}

/// Waits for running executions to finish, up to the grace period.
async fn drain(service: &Service) {
    let grace = Duration::from_millis(service.config.shutdown_grace_ms);
    let deadline = tokio::time::Instant::now() + grace;
    while service.running_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = service.running_count();
    if left > 0 {
        tracing::warn!(
            component = "serve",
            left,
            "stopping with executions still running; they resume at the next start"
        );
    }
}

/// Deletes executions older than the retention, at start and then every
/// tenth of the retention (at most hourly, at least every second).
fn purge(service: Arc<Service>) -> Option<tokio::task::JoinHandle<()>> {
    let days = service
        .config
        .retention_days
        .filter(|d| *d > 0.0 && d.is_finite())?;
    let retention = Duration::try_from_secs_f64(days * 86_400.0).ok()?;
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let cut = crate::service::now_ms()
                .saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
            let store = Arc::clone(&service.store);
            match tokio::task::spawn_blocking(move || store.purge_finished_before(cut)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(
                    component = "serve",
                    purged = n,
                    "deleted executions past their retention"
                ),
                _ => tracing::warn!(component = "serve", "could not delete old executions"),
            }
        }
    }))
}

/// Deletes each tenant's finished executions beyond `keep-executions`,
/// every second.
fn trim(service: Arc<Service>) -> Option<tokio::task::JoinHandle<()>> {
    let keep = service.config.kept_per_tenant()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // On the blocking pool even for a store in memory: deleting
            // thousands of executions must not hold up a worker thread.
            let store = Arc::clone(&service.store);
            let purged = tokio::task::spawn_blocking(move || store.purge_beyond(keep))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match purged {
                Ok(0) => {}
                Ok(n) => tracing::debug!(
                    component = "serve",
                    purged = n,
                    keep,
                    "deleted executions beyond keep-executions"
                ),
                Err(e) => {
                    tracing::warn!(component = "serve", "could not delete old executions: {e}")
                }
            }
        }
    }))
}

/// Polls `dirs` every `interval_ms`; a change reloads the service.
fn watch(
    service: Arc<Service>,
    dirs: Vec<PathBuf>,
    interval_ms: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    if interval_ms == 0 || dirs.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut seen = fingerprint(&dirs);
        let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = fingerprint(&dirs);
            if now != seen {
                seen = now;
                let service = Arc::clone(&service);
                let _ = tokio::task::spawn_blocking(move || service.reload()).await;
            }
        }
    }))
}

/// Names, sizes and modification times of the files in `dirs`.
fn fingerprint(dirs: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if let Ok(meta) = entry.metadata() {
                files.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    files.sort();
    files
}
