//! Registries the integration tests share: plugin libraries loaded from a
//! temporary directory, an audited tenant, the dbal database.

use std::path::{Path, PathBuf};

use loader::{DiscoveryConfig, Loader};
use registry_core::{AuditLog, Registry, TenantPolicy};
use serde_json::{json, Map};

use crate::install;

/// Copies `libraries` into a new temporary directory and loads them into
/// `registry`; every one must load. Keep the directory while the registry
/// is in use.
pub fn load_libraries(registry: &Registry, libraries: &[&str]) -> tempfile::TempDir {
    load_libraries_on(registry, libraries, &Tier::InProcess).0
}

/// Where the libraries' node types execute in a test.
#[derive(Debug, Clone)]
pub enum Tier {
    /// In the test process.
    InProcess,
    /// In plugin-host children started as this program (the tests'
    /// `test-plugin-host` binary, or `plugflow`) with `__plugin-host`.
    Process(PathBuf),
}

/// Like [`load_libraries`], on `tier`; also returns the loader (its
/// plugin hosts live as long as the registry's node types).
pub fn load_libraries_on(
    registry: &Registry,
    libraries: &[&str],
    tier: &Tier,
) -> (tempfile::TempDir, Loader) {
    let dir = tempfile::tempdir().expect("temp dir");
    install(dir.path(), libraries);
    let mut config = DiscoveryConfig::with_directories([dir.path()]);
    if let Tier::Process(program) = tier {
        config.execution_isolation = registry_core::ExecutionTier::Process;
        config.scanner = Some(vec![
            program.display().to_string(),
            loader::SCANNER_ARG.to_owned(),
        ]);
        config.plugin_host.command = Some(vec![
            program.display().to_string(),
            loader::PLUGIN_HOST_ARG.to_owned(),
        ]);
    }
    let loader = Loader::new(config);
    let report = loader.discover(registry);
    assert_eq!(report.totals.loaded, libraries.len(), "{report:#?}");
    (dir, loader)
}

/// A registry with plugin libraries loaded and tenant `tenant` audited to
/// a log file of its own.
pub struct AuditedHost {
    /// The registry.
    pub registry: Registry,
    /// The audit log file.
    pub audit: PathBuf,
    /// The plugin and audit directories, kept for the registry's lifetime.
    pub dirs: (tempfile::TempDir, tempfile::TempDir),
    /// The loader, with the plugin hosts of the process tier.
    pub loader: Loader,
}

impl AuditedHost {
    /// `registry` with `libraries` loaded and `tenant` audited.
    pub fn new(registry: Registry, libraries: &[&str], tenant: &str) -> Self {
        Self::on(registry, libraries, tenant, &Tier::InProcess)
    }

    /// Like [`Self::new`], the libraries executing on `tier`.
    pub fn on(registry: Registry, libraries: &[&str], tenant: &str, tier: &Tier) -> Self {
        let (plugins, loader) = load_libraries_on(&registry, libraries, tier);
        let state = tempfile::tempdir().expect("temp dir");
        let audit = state.path().join("audit.jsonl");
        registry.set_audit_log(Some(AuditLog::open(&audit, false).expect("audit log")));
        registry.set_tenant_policy(TenantPolicy {
            audit_logging: true,
            ..TenantPolicy::new(tenant)
        });
        Self {
            registry,
            audit,
            dirs: (plugins, state),
            loader,
        }
    }
}

/// Points the dbal node types of `registry` at the SQLite file `path`.
pub fn set_database(registry: &Registry, path: &Path) {
    let mut config = Map::new();
    config.insert("database".into(), json!(path.display().to_string()));
    for node_type in plugflow_dbal_node_types() {
        registry.set_node_config(node_type, config.clone());
    }
}

/// Points the dbal node types of `registry` at the PostgreSQL database
/// `url`.
pub fn set_database_url(registry: &Registry, url: &str) {
    let mut config = Map::new();
    config.insert("databaseUrl".into(), json!(url));
    for node_type in plugflow_dbal_node_types() {
        registry.set_node_config(node_type, config.clone());
    }
}

/// The node types of the dbal plugin, which share its database setting.
pub fn plugflow_dbal_node_types() -> [&'static str; 4] {
    [
        "dbal-read",
        "dbal-write",
        "metabuilder.database",
        "metabuilder.operation",
    ]
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Current resident set size of this process in bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kb| kb * 1024)
}

/// Peak resident set size of this process in bytes (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kb| kb * 1024)
}
