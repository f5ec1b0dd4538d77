//! Tenant layer 4: a credential store keyed by tenant, and masking of
//! secret values in results, logs and audit records.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, NodeFailure};

/// What masked secrets are replaced with.
pub const MASK: &str = "***";

/// A stored credential: its id and its (secret) fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The id workflows refer to it by.
    pub id: String,
    /// Its kind (`api-key`, `smtp`, `basic-auth`, ...).
    #[serde(default)]
    pub kind: String,
    /// Its fields; every string value of at least four bytes is treated
    /// as a secret, except its `type` and `name`.
    pub fields: Map<String, Value>,
}

/// A node's binding of a credential slot to a credential id, as written in
/// a workflow node's `credentials` object (`{"smtp": {"id": "mail-1"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRef {
    /// The slot name the plugin reads.
    pub slot: String,
    /// The credential id.
    pub id: String,
}

/// Where a secret comes from: an environment variable, a file (its content,
/// trailing newline removed), or the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// `{ env = "NAME" }`.
    Env(String),
    /// `{ file = "path" }` (relative to the configuration file).
    File(PathBuf),
    /// `{ value = "..." }`: the secret written inline (a warning is logged).
    Value(String),
}

impl SecretSource {
    /// The secret, read now. Errors say which source is missing.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
            }
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("file {} cannot be read: {e}", path.display())),
            SecretSource::Value(value) => Ok(value.clone()),
        }
    }

    /// A relative file path taken relative to `base`.
    pub fn relative_to(mut self, base: &Path) -> Self {
        if let SecretSource::File(path) = &mut self {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        self
    }
}

/// What kind of credential, which says how plugins use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// `Authorization: Bearer <secret>` (http-request).
    Bearer,
    /// `Authorization: Basic base64(user:secret)` (http-request).
    Basic,
    /// `<header>: <secret>` (http-request).
    Header,
    /// An SMTP login: `user` and `secret` (email-send).
    Smtp,
    /// Anything else: the plugin reads `secret` (and `user`) itself.
    Generic,
}

impl CredentialKind {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Bearer => "bearer",
            CredentialKind::Basic => "basic",
            CredentialKind::Header => "header",
            CredentialKind::Smtp => "smtp",
            CredentialKind::Generic => "generic",
        }
    }
}

/// One `[[credentials]]` table of the configuration file.
///
/// ```
/// use registry_core::CredentialConfig;
/// std::env::set_var("DOC_FRAUD_KEY", "sk-123");
/// let config: CredentialConfig = toml::from_str(r#"
///     tenantId = "acme-corp"
///     id = "cred-fraud-api"
///     name = "Fraud API Key"
///     type = "bearer"
///     secret = { env = "DOC_FRAUD_KEY" }
/// "#).unwrap();
/// let credential = config.resolve().unwrap();
/// assert_eq!(credential.fields["secret"], "sk-123");
/// assert_eq!(credential.fields["type"], "bearer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialConfig {
    /// The tenant that owns it.
    pub tenant_id: String,
    /// What a node's binding names (`"credentials": {"api": {"id": ...}}`).
    pub id: String,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// How plugins use it.
    #[serde(rename = "type")]
    pub kind: CredentialKind,
    /// The secret.
    pub secret: SecretSource,
    /// The user name (basic, smtp).
    #[serde(default)]
    pub user: Option<String>,
    /// The header name (header).
    #[serde(default)]
    pub header: Option<String>,
}

impl CredentialConfig {
    /// Reads the secret and builds the credential the store holds: its
    /// fields are `type`, `name`, `secret`, and `user` / `header` when set
    /// (`username` / `password` too, for SMTP plugins). Errors name the
    /// credential and what is missing.
    pub fn resolve(&self) -> Result<Credential, String> {
        let what = format!("credential `{}` of tenant `{}`", self.id, self.tenant_id);
        match (self.kind, &self.user, &self.header) {
            (CredentialKind::Basic | CredentialKind::Smtp, None, _) => {
                return Err(format!(
                    "{what}: type `{}` needs `user`",
                    self.kind.as_str()
                ))
            }
            (CredentialKind::Header, _, None) => {
                return Err(format!(
                    "{what}: type `header` needs `header` (the header name)"
                ))
            }
            _ => {}
        }
        let secret = self
            .secret
            .read()
            .map_err(|e| format!("{what}: its secret cannot be read: {e}"))?;
        if let SecretSource::Value(_) = self.secret {
            tracing::warn!(component = "credentials", credential = %self.id, tenant_id = %self.tenant_id, "credential secret is written inline in the configuration; prefer `secret = {{ env = \"...\" }}` or `{{ file = \"...\" }}`");
        }
        let mut fields = Map::new();
        fields.insert("type".into(), Value::from(self.kind.as_str()));
        fields.insert(
            "name".into(),
            Value::from(self.name.clone().unwrap_or_default()),
        );
        fields.insert("secret".into(), Value::from(secret.clone()));
        if let Some(user) = &self.user {
            fields.insert("user".into(), Value::from(user.clone()));
            fields.insert("username".into(), Value::from(user.clone()));
            fields.insert("password".into(), Value::from(secret));
        }
        if let Some(header) = &self.header {
            fields.insert("header".into(), Value::from(header.clone()));
        }
        Ok(Credential {
            id: self.id.clone(),
            kind: self.kind.as_str().to_owned(),
            fields,
        })
    }
}

/// Credentials per tenant. A node resolves only its own tenant's.
#[derive(Debug, Default)]
pub struct CredentialStore {
    by_tenant: RwLock<HashMap<String, HashMap<String, Credential>>>,
}

/// Secret strings to mask, collected from resolved credentials.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl CredentialStore {
    /// Stores `credential` for `tenant`, replacing one with the same id.
    pub fn insert(&self, tenant: &str, credential: Credential) {
        // Plugins' forwarded log lines never show a secret either.
        let mut secrets = Secrets::default();
        secrets.collect_fields(&credential.fields);
        for secret in &secrets.0 {
            crate::plugin_host::redact_in_plugin_logs(secret);
        }
        self.by_tenant
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant.to_owned())
            .or_default()
            .insert(credential.id.clone(), credential);
    }

    /// Whether `tenant` has a credential `id`.
    pub fn contains(&self, tenant: &str, id: &str) -> bool {
        self.by_tenant
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .is_some_and(|m| m.contains_key(id))
    }

    /// Removes a credential.
    pub fn remove(&self, tenant: &str, id: &str) -> Option<Credential> {
        self.by_tenant
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(tenant)
            .and_then(|m| m.remove(id))
    }

    /// Resolves `refs` for `tenant`: slot → fields, plus the secrets to mask.
    /// A credential of another tenant is as missing as one that does not
    /// exist: `CREDENTIAL_MISSING`, naming the slot and id, never the value.
    pub fn resolve(
        &self,
        tenant: Option<&str>,
        refs: &[CredentialRef],
    ) -> Result<(Map<String, Value>, Secrets), NodeFailure> {
        let mut resolved = Map::new();
        let mut secrets = Secrets::default();
        if refs.is_empty() {
            return Ok((resolved, secrets));
        }
        let store = self
            .by_tenant
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let own = tenant.and_then(|t| store.get(t));
        for r in refs {
            let credential = own.and_then(|m| m.get(&r.id)).ok_or_else(|| {
                NodeFailure::new(
                    ErrorCode::CredentialMissing,
                    match tenant {
                        Some(tenant) => format!(
                            "credential `{}` (slot `{}`) is not configured for tenant `{tenant}`; add a [[credentials]] table with tenantId = \"{tenant}\" and id = \"{}\" to the configuration file",
                            r.id, r.slot, r.id
                        ),
                        None => format!(
                            "credential `{}` (slot `{}`) needs a tenant: credentials belong to tenants; run with a tenant (for the CLI: --tenant) that has a [[credentials]] table with id = \"{}\"",
                            r.id, r.slot, r.id
                        ),
                    },
                )
            })?;
            secrets.collect_fields(&credential.fields);
            resolved.insert(r.slot.clone(), Value::Object(credential.fields.clone()));
        }
        Ok((resolved, secrets))
    }
}

impl Secrets {
    /// A credential's secret values: every string but its `type`, `name`
    /// and `header` (which say what it is, not what it unlocks).
    fn collect_fields(&mut self, fields: &Map<String, Value>) {
        for (key, value) in fields {
            if !matches!(key.as_str(), "type" | "name" | "header") {
                self.collect(value);
            }
        }
    }

    fn collect(&mut self, value: &Value) {
        match value {
            // Very short strings would mask unrelated text; they are no
            // secret worth the name either.
            Value::String(s) if s.len() >= 4 => self.0.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| self.collect(v)),
            Value::Object(o) => o.values().for_each(|v| self.collect(v)),
            _ => {}
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn mask_str(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for secret in &self.0 {
            if masked.contains(secret.as_str()) {
                masked = masked.replace(secret.as_str(), MASK);
            }
        }
        masked
    }

    /// Masks every string inside `value`, in place.
    pub fn mask_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) if self.0.iter().any(|secret| s.contains(secret.as_str())) => {
                *s = self.mask_str(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(o) => o.values_mut().for_each(|v| self.mask_value(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> CredentialStore {
        let store = CredentialStore::default();
        store.insert(
            "a",
            Credential {
                id: "smtp".into(),
                kind: "smtp".into(),
                fields: json!({"user": "alice", "password": "hunter22"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
        );
        store
    }

    #[test]
    fn a_tenant_resolves_only_its_own_credentials() {
        let refs = [CredentialRef {
            slot: "mail".into(),
            id: "smtp".into(),
        }];
        let (resolved, secrets) = store().resolve(Some("a"), &refs).unwrap();
        assert_eq!(resolved["mail"]["password"], "hunter22");
        let failure = store().resolve(Some("b"), &refs).unwrap_err();
        assert_eq!(failure.code, ErrorCode::CredentialMissing);
        assert!(!failure.message.contains("hunter22"));
        let mut out = json!({"echo": "pw is hunter22", "n": [ "alice" ]});
        secrets.mask_value(&mut out);
        assert_eq!(out, json!({"echo": "pw is ***", "n": ["***"]}));
    }
}
