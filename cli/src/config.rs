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
    pub http_egress: Option<serde_json::Map<String, serde_json::Value>>,
    /// email-send's SMTP server: `{host, port, starttls, from}`.
    #[serde(default)]
    pub smtp: Option<serde_json::Map<String, serde_json::Value>>,
    /// email-send's template directory (`<name>.txt` files).
    #[serde(default)]
    pub email_templates: Option<PathBuf>,
    /// The dbal nodes' SQLite database file.
    #[serde(default)]
    pub database: Option<PathBuf>,
    /// Environment variables `$env` may read.
    #[serde(default)]
    pub env_allowlist: Vec<String>,
    /// Tenants' credentials, bound by nodes' `credentials` by id.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
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
            if db.is_relative() {
                *db = base.join(&*db);
            }
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

/// Reads a policy file: one policy object or a list of them.
pub fn load_policies(path: &Path) -> Result<Vec<TenantPolicy>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read policy file {}: {e}", path.display())))?;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(TenantPolicy),
        Many(Vec<TenantPolicy>),
    }
    let parsed: OneOrMany = serde_json::from_str(&text)
        .map_err(|e| CliError::input(format!("policy file {}: {e}", path.display())))?;
    Ok(match parsed {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(ps) => ps,
    })
}
