//! The engine: validates a compiled workflow for a tenant, then hands it
//! to the scheduler.

use std::sync::Arc;

use plugin_abi::request::ExecContext;
use serde_json::{Map, Value};

use crate::compile::CompiledWorkflow;
use crate::execution::Host;
use crate::options::{EngineOptions, RunOptions};
use crate::report::Report;
use crate::result::ExecutionResult;
use crate::validate::apply_strict;
use crate::workflow::Problem;
use registry_core::new_execution_id;
use registry_core::Registry;
use registry_core::TenantPolicy;

/// A workflow that cannot run, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("workflow cannot run: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidWorkflow {
    /// Every problem, in node order.
    pub problems: Vec<Problem>,
}

/// Runs compiled workflows against a registry.
#[derive(Clone)]
pub struct Engine {
    registry: Arc<Registry>,
    env: Arc<Map<String, Value>>,
    options: EngineOptions,
}

impl Engine {
    /// An engine running node types from `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self::with_options(registry, EngineOptions::default())
    }

    /// An engine with `options`. Allow-listed environment variables are
    /// read once, here.
    pub fn with_options(registry: Arc<Registry>, options: EngineOptions) -> Self {
        let env = options
            .env_allowlist
            .iter()
            .filter_map(|name| {
                std::env::var(name)
                    .ok()
                    .map(|v| (name.clone(), Value::String(v)))
            })
            .collect();
        Self {
            registry,
            env: Arc::new(env),
            options,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn policy(
        &self,
        compiled: &CompiledWorkflow,
        tenant: Option<&str>,
    ) -> Option<Arc<TenantPolicy>> {
        self.registry
            .effective_policy(tenant, compiled.workflow_policy.as_ref())
    }

    /// The tenant a run of `compiled` with `context` runs as: the context's,
    /// else the workflow's declared one.
    fn tenant<'c>(compiled: &'c CompiledWorkflow, context: &'c ExecContext) -> Option<&'c str> {
        context
            .tenant_id
            .as_deref()
            .or(compiled.declared_tenant())
            .filter(|t| !t.is_empty())
    }

    /// What a clean registry validation of a workflow holds for: this
    /// registry, in its current state, for this tenant.
    fn validation_key(&self, tenant: Option<&str>) -> (usize, u64, Option<String>) {
        (
            Arc::as_ptr(&self.registry) as usize,
            self.registry.generation(),
            tenant.filter(|t| !t.is_empty()).map(str::to_owned),
        )
    }

    fn mark_validated(&self, compiled: &CompiledWorkflow, tenant: Option<&str>) {
        if let Ok(mut slot) = compiled.validated_for.lock() {
            *slot = Some(self.validation_key(tenant));
        }
    }

    /// Every problem that stops `compiled` from running with `options`, and
    /// every warning: structure, templates, node types, parameters (with
    /// the node types' own checks), variables, the tenant.
    pub fn validate(&self, compiled: &CompiledWorkflow, options: &RunOptions) -> Report {
        let tenant = Self::tenant(compiled, &options.context);
        let policy = self.policy(compiled, tenant);
        let mut report = compiled.registry_report(&self.registry, policy.as_deref());
        if report.problems.is_empty() {
            self.mark_validated(compiled, tenant);
        }
        report.problems.extend(compiled.run_problems(
            &self.registry,
            &options.variables,
            tenant,
            self.registry.tenant_policy(tenant).as_deref(),
        ));
        let mut warnings = compiled.static_warnings().to_vec();
        warnings.append(&mut report.warnings);
        report.warnings = warnings;
        if options.strict || compiled.workflow.settings.strict_templates {
            apply_strict(&mut report);
        }
        report
    }

    /// Validates, then runs the workflow. Nothing runs when validation
    /// finds a problem.
    pub async fn run(
        &self,
        compiled: &CompiledWorkflow,
        mut options: RunOptions,
    ) -> Result<ExecutionResult, InvalidWorkflow> {
        if options.context.tenant_id.is_none() {
            options.context.tenant_id = compiled.declared_tenant().map(str::to_owned);
        }
        if options.context.execution_id.is_empty() {
            options.context.execution_id = new_execution_id();
        }
        let tenant = options.context.tenant_id.clone();
        let policy = self.policy(compiled, tenant.as_deref());
        let strict = options.strict || compiled.workflow.settings.strict_templates;
        let mut problems = Vec::new();
        // A workflow that validated cleanly against this registry state for
        // this tenant needs no second registry validation.
        let validated = compiled
            .validated_for
            .lock()
            .map(|v| v.as_ref() == Some(&self.validation_key(tenant.as_deref())))
            .unwrap_or(false);
        if !validated {
            problems = compiled
                .registry_report(&self.registry, policy.as_deref())
                .problems;
            if problems.is_empty() {
                self.mark_validated(compiled, tenant.as_deref());
            }
        }
        problems.extend(compiled.run_problems(
            &self.registry,
            &options.variables,
            tenant.as_deref(),
            self.registry.tenant_policy(tenant.as_deref()).as_deref(),
        ));
        if strict {
            let mut report = Report {
                problems: Vec::new(),
                warnings: compiled.static_warnings().to_vec(),
            };
            apply_strict(&mut report);
            problems.extend(report.problems);
        }
        if !problems.is_empty() {
            return Err(InvalidWorkflow { problems });
        }
        let host = Host {
            registry: &self.registry,
            env: &self.env,
            default_max_concurrency: self.options.default_max_concurrency,
        };
        Ok(host
            .execute(compiled, options, policy.as_deref(), strict)
            .await)
    }
}
