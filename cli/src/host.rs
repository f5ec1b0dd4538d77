//! Building the host: a registry with the built-ins, plugin directories
//! discovered, policies and the audit log set.

use std::path::PathBuf;
use std::sync::Arc;

use loader::{DiscoveryConfig, DiscoveryReport, Loader, PluginHosts};
use registry_core::{AuditLog, Registry};

use crate::args::Global;
use crate::config::{load_policies, Config};
use crate::error::CliError;

/// A ready registry and what discovery found.
pub struct Host {
    /// The registry.
    pub registry: Arc<Registry>,
    /// The discovery report (empty when no plugin directory is configured).
    pub discovery: DiscoveryReport,
    /// The discovery settings used (for a later rescan).
    pub discovery_config: DiscoveryConfig,
    /// `$env` allowlist from the configuration.
    pub env_allowlist: Vec<String>,
    /// The configuration's input limit.
    pub max_input_bytes: Option<u64>,
    /// The plugin-host processes of process-tier plugins.
    pub plugin_hosts: Arc<PluginHosts>,
}

/// Quarantines and their clearing go to the registry's audit log.
fn audit_plugin_host_events(registry: &Arc<Registry>, hosts: &Arc<PluginHosts>) {
    let registry = Arc::downgrade(registry);
    hosts.set_event_sink(move |event| {
        let Some(registry) = registry.upgrade() else {
            return;
        };
        if let (Some(log), Some(record)) = (registry.audit_log(), event.audit_record()) {
            if let Err(e) = log.append(record) {
                tracing::error!(
                    component = "plugin-host",
                    event = "audit_failed",
                    "cannot audit a plugin-host event: {e}"
                );
            }
        }
    });
}

/// The configuration file, if any.
pub fn config(global: &Global) -> Result<Config, CliError> {
    match &global.config {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    }
}

/// The PostgreSQL URL: `--database-url` / `PLUGFLOW_DATABASE_URL`, else
/// `[database] url`.
pub fn database_url(global: &Global, config: &Config) -> Option<String> {
    global
        .database_url
        .clone()
        .or_else(|| match &config.database {
            Some(crate::config::DatabaseConfig::Table(table)) => table.url.clone(),
            _ => None,
        })
}

/// The discovery configuration: the file's, plus `--plugins`, plus the
/// environment.
pub fn discovery_config(config: &Config, extra: &[PathBuf]) -> Result<DiscoveryConfig, CliError> {
    let mut discovery = config.plugins.clone().unwrap_or_default();
    discovery.directories.extend(extra.iter().cloned());
    scanner_in_this_binary(&mut discovery);
    discovery
        .with_env()
        .map_err(|e| CliError::input(e.to_string()))
}

/// The scanner child of process isolation and the plugin-host child of
/// the process tier are this binary in their modes (see `main`), unless
/// the configuration names others.
pub fn scanner_in_this_binary(discovery: &mut DiscoveryConfig) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    if discovery.scanner.is_none() {
        discovery.scanner = Some(vec![
            exe.display().to_string(),
            loader::SCANNER_ARG.to_owned(),
        ]);
    }
    if discovery.plugin_host.command.is_none() {
        discovery.plugin_host.command = Some(vec![
            exe.display().to_string(),
            loader::PLUGIN_HOST_ARG.to_owned(),
        ]);
    }
}

/// The plugin cache file: `--plugin-cache` / `PLUGFLOW_PLUGIN_CACHE`
/// (`off` disables it), else the configuration's, else the default.
pub fn cache_file(global: &Global, discovery: &DiscoveryConfig) -> Option<PathBuf> {
    match global.plugin_cache.as_deref() {
        Some("off") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => discovery
            .cache_file
            .clone()
            .or_else(loader::default_cache_path),
    }
}

/// Builds the host for `global`.
pub fn build(global: &Global) -> Result<Host, CliError> {
    let config = config(global)?;
    let registry = Registry::with_config(config.registry.unwrap_or_default());
    for definition in crate::builtins::definitions() {
        loader::register_linked_plugin(&registry, definition)
            .map_err(|e| CliError::failed(format!("built-in plugin failed to register: {e}")))?;
    }
    let db = global.db.clone().or_else(|| {
        config
            .database
            .as_ref()
            .and_then(|d| d.path().map(Into::into))
    });
    let entities = config.database.as_ref().and_then(|d| d.entities());
    let url = database_url(global, &config);
    if db.is_some() || entities.is_some() || url.is_some() {
        let mut settings = serde_json::Map::new();
        match (&url, &db) {
            (Some(url), db) => {
                if db.is_some() {
                    tracing::warn!(
                        component = "cli",
                        "both a PostgreSQL url and a SQLite file are configured for the dbal; the url wins"
                    );
                }
                settings.insert("databaseUrl".into(), serde_json::Value::String(url.clone()));
            }
            (None, Some(db)) => {
                settings.insert(
                    "database".into(),
                    serde_json::Value::String(db.display().to_string()),
                );
            }
            (None, None) => {}
        }
        if let Some(dir) = entities {
            // Checked now, so a broken schema stops start-up with every
            // problem named, not the first workflow that writes.
            plugflow_dbal::entity::load_dir(dir).map_err(|errors| {
                CliError::config(format!(
                    "entity schemas in {}: {}",
                    dir.display(),
                    plugflow_dbal::entity::describe(&errors)
                ))
            })?;
            settings.insert(
                "entities".into(),
                serde_json::Value::String(dir.display().to_string()),
            );
        }
        for node_type in [
            "dbal-read",
            "dbal-write",
            "metabuilder.database",
            "metabuilder.operation",
        ] {
            registry.set_node_config(node_type, settings.clone());
        }
    }
    let mut http = serde_json::Map::new();
    if let Some(egress) = &config.http_egress {
        http.insert("egress".into(), serde_json::json!(egress));
    }
    if config
        .http
        .as_ref()
        .is_some_and(|h| h.allow_internal_addresses)
    {
        http.insert("allowInternal".into(), serde_json::Value::Bool(true));
    }
    if !http.is_empty() {
        registry.set_node_config("http-request", http);
    }
    if config.smtp.is_some() || config.email_templates.is_some() {
        let mut settings = serde_json::Map::new();
        if let Some(smtp) = &config.smtp {
            settings.insert("smtp".into(), serde_json::json!(smtp));
        }
        if let Some(dir) = &config.email_templates {
            settings.insert(
                "templateDir".into(),
                serde_json::Value::String(dir.display().to_string()),
            );
        }
        registry.set_node_config("email-send", settings);
    }
    let mut discovery = discovery_config(&config, &global.plugins)?;
    discovery.cache_file = cache_file(global, &discovery);
    discovery.isolation = match (global.isolation, &discovery.cache_file) {
        (Some(isolation), _) => isolation.into(),
        // New or changed files are checked in a scanner process; cached
        // ones are not opened at all.
        (None, Some(_)) => loader::Isolation::Process,
        (None, None) => discovery.isolation,
    };
    if let Some(tier) = global.execution_isolation {
        discovery.execution_isolation = tier.into();
    }
    let loader = Loader::new(discovery.clone());
    let report = if discovery.directories.is_empty() {
        DiscoveryReport::default()
    } else {
        loader.discover(&registry)
    };
    for issue in &report.issues {
        if !issue.path.exists() {
            return Err(CliError::input(format!(
                "plugin directory {} does not exist",
                issue.path.display()
            )));
        }
    }
    for credential in &config.credentials {
        let resolved = credential
            .resolve()
            .map_err(|e| CliError::config(format!("configuration: {e}")))?;
        registry
            .credentials()
            .insert(&credential.tenant_id, resolved);
    }
    let mut policies = config.policies.clone();
    if let Some(path) = &global.policy {
        policies.extend(load_policies(path)?);
    }
    crate::config::check_unique_policies(&policies)?;
    for policy in policies {
        registry.set_tenant_policy(policy);
    }
    if let Some(path) = global.audit_log.clone().or(config.audit_log.clone()) {
        let log = AuditLog::open(&path, false).map_err(|e| CliError::input(e.to_string()))?;
        registry.set_audit_log(Some(log));
    }
    let registry = Arc::new(registry);
    audit_plugin_host_events(&registry, loader.plugin_hosts());
    Ok(Host {
        plugin_hosts: Arc::clone(loader.plugin_hosts()),
        registry,
        discovery: report,
        discovery_config: discovery,
        env_allowlist: config.env_allowlist,
        max_input_bytes: config.max_input_bytes,
    })
}
