//! Stage 7: what leaves the pipeline — secrets masked in the outcome, one
//! audit record when the tenant's policy asks for it, the metrics, a log
//! line.

use std::time::{Instant, SystemTime};

use crate::audit::AuditRecord;
use crate::call::NodeCall;
use crate::credentials::Secrets;
use crate::error::ErrorCode;
use crate::execution::NodeExecution;
use crate::metrics::Observation;
use crate::registry::Registry;

use super::recover::Recovery;

/// The span around one node call, with the structured-log fields.
pub(super) fn span(call: &NodeCall<'_>) -> tracing::Span {
    tracing::debug_span!(
        "node",
        component = "registry",
        node_type = call.node_type,
        node_id = call.node_id,
        tenant_id = call.context.tenant_id.as_deref().unwrap_or(""),
        execution_id = %call.context.execution_id,
    )
}

impl Registry {
    /// Masks secrets, then writes the audit record and the metrics.
    pub(super) fn record(
        &self,
        call: &NodeCall<'_>,
        mut execution: NodeExecution,
        recovery: Recovery,
        secrets: &Secrets,
        started: Instant,
    ) -> NodeExecution {
        // Secrets never leave the pipeline.
        secrets.mask_value(&mut execution.output);
        if let Some(error) = &mut execution.error {
            error.message = secrets.mask_str(&error.message);
            if let Some(details) = &mut error.details {
                secrets.mask_value(details);
            }
        }
        execution.duration = started.elapsed();
        self.audit(call, &execution);
        self.metrics.observe(Observation {
            node_type: call.node_type,
            status: execution.status,
            error: execution.error_code(),
            duration: execution.duration,
            // Retries made before a suspension were counted then.
            retries: execution.retries.saturating_sub(call.retries_done),
            recovery,
        });
        tracing::debug!(
            component = "registry",
            event = "node_executed",
            node_type = call.node_type,
            node_id = call.node_id,
            tenant_id = call.context.tenant_id.as_deref().unwrap_or(""),
            execution_id = %call.context.execution_id,
            duration_us = u64::try_from(execution.duration.as_micros()).unwrap_or(u64::MAX),
            status = execution.status.as_str(),
            error_code = execution.error_code().map(ErrorCode::as_str).unwrap_or(""),
        );
        execution
    }

    /// One audit record when the policy asks for it.
    fn audit(&self, call: &NodeCall<'_>, execution: &NodeExecution) {
        if !call.policy.is_some_and(|p| p.audit_logging) {
            return;
        }
        let Some(log) = self.audit_log() else {
            tracing::warn!(
                component = "registry",
                event = "audit_unconfigured",
                node_type = call.node_type,
                "tenant policy asks for audit logging but no audit log is configured"
            );
            return;
        };
        let record = AuditRecord {
            seq: 0,
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            tenant_id: call.context.tenant_id.clone(),
            execution_id: call.context.execution_id.clone(),
            node_id: call.node_id.to_owned(),
            node_type: call.node_type.to_owned(),
            status: execution.status.as_str().to_owned(),
            duration_ms: execution.duration.as_secs_f64() * 1000.0,
            error_code: execution.error_code().map(|c| c.as_str().to_owned()),
            retries: execution.retries,
            recovery_applied: execution.recovery_applied,
            prev_hash: String::new(),
            fenced: None,
        };
        if let Err(e) = log.append(record) {
            tracing::error!(
                component = "registry",
                event = "audit_write_failed",
                node_type = call.node_type,
                "{e}"
            );
        }
    }
}
