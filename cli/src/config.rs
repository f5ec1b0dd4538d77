//! The configuration file (TOML).

use std::path::{Path, PathBuf};

use loader::DiscoveryConfig;
use registry_core::{CredentialConfig, RegistryConfig, TenantPolicy};
use serde::Deserialize;

use crate::error::CliError;

/// Everything `--config FILE` can set.
///
/// ```toml
/// env-allowlist = ["REGION"]
/// audit-log = "audit.jsonl"
///
/// [plugins]
/// directories = ["plugins"]
/// patterns = ["**/*.so"]
///
/// [registry]
/// maxOutputBytes = 1048576
///
/// [http-egress]
/// acme = ["api.example.com", "*.acme.test"]
///
/// [[policies]]
/// tenantId = "acme"
/// restrictedNodeTypes = ["http-request"]
///
/// [[credentials]]
/// tenantId = "acme"
/// id = "cred-fraud-api"
/// name = "Fraud API Key"
/// type = "bearer"
/// secret = { env = "FRAUD_API_KEY" }
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Plugin discovery.
    #[serde(default)]
    pub plugins: Option<DiscoveryConfig>,
    /// Registry settings (caches, output limit, default timeout).
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
    /// Tenant policies.
    #[serde(default)]
    pub policies: Vec<TenantPolicy>,
    /// The audit log file.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// http-request egress allowlist: tenant id (or `*`) → host patterns.
    #[serde(default)]
    pub http_egress: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// http-request settings beside the allowlist.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// email-send's SMTP server.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// email-send's template directory (`<name>.txt` files).
    #[serde(default)]
    pub email_templates: Option<PathBuf>,
    /// The dbal nodes' SQLite database file.
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    /// Environment variables `$env` may read.
    #[serde(default)]
    pub env_allowlist: Vec<String>,
    /// Tenants' credentials, bound by nodes' `credentials` by id.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// Largest trigger input (`--input`) accepted, in bytes.
    #[serde(default)]
    pub max_input_bytes: Option<u64>,
    /// `plugflow serve`'s settings.
    #[serde(default)]
    pub serve: Option<plugflow_serve::ServeConfig>,
}

/// `database`: the dbal's SQLite file as a path (the first form), or a
/// table: `path`, `entities` (a directory of MetaBuilder entity schemas,
/// JSON or YAML), `url` (PostgreSQL: the service's executions and shared
/// queue).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DatabaseConfig {
    /// `database = "data.db"`.
    Path(PathBuf),
    /// `[database]` with its keys.
    Table(DatabaseTable),
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DatabaseTable {
    /// The SQLite file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The directory of entity schemas.
    #[serde(default)]
    pub entities: Option<PathBuf>,
    /// A PostgreSQL URL: executions and the shared queue of `plugflow
    /// serve` / `plugflow worker`.
    #[serde(default)]
    pub url: Option<String>,
}

impl DatabaseConfig {
    /// The SQLite file, if one is named.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DatabaseConfig::Path(path) => Some(path),
            DatabaseConfig::Table(table) => table.path.as_deref(),
        }
    }

    /// The entity schema directory, if one is named.
    pub fn entities(&self) -> Option<&Path> {
        match self {
            DatabaseConfig::Path(_) => None,
            DatabaseConfig::Table(table) => table.entities.as_deref(),
        }
    }

    fn relative_to(&mut self, base: &Path) {
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match self {
            DatabaseConfig::Path(path) => rebase(path),
            DatabaseConfig::Table(table) => {
                if let Some(path) = &mut table.path {
                    rebase(path);
                }
                if let Some(dir) = &mut table.entities {
                    rebase(dir);
                }
            }
        }
    }
}

/// `[smtp]`: email-send's server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (default 25).
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// Upgrade with STARTTLS.
    #[serde(default)]
    pub starttls: bool,
    /// The default sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

fn smtp_port() -> u16 {
    25
}

/// `[http]`: http-request settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpConfig {
    /// Lets http-request reach loopback, private, link-local and metadata
    /// addresses without naming them in `[http-egress]` (off by default).
    #[serde(default)]
    pub allow_internal_addresses: bool,
}

impl Config {
    /// Reads `path`; relative paths inside are taken relative to the file.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::config(format!("cannot read config {}: {e}", path.display())))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            CliError::config(format!(
                "config {}: {}",
                path.display(),
                e.to_string().replace('\n', " ")
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(plugins) = &mut config.plugins {
            for dir in &mut plugins.directories {
                if dir.is_relative() {
                    *dir = base.join(&*dir);
                }
            }
        }
        if let Some(dir) = &mut config.email_templates {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        if let Some(db) = &mut config.database {
            db.relative_to(base);
        }
        for credential in &mut config.credentials {
            credential.secret = credential.secret.clone().relative_to(base);
        }
        if let Some(log) = &mut config.audit_log {
            if log.is_relative() {
                *log = base.join(&*log);
            }
        }
        Ok(config)
    }
}

/// Reads a policy file: one policy object or a list of them. Errors name
/// the policy and field.
pub fn load_policies(path: &Path) -> Result<Vec<TenantPolicy>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::config(format!("cannot read policy file {}: {e}", path.display()))
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::config(format!(
            "policy file {}: not valid JSON: {e}",
            path.display()
        ))
    })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(CliError::config(format!(
                "policy file {}: expected a policy object or a list of them",
                path.display()
            )))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            serde_path_to_error::deserialize::<_, TenantPolicy>(item).map_err(|e| {
                CliError::config(format!(
                    "policy file {}: policy {i}, field `{}`: {}",
                    path.display(),
                    e.path(),
                    e.inner()
                ))
            })
        })
        .collect()
}

/// Refuses two policies for one tenant: which one wins would be a guess.
pub fn check_unique_policies(policies: &[TenantPolicy]) -> Result<(), CliError> {
    let mut seen = std::collections::HashSet::new();
    for policy in policies {
        if !seen.insert(policy.tenant_id.as_str()) {
            return Err(CliError::config(format!(
                "tenant `{}` has more than one policy (in the configuration and/or --policy); merge them into one",
                policy.tenant_id
            )));
        }
    }
    Ok(())
}
