//! API keys: each maps to one tenant. Keys are held only as SHA-256
//! digests and a presented key is compared with every digest in constant
//! time, so neither timing nor the configuration gives a key away.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ApiKeyConfig, KeySource};

/// The configured keys, hashed.
#[derive(Debug, Default)]
pub struct ApiKeys {
    keys: Vec<([u8; 32], String, bool)>,
}

impl ApiKeys {
    /// Reads every key's source.
    ///
    /// # Errors
    ///
    /// Which key's source cannot be read, or a `sha256` that is not 64 hex
    /// digits.
    pub fn load(config: &[ApiKeyConfig]) -> Result<Self, String> {
        let mut keys = Vec::with_capacity(config.len());
        for (i, entry) in config.iter().enumerate() {
            let what = format!("api key {} (tenant `{}`)", i + 1, entry.tenant_id);
            let digest = match &entry.key {
                KeySource::Sha256(hex_digest) => {
                    let bytes = hex::decode(hex_digest.trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| format!("{what}: `sha256` must be 64 hex digits"))?;
                    bytes
                }
                KeySource::Env(name) => digest(
                    &std::env::var(name)
                        .map_err(|_| format!("{what}: environment variable `{name}` is not set"))?,
                ),
                KeySource::File(path) => digest(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("{what}: {} cannot be read: {e}", path.display()))?
                        .trim_end_matches(['\n', '\r']),
                ),
                KeySource::Value(value) => {
                    tracing::warn!(component = "serve", tenant_id = %entry.tenant_id, "an API key is written inline in the configuration; prefer `key = {{ env = \"...\" }}` or `{{ sha256 = \"...\" }}`");
                    digest(value)
                }
            };
            if entry.tenant_id.trim().is_empty() {
                return Err(format!("{what}: `tenantId` is empty"));
            }
            keys.push((digest, entry.tenant_id.clone(), entry.admin));
        }
        Ok(Self { keys })
    }

    /// The tenant of `key`, or `None`. Every configured digest is compared,
    /// each in constant time.
    pub fn tenant_of(&self, key: &str) -> Option<&str> {
        self.caller(key).map(|(tenant, _)| tenant)
    }

    /// The tenant of `key` and whether the key is an admin key.
    pub fn caller(&self, key: &str) -> Option<(&str, bool)> {
        let presented = digest(key);
        let mut found = None;
        for (held, tenant, admin) in &self.keys {
            if bool::from(held.ct_eq(&presented)) {
                found = Some((tenant.as_str(), *admin));
            }
        }
        found
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` when no key is configured (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::load(&[
            ApiKeyConfig {
                tenant_id: "acme".into(),
                key: KeySource::Value("k-acme".into()),
                admin: false,
            },
            ApiKeyConfig {
                tenant_id: "globex".into(),
                key: KeySource::Sha256(hex::encode(Sha256::digest(b"k-globex"))),
                admin: true,
            },
        ])
        .unwrap()
    }

    #[test]
    fn a_key_maps_to_its_tenant() {
        assert_eq!(keys().tenant_of("k-acme"), Some("acme"));
        assert_eq!(keys().tenant_of("k-globex"), Some("globex"));
    }

    #[test]
    fn only_an_admin_key_is_admin() {
        assert_eq!(keys().caller("k-acme"), Some(("acme", false)));
        assert_eq!(keys().caller("k-globex"), Some(("globex", true)));
    }

    #[test]
    fn an_unknown_key_maps_to_nothing() {
        assert_eq!(keys().tenant_of("k-acm"), None);
        assert_eq!(keys().tenant_of(""), None);
    }

    #[test]
    fn a_malformed_digest_is_refused() {
        let err = ApiKeys::load(&[ApiKeyConfig {
            tenant_id: "acme".into(),
            key: KeySource::Sha256("abc".into()),
            admin: false,
        }])
        .unwrap_err();
        assert!(err.contains("64 hex digits"), "{err}");
    }
}
