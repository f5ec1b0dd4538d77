//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// plugflow: a DAG workflow engine whose node types are native plugins.
///
/// Built-in node types are linked in; `--plugins DIR` adds third-party
/// plugin libraries. Every subcommand takes `--output json` and then prints
/// exactly one JSON document on stdout (logs go to stderr).
///
/// Exit codes: 0 success; 1 the workflow ran and failed; 2 bad usage or
/// invalid input (nothing ran).
#[derive(Debug, Parser)]
#[command(name = "plugflow", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Output format of the result on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Pretty, global = true, env = "PLUGFLOW_OUTPUT")]
    pub output: OutputFormat,
    /// Configuration file (TOML): plugin directories and patterns, caches,
    /// tenant policies, audit log, environment allowlist.
    #[arg(long, global = true, env = "PLUGFLOW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Plugin directory to scan for plugin libraries (repeatable; also
    /// PLUGFLOW_PLUGIN_DIRS).
    #[arg(long = "plugins", global = true, value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Tenant policies: a JSON file with one policy or a list of them
    /// (tenantId, allowedNodeTypes, restrictedNodeTypes, dataIsolation,
    /// auditLogging).
    #[arg(long, global = true, env = "PLUGFLOW_POLICY")]
    pub policy: Option<PathBuf>,
    /// The SQLite database file of the dbal-read / dbal-write nodes
    /// (default: plugflow/plugflow.db under the user's data directory).
    #[arg(long, global = true, env = "PLUGFLOW_DB")]
    pub db: Option<PathBuf>,
    /// PostgreSQL (`postgres://user@host:port/database`) for the service's
    /// executions and shared queue (overrides `[database] url`): many
    /// `plugflow serve` and `plugflow worker` processes share it.
    #[arg(long, global = true, env = "PLUGFLOW_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where audit records go when a policy turns auditing on.
    #[arg(long, global = true, env = "PLUGFLOW_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, env = "PLUGFLOW_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace), or a RUST_LOG filter.
    #[arg(long, default_value = "warn", global = true, env = "PLUGFLOW_LOG")]
    pub log_level: String,
    /// No progress display.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Where plugin libraries are first opened: `process` checks each in a
    /// scanner child process first, so one that crashes, aborts, exits or
    /// hangs while loading is quarantined instead of ending plugflow.
    /// Default: the configuration file's, else `in-process`; `plugins
    /// check` defaults to `process`.
    #[arg(long, value_enum, global = true, env = "PLUGFLOW_ISOLATION")]
    pub isolation: Option<IsolationArg>,
    /// Where plugins' node types execute: `process` runs each plugin
    /// library in a supervised plugin-host child process, so a plugin that
    /// crashes, aborts, exits or hangs at run time fails its node
    /// (`PLUGIN_CRASHED`, `EXECUTION_TIMEOUT`) instead of ending plugflow.
    /// Built-ins linked into plugflow stay in-process. Default: the
    /// configuration's `[plugins] execution-isolation`, else `in-process`.
    #[arg(long, value_enum, global = true, env = "PLUGFLOW_EXECUTION_ISOLATION")]
    pub execution_isolation: Option<IsolationArg>,
    /// The persistent plugin cache file, or `off`. Default: the
    /// configuration's `cache-file`, else plugflow/plugin-cache.json under
    /// the user's cache directory. With a cache, unchanged libraries are
    /// not opened at start-up (only when one of their node types first
    /// runs), and new or changed ones are checked in a scanner process.
    #[arg(
        long,
        global = true,
        env = "PLUGFLOW_PLUGIN_CACHE",
        value_name = "FILE|off"
    )]
    pub plugin_cache: Option<String>,
}

/// `--isolation` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    /// Open libraries in the plugflow process.
    InProcess,
    /// Check them in a scanner child process first.
    Process,
}

impl From<IsolationArg> for registry_core::ExecutionTier {
    fn from(arg: IsolationArg) -> Self {
        match arg {
            IsolationArg::InProcess => registry_core::ExecutionTier::InProcess,
            IsolationArg::Process => registry_core::ExecutionTier::Process,
        }
    }
}

impl From<IsolationArg> for loader::Isolation {
    fn from(arg: IsolationArg) -> Self {
        match arg {
            IsolationArg::InProcess => loader::Isolation::InProcess,
            IsolationArg::Process => loader::Isolation::Process,
        }
    }
}

/// Result formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Pretty,
    /// One JSON document.
    Json,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

/// Metrics formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    /// The metrics snapshot as JSON.
    Json,
    /// Prometheus text exposition.
    Prometheus,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow and print its result.
    Run(RunArgs),
    /// Validate a workflow without running anything.
    Validate(ValidateArgs),
    /// Inspect plugins and node types.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Print a workflow as Graphviz DOT, coloured by a result if given.
    Graph(GraphArgs),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run a workflow and print the registry's metrics.
    Stats(StatsArgs),
    /// Serve workflows over HTTP: webhooks, the /v1 API, health, metrics.
    Serve(ServeArgs),
    /// Run executions from the shared PostgreSQL queue (scale-out): claims
    /// due executions, runs them, serves only health and metrics.
    Worker(WorkerArgs),
    /// The dbal's database: destructive schema migrations.
    #[command(subcommand)]
    Db(DbCommand),
}

/// `plugflow db ...`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show (and with `--apply`, make) the table rebuilds that fields
    /// removed or retyped in entity schemas need. Additive changes need
    /// none: they are applied when an entity is first used.
    Migrate {
        /// Rebuild the tables (without it, only the plan is shown).
        #[arg(long)]
        apply: bool,
    },
}

/// `plugflow serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (overrides `[serve] listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// The workflows directory (overrides `[serve] workflows`).
    #[arg(long)]
    pub workflows: Option<PathBuf>,
    /// The SQLite file executions are recorded in (overrides `[serve] store`).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Claim loops in this process (overrides `[serve] workers`); with a
    /// PostgreSQL database, 0 makes it API-only: it enqueues and `plugflow
    /// worker` processes run the executions.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// `plugflow worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The address of its health and metrics endpoints (default: any free
    /// port on 127.0.0.1, logged at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The workflows directory (overrides `[serve] workflows`): the same
    /// files the API processes serve.
    #[arg(long)]
    pub workflows: Option<PathBuf>,
    /// Claim loops (overrides `[serve] workers`; at least 1).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// `plugflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file (MetaBuilder v3 JSON).
    pub workflow: PathBuf,
    #[command(flatten)]
    pub run: RunOptionsArgs,
    /// Pretty output shows each node's output whole (on one line) instead
    /// of its first 80 characters.
    #[arg(long)]
    pub full: bool,
}

/// Options shared by `run` and `stats`.
#[derive(Debug, Args)]
pub struct RunOptionsArgs {
    /// Trigger data (`$json`): JSON text, or @FILE.
    #[arg(long, default_value = "{}")]
    pub input: String,
    #[command(flatten)]
    pub who: WhoArgs,
    /// Environment variables templates may read as `$env.NAME` (repeatable).
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// Execution timeout in seconds (overrides settings.executionTimeout).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Largest `--input` accepted, in bytes (default 16 MiB; also the
    /// configuration's `max-input-bytes`).
    #[arg(long, env = "PLUGFLOW_MAX_INPUT_BYTES", value_name = "BYTES")]
    pub max_input_bytes: Option<u64>,
}

/// Who a run is for and what it is given: shared by `run`, `stats` and
/// `validate`.
#[derive(Debug, Args)]
pub struct WhoArgs {
    /// The tenant to run as (default: the workflow's `tenantId`).
    #[arg(long, env = "PLUGFLOW_TENANT")]
    pub tenant: Option<String>,
    /// The user to run as (`$context.user`): an id, a JSON object
    /// (`{"id": "u1", "level": 3, "roles": ["admin"]}`) or @FILE.
    #[arg(long)]
    pub user: Option<String>,
    /// A workflow variable's value (`$workflow.variables.NAME`): NAME=VALUE,
    /// VALUE as JSON when it parses, else as text (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// References that resolve to nothing are errors, as with
    /// `settings.strictTemplates`.
    #[arg(long)]
    pub strict: bool,
}

/// `plugflow validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    #[command(flatten)]
    pub who: WhoArgs,
}

/// Whether `text` is a log level, or a filter of `target=level` directives
/// whose levels are all valid.
pub fn is_log_level(text: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let level = |l: &str| LEVELS.contains(&l.trim().to_ascii_lowercase().as_str());
    !text.trim().is_empty()
        && text
            .split(',')
            .all(|directive| match directive.split_once('=') {
                Some((target, l)) => !target.trim().is_empty() && level(l),
                None => level(directive),
            })
}

/// `plugflow plugins ...`.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List node types (built-ins and loaded plugins).
    List,
    /// Show one node type (metadata, schema, version, source), or a plugin
    /// library's manifest without registering it (given a file path).
    Inspect {
        /// A node type, or a plugin library file (`.so`, `.dylib`, `.dll`).
        target: String,
    },
    /// Write a ready plugin crate: one node type, tests with the plugin
    /// test kit, a README and a sample workflow.
    New {
        /// The crate's name (lowercase letters, digits, `-`, `_`); its node
        /// type is `NAME.hello`.
        name: String,
        /// Where to write it (default: `./NAME`; must not exist or be
        /// empty).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The plugflow checkout whose plugin-abi and test kit the crate
        /// builds against (default: the one this binary was built from, if
        /// present).
        #[arg(long, value_name = "DIR", conflicts_with = "published")]
        plugflow_path: Option<PathBuf>,
        /// Depend on the published crates by version instead of a
        /// checkout.
        #[arg(long)]
        published: bool,
    },
    /// Scan a directory and report every file: loaded or rejected, why.
    Check {
        /// The directory.
        dir: PathBuf,
    },
    /// The persistent plugin cache.
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// `plugflow plugins cache`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Every cached plugin file: outcome, node types, hash, when checked.
    Show,
    /// Deletes the cache: every library is checked again at the next start.
    Clear,
}

/// `plugflow graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    /// A result (from `plugflow run --output json`) to colour nodes by.
    #[arg(long)]
    pub result: Option<PathBuf>,
}

/// `plugflow audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of an audit log.
    Verify {
        /// The audit log file.
        log: PathBuf,
    },
}

/// `plugflow stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    #[command(flatten)]
    pub run: RunOptionsArgs,
    /// Metrics format.
    #[arg(long, value_enum, default_value_t = MetricsFormat::Json)]
    pub metrics: MetricsFormat,
}
