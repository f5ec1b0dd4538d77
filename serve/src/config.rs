//! `[serve]` of the configuration file.

use std::path::PathBuf;

use serde::Deserialize;

/// The service's settings.
///
/// ```
/// let config: plugflow_serve::ServeConfig = toml_like(r#"{
///     "listen": "127.0.0.1:0",
///     "workflows": "workflows",
///     "api-keys": [{"tenantId": "acme", "key": {"env": "ACME_API_KEY"}}]
/// }"#);
/// assert_eq!(config.api_keys[0].tenant_id, "acme");
/// # fn toml_like(text: &str) -> plugflow_serve::ServeConfig { serde_json::from_str(text).unwrap() }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on (`127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A directory of workflow files (`*.json`), loaded at start-up.
    #[serde(default)]
    pub workflows: Option<PathBuf>,
    /// The SQLite file executions are recorded in (created when missing),
    /// or `:memory:` to keep them in memory only: nothing is written to
    /// disk, and executions are lost when the process ends (they are not
    /// resumed). See [`Self::keep_executions`].
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// At most this many finished executions kept per tenant, the oldest
    /// deleted first (checked every second; running ones are never
    /// deleted). Absent: no limit for a file store, 10,000 for an
    /// in-memory one. Not for PostgreSQL (use `retention-days`).
    #[serde(default)]
    pub keep_executions: Option<usize>,
    /// Who may call: one key per entry, each acting as its tenant.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Largest request body accepted, in bytes (`413` above it).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Executions running at once, all workflows together; further
    /// requests wait in the queue.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_executions: usize,
    /// Requests that may wait for a free execution slot; beyond it the
    /// answer is `429` with `Retry-After`.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Longest a synchronous request may take, in milliseconds (the
    /// execution goes on and can be looked up by its id).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How often the workflows directory (and plugin directories) are
    /// checked for changes, in milliseconds; a change reloads. 0: never
    /// (reload with `SIGHUP` or `POST /v1/admin/reload`).
    #[serde(default = "default_reload_interval_ms")]
    pub reload_interval_ms: u64,
    /// Record each node as it runs (MetaBuilder's `saveExecutionProgress`),
    /// so an interrupted execution resumes where it stopped. Off: only the
    /// start and end of executions are recorded, and one interrupted by a
    /// crash ends in `error` at the next start instead of resuming.
    #[serde(default = "yes")]
    pub save_execution_progress: bool,
    /// How long finished executions are kept, in days (fractions allowed);
    /// older ones are deleted with their node records. Absent: forever.
    #[serde(default)]
    pub retention_days: Option<f64>,
    /// On shutdown, how long running executions may take to finish, in
    /// milliseconds; those still running then resume at the next start.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// PostgreSQL for executions and the shared queue
    /// (`postgres://user@host/db`); absent: the embedded SQLite `store`.
    /// Set from `[database] url`, `--database-url` or
    /// `PLUGFLOW_DATABASE_URL`, not from `[serve]`.
    #[serde(skip)]
    pub database_url: Option<String>,
    /// Whether this process serves the API and webhooks (`plugflow
    /// serve`), or only health and metrics (`plugflow worker`).
    #[serde(skip, default = "yes")]
    pub api: bool,
    /// Claim loops in this process, with PostgreSQL: 0 makes it API-only
    /// (it enqueues; `plugflow worker`s run). With SQLite, executions
    /// always run in this process.
    #[serde(default = "one")]
    pub workers: usize,
    /// How long a worker holds a claimed execution without renewing it
    /// (renewed every third of it); a worker that dies loses its
    /// executions to others after this long.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How often an idle worker looks at the queue without a `NOTIFY`
    /// (delayed executions become due without one).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Connections to PostgreSQL, at most.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Longest a statement may run on PostgreSQL, in milliseconds.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Claims of one execution whose workers all stopped while running it
    /// before it ends in `error` (a workflow that kills its worker must
    /// not take every worker down in turn).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// With PostgreSQL: a `wait` node or a retry backoff longer than this
    /// (milliseconds) suspends its execution — recorded, then a queue row
    /// due when the wait is over — instead of holding a worker slot.
    #[serde(default = "default_suspend_waits_after_ms")]
    pub suspend_waits_after_ms: u64,
}

/// Finished executions an in-memory store keeps per tenant by default.
pub(crate) const MEMORY_KEEP_EXECUTIONS: usize = 10_000;

impl ServeConfig {
    /// Whether executions are kept in memory only (`store = ":memory:"`,
    /// no PostgreSQL).
    pub fn store_in_memory(&self) -> bool {
        self.database_url.is_none() && self.store.as_os_str() == ":memory:"
    }

    /// Finished executions kept per tenant, if they are bounded by count.
    pub(crate) fn kept_per_tenant(&self) -> Option<usize> {
        self.keep_executions
            .or_else(|| self.store_in_memory().then_some(MEMORY_KEEP_EXECUTIONS))
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            workflows: None,
            store: default_store(),
            keep_executions: None,
            api_keys: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            max_concurrent_executions: default_max_concurrent(),
            queue: default_queue(),
            request_timeout_ms: default_request_timeout_ms(),
            reload_interval_ms: default_reload_interval_ms(),
            save_execution_progress: true,
            retention_days: None,
            shutdown_grace_ms: default_shutdown_grace_ms(),
            database_url: None,
            api: true,
            workers: 1,
            lease_ms: default_lease_ms(),
            poll_interval_ms: default_poll_interval_ms(),
            pool_size: default_pool_size(),
            statement_timeout_ms: default_statement_timeout_ms(),
            max_attempts: default_max_attempts(),
            suspend_waits_after_ms: default_suspend_waits_after_ms(),
        }
    }
}

/// One API key and the tenant it acts as.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The tenant every request with this key runs as.
    pub tenant_id: String,
    /// Where the key comes from.
    pub key: KeySource,
    /// Whether the key may also call `/v1/admin/*` (reload).
    #[serde(default)]
    pub admin: bool,
}

/// Where an API key comes from: the same sources as credentials' secrets,
/// or only its SHA-256 (so the configuration never holds the key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum KeySource {
    /// `{ env = "NAME" }`.
    Env(String),
    /// `{ file = "path" }`: the file's content, trailing newline removed.
    File(PathBuf),
    /// `{ value = "..." }`: written inline (a warning is logged).
    Value(String),
    /// `{ sha256 = "<hex>" }`: the key's SHA-256, lower- or upper-case hex.
    Sha256(String),
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

fn default_lease_ms() -> u64 {
    30_000
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

fn default_pool_size() -> usize {
    8
}

fn default_statement_timeout_ms() -> u64 {
    30_000
}

fn default_max_attempts() -> u32 {
    5
}

fn default_suspend_waits_after_ms() -> u64 {
    60_000
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_store() -> PathBuf {
    PathBuf::from("plugflow-executions.db")
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_max_concurrent() -> usize {
    256
}

fn default_queue() -> usize {
    4096
}

fn default_request_timeout_ms() -> u64 {
    30_000
}

fn default_reload_interval_ms() -> u64 {
    2_000
}

fn default_shutdown_grace_ms() -> u64 {
    10_000
}
