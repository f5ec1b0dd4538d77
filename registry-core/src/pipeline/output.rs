//! Stage 5: in strict isolation, a tenant-scoped node's output must hold
//! only the tenant's records (layer 3); otherwise it is withheld.

use plugin_abi::request::NodeOutput;

use crate::call::NodeCall;
use crate::error::{ErrorCode, NodeFailure};
use crate::isolation::foreign_record;
use crate::registry::{RegisteredNode, Registry};
use crate::tenant::DataIsolation;

impl Registry {
    /// Withholds an output holding another tenant's record, and counts the
    /// violation.
    pub(super) fn check_output(
        &self,
        node: &RegisteredNode,
        output: &NodeOutput,
        call: &NodeCall<'_>,
    ) -> Result<(), NodeFailure> {
        let (Some(policy), Some(tenant)) = (call.policy, call.context.tenant_id.as_deref()) else {
            return Ok(());
        };
        if !node.metadata().manifest.tenant_scoped || policy.data_isolation != DataIsolation::Strict
        {
            return Ok(());
        }
        let Some(path) = foreign_record(&output.output, tenant, call.tenant_field) else {
            return Ok(());
        };
        self.metrics.tenant_violation();
        tracing::error!(
            component = "registry",
            event = "tenant_violation",
            node_type = node.metadata().node_type(),
            tenant_id = tenant,
            path = %path,
            "output withheld: it holds a record of another tenant"
        );
        Err(NodeFailure::new(
            ErrorCode::ExecutionError,
            format!(
                "output of `{}` was withheld: the record at `{path}` does not belong to tenant `{tenant}` (a tenant-isolation violation, reported to the operators)",
                node.metadata().node_type()
            ),
        ))
    }
}
