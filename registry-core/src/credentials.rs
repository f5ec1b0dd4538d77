//! Tenant layer 4: a credential store keyed by tenant, and masking of
//! secret values in results, logs and audit records.

use std::collections::HashMap;
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
    /// Its fields; every string value is treated as a secret.
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
        secrets.collect(&Value::Object(credential.fields.clone()));
        for secret in &secrets.0 {
            plugin_abi::host::redact_in_plugin_logs(secret);
        }
        self.by_tenant
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant.to_owned())
            .or_default()
            .insert(credential.id.clone(), credential);
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
                    format!(
                        "credential `{}` for slot `{}` does not exist for tenant `{}`; add it to the tenant's credential store",
                        r.id,
                        r.slot,
                        tenant.unwrap_or("(none)")
                    ),
                )
            })?;
            secrets.collect(&Value::Object(credential.fields.clone()));
            resolved.insert(r.slot.clone(), Value::Object(credential.fields.clone()));
        }
        Ok((resolved, secrets))
    }
}

impl Secrets {
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
