//! The end of an execution: every node's result, in order, with metrics.

use std::sync::Arc;
use std::time::Instant;

use crate::execution::Execution;
use crate::result::{ExecutionResult, NodeResult, RunMetrics, RunStatus};
use crate::state::RunState;
use registry_core::{ErrorCode, NodeStatus};

impl<'a> Execution<'a> {
    /// The final result.
    pub(crate) fn conclude(
        &self,
        mut run: RunState<'a>,
        ended: Option<(RunStatus, String, ErrorCode)>,
        started: Instant,
    ) -> ExecutionResult {
        let graph = &self.compiled.graph;
        let (status, error) = match (ended, run.stopped.take()) {
            (Some((status, reason, _)), _) => (status, Some(reason)),
            (None, Some(stop)) => (RunStatus::Error, Some(stop.reason)),
            (None, None) => (RunStatus::Success, None),
        };
        let mut metrics = RunMetrics {
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            ..RunMetrics::default()
        };
        let execution_order = run.order.iter().map(|&i| graph.ids[i].clone()).collect();
        // Built in bulk (sorted once) rather than by one insert per node.
        let mut nodes = Vec::with_capacity(graph.ids.len());
        for (i, (mut result, step)) in run.results.into_iter().zip(run.steps).enumerate() {
            if let Some(step) = step {
                if result.status != NodeStatus::Skipped || !step.output.is_null() {
                    result.output =
                        Arc::try_unwrap(step.output).unwrap_or_else(|shared| (*shared).clone());
                }
            }
            count(&mut metrics, &result);
            nodes.push((graph.ids[i].clone(), result));
        }
        let nodes: std::collections::BTreeMap<_, _> = nodes.into_iter().collect();
        metrics.nodes_run = metrics.nodes_succeeded + metrics.nodes_failed;
        tracing::info!(component = "engine", event = "execution_finished", workflow = %self.compiled.workflow.id, execution_id = %self.context.execution_id, status = ?status, duration_ms = metrics.total_ms);
        ExecutionResult {
            execution_id: self.context.execution_id.clone(),
            workflow_id: self.compiled.workflow.id.clone(),
            status,
            error,
            nodes,
            execution_order,
            metrics,
        }
    }
}

fn count(metrics: &mut RunMetrics, result: &NodeResult) {
    match result.status {
        NodeStatus::Success => metrics.nodes_succeeded += 1,
        NodeStatus::Error => metrics.nodes_failed += 1,
        NodeStatus::Skipped => metrics.nodes_skipped += 1,
        NodeStatus::Pending => metrics.nodes_pending += 1,
        NodeStatus::Cancelled => metrics.nodes_cancelled += 1,
    }
    metrics.retries += result.retries;
    metrics.node_ms += result.duration_ms;
}
