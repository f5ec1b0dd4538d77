//! Stage 1: may this tenant run this node type, and is it registered.

use crate::call::NodeCall;
use crate::error::{ErrorCode, NodeFailure};
use crate::registry::{RegisteredNode, Registry};
use crate::tenant::TenantPolicy;

impl Registry {
    /// The tenant check (isolation layer 1) and the lookup (executor cache).
    pub(super) fn admit(&self, call: &NodeCall<'_>) -> Result<RegisteredNode, NodeFailure> {
        if let Some(policy) = call.policy {
            policy.check(call.node_type)?;
        }
        let node = self
            .get(call.node_type)
            .ok_or_else(|| NodeFailure::not_found(call.node_type))?;
        if let Some(policy) = call.policy {
            self.check_dependencies(policy, &node)?;
        }
        Ok(node)
    }

    /// A node type is only as allowed as everything it depends on: a
    /// tenant refused `x` is refused every node type depending on `x`,
    /// directly or through others.
    pub fn check_dependencies(
        &self,
        policy: &TenantPolicy,
        node: &RegisteredNode,
    ) -> Result<(), NodeFailure> {
        let root = node.metadata().node_type();
        let mut pending: Vec<String> = node
            .metadata()
            .manifest
            .dependencies
            .iter()
            .map(|d| d.node_type.clone())
            .collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(dependency) = pending.pop() {
            if !seen.insert(dependency.clone()) {
                continue;
            }
            if !policy.allows(&dependency) {
                return Err(NodeFailure::new(
                    ErrorCode::NodeTypeDisabledForTenant,
                    format!(
                        "node type `{root}` depends on `{dependency}`, which is not allowed for tenant `{}`; a node type is only allowed when everything it depends on is",
                        policy.tenant_id
                    ),
                ));
            }
            if let Some(next) = self.get(&dependency) {
                pending.extend(
                    next.metadata()
                        .manifest
                        .dependencies
                        .iter()
                        .map(|d| d.node_type.clone()),
                );
            }
        }
        Ok(())
    }
}
