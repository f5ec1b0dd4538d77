//! Stage 3: the data-isolation rewrite (layer 2) and the credentials
//! (layer 4) a call carries to its plugin.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::call::NodeCall;
use crate::credentials::Secrets;
use crate::error::{ErrorCode, NodeFailure};
use crate::isolation::scope_parameters;
use crate::registry::{RegisteredNode, Registry};
use crate::tenant::DataIsolation;

/// What crosses the boundary besides the call: the (possibly rewritten)
/// parameters and the resolved credentials.
pub(super) struct Prepared<'p> {
    pub(super) parameters: Cow<'p, Value>,
    pub(super) credentials: Map<String, Value>,
}

impl Registry {
    /// Rewrites the parameters of a tenant-scoped node type and resolves
    /// the node's credentials for its tenant (their secrets go to
    /// `secrets`, to be masked in the outcome).
    pub(super) fn prepare<'p>(
        &self,
        node: &RegisteredNode,
        call: &NodeCall<'p>,
        secrets: &mut Secrets,
    ) -> Result<Prepared<'p>, NodeFailure> {
        let parameters = isolate(node, call)?;
        let (credentials, found) = self
            .credentials()
            .resolve(call.context.tenant_id.as_deref(), call.credentials)?;
        *secrets = found;
        Ok(Prepared {
            parameters,
            credentials,
        })
    }
}

/// For a tenant-scoped node type under strict isolation: every filter is
/// AND-ed with the tenant and every record written is forced to it.
fn isolate<'p>(node: &RegisteredNode, call: &NodeCall<'p>) -> Result<Cow<'p, Value>, NodeFailure> {
    if !node.metadata().manifest.tenant_scoped {
        return Ok(Cow::Borrowed(call.parameters));
    }
    let Some(tenant) = call.context.tenant_id.as_deref() else {
        return Err(NodeFailure::new(
            ErrorCode::InvalidParameters,
            format!(
                "`{}` reads or writes tenant data and needs a tenant in the execution context; run it with a tenant id (for the CLI: --tenant)",
                node.metadata().node_type()
            ),
        ));
    };
    if call
        .policy
        .is_some_and(|p| p.data_isolation != DataIsolation::Strict)
    {
        return Ok(Cow::Borrowed(call.parameters));
    }
    Ok(
        match scope_parameters(call.parameters, tenant, call.tenant_field)? {
            Some(scoped) => Cow::Owned(scoped),
            None => Cow::Borrowed(call.parameters),
        },
    )
}
