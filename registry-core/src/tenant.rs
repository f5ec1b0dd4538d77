//! Tenant policies: which node types a tenant may run, how strictly its
//! data is isolated, whether its executions are audited.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, NodeFailure};
use crate::process_tier::ExecutionTier;

/// How strictly a tenant's data is separated from other tenants'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataIsolation {
    /// Filters of tenant-scoped nodes get the tenant predicate AND-ed on,
    /// written records get the tenant forced, outputs are checked.
    #[default]
    Strict,
    /// The host does not rewrite or check; the node types' own scoping
    /// (the dbal SQL, for instance) is relied on.
    Relaxed,
}

/// One tenant's policy, with MetaBuilder's field names.
///
/// ```
/// use registry_core::TenantPolicy;
/// let policy: TenantPolicy = serde_json::from_str(r#"{
///     "tenantId": "acme",
///     "allowedNodeTypes": ["string.*", "math.add"],
///     "restrictedNodeTypes": ["string.format"]
/// }"#).unwrap();
/// assert!(policy.allows("string.upper"));
/// assert!(!policy.allows("string.format"));
/// assert!(!policy.allows("http-request"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantPolicy {
    /// The tenant.
    pub tenant_id: String,
    /// When non-empty, only these node types (patterns like `string.*`).
    #[serde(default)]
    pub allowed_node_types: Vec<String>,
    /// Never these node types (patterns allowed); wins over the allow list.
    #[serde(default)]
    pub restricted_node_types: Vec<String>,
    /// Strict (default) or relaxed data isolation.
    #[serde(default)]
    pub data_isolation: DataIsolation,
    /// Write one audit record per node execution.
    #[serde(default)]
    pub audit_logging: bool,
    /// May run workflows that declare another tenant, when the workflow's
    /// `multiTenancy.allowCrossTenantAccess` is true as well.
    #[serde(default)]
    pub allow_cross_tenant_access: bool,
    /// Further allow lists that must all admit a node type too (set by
    /// [`TenantPolicy::tightened_by`]; an empty list admits everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_allowed: Vec<Vec<String>>,
    /// `process`: every node type from a plugin library runs in a
    /// plugin-host process of this tenant's own (one per library), for
    /// tenants whose workflows may run untrusted plugins. Unset or
    /// `in-process`: the plugin's configured tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_isolation: Option<ExecutionTier>,
}

/// Whether `node_type` matches `pattern`: exact, `*` for everything, or a
/// glob with `*` wildcards (`string.*`, `dbal-*`, `*.read`).
pub fn pattern_matches(pattern: &str, node_type: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == node_type;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !node_type.starts_with(first)
        || node_type.len() < first.len() + last.len()
        || !node_type.ends_with(last)
    {
        return false;
    }
    let mut rest = &node_type[first.len()..node_type.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl TenantPolicy {
    /// A policy for `tenant_id` allowing everything, strict isolation.
    pub fn new(tenant_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            ..Self::default()
        }
    }

    /// Whether the tenant may run `node_type`: not restricted, and on the
    /// allow list when there is one.
    pub fn allows(&self, node_type: &str) -> bool {
        let restricted = self
            .restricted_node_types
            .iter()
            .any(|p| pattern_matches(p, node_type));
        let admits = |list: &Vec<String>| {
            list.is_empty() || list.iter().any(|p| pattern_matches(p, node_type))
        };
        !restricted && admits(&self.allowed_node_types) && self.also_allowed.iter().all(admits)
    }

    /// `Ok` when allowed, else `NODE_TYPE_DISABLED_FOR_TENANT`.
    pub fn check(&self, node_type: &str) -> Result<(), NodeFailure> {
        if self.allows(node_type) {
            Ok(())
        } else {
            Err(NodeFailure::new(
                ErrorCode::NodeTypeDisabledForTenant,
                format!(
                    "node type `{node_type}` is not allowed for tenant `{}`; ask an administrator to add it to the tenant's allowedNodeTypes (or remove it from restrictedNodeTypes)",
                    self.tenant_id
                ),
            ))
        }
    }

    /// The stricter combination of this policy and `other`: both allow
    /// lists must admit a node type, either restriction excludes it, strict
    /// isolation and auditing win. Used to tighten a tenant policy with a
    /// workflow's own `multiTenancy` block; it can never loosen it.
    pub fn tightened_by(&self, other: &TenantPolicy) -> TenantPolicy {
        let mut also_allowed = self.also_allowed.clone();
        also_allowed.push(other.allowed_node_types.clone());
        also_allowed.extend(other.also_allowed.iter().cloned());
        also_allowed.retain(|list| !list.is_empty());
        let mut restricted = self.restricted_node_types.clone();
        restricted.extend(other.restricted_node_types.iter().cloned());
        TenantPolicy {
            tenant_id: self.tenant_id.clone(),
            allowed_node_types: self.allowed_node_types.clone(),
            restricted_node_types: restricted,
            data_isolation: if self.data_isolation == DataIsolation::Strict
                || other.data_isolation == DataIsolation::Strict
            {
                DataIsolation::Strict
            } else {
                DataIsolation::Relaxed
            },
            audit_logging: self.audit_logging || other.audit_logging,
            allow_cross_tenant_access: self.allow_cross_tenant_access
                && other.allow_cross_tenant_access,
            also_allowed,
            plugin_isolation: if self.forces_process_tier() || other.forces_process_tier() {
                Some(ExecutionTier::Process)
            } else {
                self.plugin_isolation.or(other.plugin_isolation)
            },
        }
    }

    /// Whether the policy runs library node types in plugin-host
    /// processes of the tenant's own.
    pub fn forces_process_tier(&self) -> bool {
        self.plugin_isolation == Some(ExecutionTier::Process)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches("string.*", "string.upper"));
        assert!(!pattern_matches("string.*", "strings.upper"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("dbal-*", "dbal-read"));
        assert!(pattern_matches("*.read", "dbal.read"));
        assert!(pattern_matches("a*b*c", "aXbYc"));
        assert!(!pattern_matches("a*b*c", "aXcYb"));
        assert!(!pattern_matches("ab*ba", "aba"));
    }

    #[test]
    fn restriction_wins_over_allow_list() {
        let policy = TenantPolicy {
            allowed_node_types: vec!["*".into()],
            restricted_node_types: vec!["http-request".into()],
            ..TenantPolicy::new("t")
        };
        assert!(!policy.allows("http-request"));
        assert!(policy.allows("string.upper"));
        let failure = policy.check("http-request").unwrap_err();
        assert_eq!(failure.code, ErrorCode::NodeTypeDisabledForTenant);
    }

    #[test]
    fn tightening_never_loosens() {
        let tenant = TenantPolicy {
            allowed_node_types: vec!["string.*".into()],
            data_isolation: DataIsolation::Strict,
            ..TenantPolicy::new("t")
        };
        let workflow = TenantPolicy {
            allowed_node_types: vec!["*".into()],
            restricted_node_types: vec!["string.format".into()],
            data_isolation: DataIsolation::Relaxed,
            ..TenantPolicy::new("t")
        };
        let tight = tenant.tightened_by(&workflow);
        assert!(tight.allows("string.upper"));
        assert!(!tight.allows("string.format"));
        assert!(!tight.allows("math.add"));
        assert_eq!(tight.data_isolation, DataIsolation::Strict);
    }
}
