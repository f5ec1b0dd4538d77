//! One execution's constants, and what turns a node into a registry call:
//! its rendered parameters and its `NodeCall`.

use std::time::{Duration, Instant};

use plugin_abi::request::ExecContext;
use serde_json::{Map, Value};

use crate::compile::CompiledWorkflow;
use crate::expr::Scope;
use crate::result::{RunStatus, RunWarning};
use crate::state::RunState;
use registry_core::{ErrorCode, NodeCall, NodeFailure, Registry, TenantPolicy};

/// What the scheduler needs of its engine.
#[derive(Clone, Copy)]
pub(crate) struct Host<'a> {
    pub registry: &'a Registry,
    pub env: &'a Map<String, Value>,
    pub default_max_concurrency: usize,
}

/// Everything constant during one execution.
pub(crate) struct Execution<'a> {
    pub host: Host<'a>,
    pub compiled: &'a CompiledWorkflow,
    pub context: &'a ExecContext,
    pub context_value: Value,
    pub workflow_value: Value,
    pub policy: Option<&'a TenantPolicy>,
    pub deadline: Option<Instant>,
    pub deadline_ms: Option<u64>,
    pub strict: bool,
    /// Retries made by nodes whose next retry suspended the execution.
    pub resumed_retries: Option<&'a std::collections::BTreeMap<String, u32>>,
    pub suspend_retries_after: Option<Duration>,
}

impl<'a> Execution<'a> {
    pub(crate) fn max_concurrency(&self) -> usize {
        self.compiled
            .workflow
            .settings
            .max_concurrency
            .unwrap_or(self.host.default_max_concurrency)
            .max(1)
    }

    /// Completes at the execution's deadline; never without one.
    pub(crate) async fn deadline_passed(&self) {
        match self.deadline {
            Some(d) => registry_core::sleep_until(d).await,
            None => std::future::pending().await,
        }
    }

    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub(crate) fn timed_out(timeout: Option<Duration>) -> (RunStatus, String, ErrorCode) {
        let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
        (
            RunStatus::Cancelled,
            format!("execution timed out after {secs} s (settings.executionTimeout)"),
            ErrorCode::ExecutionTimeout,
        )
    }

    pub(crate) fn cancelled() -> (RunStatus, String, ErrorCode) {
        (
            RunStatus::Cancelled,
            "execution was cancelled".to_owned(),
            ErrorCode::ExecutionError,
        )
    }

    /// Renders node `i`'s parameters over the current state.
    pub(crate) fn render(
        &self,
        run: &RunState<'_>,
        i: usize,
        input: &Value,
    ) -> Result<(Value, Vec<RunWarning>), NodeFailure> {
        let scope = Scope {
            json: &run.trigger,
            input,
            steps: run,
            context: &self.context_value,
            workflow: &self.workflow_value,
            vars: &run.vars,
            trigger: &run.trigger,
            env: self.host.env,
            item: None,
            index: None,
            deadline: self.deadline,
        };
        let mut unresolved = Vec::new();
        let rendered = self.compiled.params[i]
            .render(&scope, &mut unresolved)
            .map_err(|e| {
                let code = if e.timed_out {
                    ErrorCode::ExecutionTimeout
                } else {
                    ErrorCode::ExpressionError
                };
                NodeFailure::new(
                    code,
                    format!(
                        "expression `{{{{ {} }}}}` at `/parameters{}` failed: {}",
                        e.expression, e.path, e.message
                    ),
                )
            })?;
        let warnings: Vec<RunWarning> = unresolved
            .into_iter()
            .map(|u| RunWarning {
                code: "UNRESOLVED_REFERENCE",
                message: format!(
                    "`{}` resolved to nothing and rendered as null",
                    u.expression
                ),
                path: format!("/parameters{}", u.path),
                expression: u.expression,
            })
            .collect();
        if self.strict {
            if let Some(w) = warnings.first() {
                return Err(NodeFailure::new(
                    ErrorCode::ExpressionError,
                    format!(
                        "expression `{{{{ {} }}}}` at `{}` resolved to nothing (strict templates)",
                        w.expression, w.path
                    ),
                ));
            }
        }
        let mut warnings = warnings;
        warnings.extend(run.degraded_inputs(i));
        Ok((rendered, warnings))
    }

    /// Node `i` as the registry's pipeline runs it.
    pub(crate) fn call<'c>(
        &'c self,
        i: usize,
        parameters: &'c Value,
        input: &'c Value,
        variables: &'c Map<String, Value>,
        trigger: &'c Value,
    ) -> NodeCall<'c> {
        let compiled = self.compiled;
        let node = &compiled.workflow.nodes[i];
        NodeCall::new(node.executor_key(), &node.id, parameters)
            .context(self.context)
            .input(input)
            .variables(variables)
            .trigger(compiled.wants_trigger[i].then_some(trigger))
            .credentials(&compiled.credentials[i])
            .timeout(compiled.timeouts[i])
            .deadline_ms(self.deadline_ms)
            .strategy(&compiled.strategies[i])
            .policy(self.policy)
            .tenant_field(&compiled.tenant_field)
            .retries_done(
                self.resumed_retries
                    .and_then(|r| r.get(&node.id))
                    .copied()
                    .unwrap_or(0),
            )
            .suspend_retries_after(self.suspend_retries_after)
    }
}
