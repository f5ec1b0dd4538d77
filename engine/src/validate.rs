//! Validation before anything runs: structure, templates, node types
//! registered and allowed, parameters against their schemas (templated
//! values set aside) and the node types' own checks (on parameters without
//! templates), declared variables, the workflow's tenant. Every problem is
//! reported at once.

use serde_json::{Map, Value};

use crate::compile::CompiledWorkflow;
use crate::report::{Report, Warning, WarningKind};
use crate::workflow::Problem;
use registry_core::ErrorCode;
use registry_core::RecoveryStrategy;
use registry_core::Registry;
use registry_core::TenantPolicy;

/// `parameters` without the values at `templated` (JSON Pointers): object
/// members are removed, array items become `null` (so indexes keep).
fn without_templates(parameters: &Value, templated: &[String]) -> Value {
    if templated.is_empty() {
        return parameters.clone();
    }
    let mut written = parameters.clone();
    for pointer in templated {
        let Some((parent, last)) = pointer.rsplit_once('/') else {
            continue;
        };
        let key = last.replace("~1", "/").replace("~0", "~");
        match written.pointer_mut(parent) {
            Some(Value::Object(o)) => {
                o.shift_remove(&key);
            }
            Some(Value::Array(a)) => {
                if let Some(slot) = key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    *slot = Value::Null;
                }
            }
            _ => {}
        }
    }
    written
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.len() > prefix.len()
            && path.starts_with(prefix)
            && path.as_bytes()[prefix.len()] == b'/')
}

impl CompiledWorkflow {
    /// Problems that depend on the registry and the tenant's policy (node
    /// types, schemas, the node types' own checks), with the node types'
    /// warnings.
    pub(crate) fn registry_report(
        &self,
        registry: &Registry,
        policy: Option<&TenantPolicy>,
    ) -> Report {
        let mut report = Report {
            problems: self.structure.clone(),
            warnings: Vec::new(),
        };
        for (i, node) in self.workflow.nodes.iter().enumerate() {
            let id = Some(node.id.as_str());
            if node.disabled || node.is_parallel() {
                continue;
            }
            let key = node.executor_key();
            let refuse = |report: &mut Report, code, message| {
                report
                    .problems
                    .push(Problem::new(id, code, "/nodeType", message));
            };
            if let Some(Err(failure)) = policy.map(|p| p.check(key)) {
                refuse(&mut report, failure.code, failure.message);
                continue;
            }
            let Some(registered) = registry.get(key) else {
                let message = if key.is_empty() {
                    "node has neither `nodeType` nor `type`; set the node type to run".to_owned()
                } else {
                    match plugin_abi::sdk::suggest::closest(
                        key,
                        registry.node_types().iter().map(String::as_str),
                    ) {
                        Some(close) => format!("node type `{key}` is not registered; did you mean `{close}`?"),
                        None => format!("node type `{key}` is not registered; load the plugin that provides it, or fix the type (`plugflow plugins list` shows what is available)"),
                    }
                };
                refuse(&mut report, ErrorCode::NodeTypeNotFound, message);
                continue;
            };
            if let Some(Err(failure)) = policy.map(|p| registry.check_dependencies(p, &registered))
            {
                refuse(&mut report, failure.code, failure.message);
                continue;
            }
            let templated = &self.templated[i];
            for issue in registry.schema_issues(&registered, &node.parameters) {
                if !templated.iter().any(|t| under(&issue.path, t)) {
                    report.problems.push(Problem::new(
                        id,
                        ErrorCode::ValidationFailed,
                        format!("/parameters{}", issue.path),
                        issue.message,
                    ));
                }
            }
            // A fallback node type runs with the same parameters: what it
            // reads is not unknown.
            let fallback = match &self.strategies[i] {
                RecoveryStrategy::Fallback { fallback_node_type } => {
                    registry.metadata(fallback_node_type)
                }
                _ => None,
            };
            let mut schemas = vec![&registered.metadata().manifest.parameter_schema];
            schemas.extend(fallback.as_ref().map(|m| &m.manifest.parameter_schema));
            report.problems.extend(unknown_parameters(
                &node.id,
                i,
                key,
                &schemas,
                &node.parameters,
            ));
            // The node type's own check sees the values as written, without
            // those holding templates (they are checked once resolved, at
            // run time). Node types without a check are not asked.
            if registered.metadata().manifest.validates {
                let written = without_templates(&node.parameters, templated);
                let (errors, warnings) = registry.plugin_checks(&registered, &node.id, &written);
                report.problems.extend(errors.into_iter().map(|issue| {
                    Problem::new(
                        id,
                        ErrorCode::InvalidParameters,
                        format!("/parameters{}", issue.path),
                        issue.message,
                    )
                }));
                report
                    .warnings
                    .extend(warnings.into_iter().map(|message| Warning {
                        node_id: Some(node.id.clone()),
                        kind: WarningKind::NodeTypeWarning,
                        path: "/parameters".to_owned(),
                        message,
                        character: None,
                    }));
            }
        }
        crate::anchor::anchor_problems(&self.graph, &mut report.problems);
        crate::anchor::anchor_warnings(&self.graph, &mut report.warnings);
        report
    }

    /// Problems that depend on the run: variables it must give, the tenant
    /// it runs as.
    pub(crate) fn run_problems(
        &self,
        registry: &Registry,
        variables: &Map<String, Value>,
        tenant: Option<&str>,
        policy: Option<&TenantPolicy>,
    ) -> Vec<Problem> {
        // Run as the wrong tenant, nothing else about the run matters.
        if let Some(problem) = self.tenant_problem(tenant, policy) {
            return vec![problem];
        }
        let mut problems = Vec::new();
        for (i, node) in self.workflow.nodes.iter().enumerate() {
            if node.disabled {
                continue;
            }
            if tenant.is_none() {
                let key = node.executor_key();
                if registry
                    .metadata(key)
                    .is_some_and(|m| m.manifest.tenant_scoped)
                {
                    // Found now, not after the nodes before it have run.
                    problems.push(Problem::new(
                        Some(&node.id),
                        ErrorCode::InvalidParameters,
                        "/nodeType",
                        format!("`{key}` reads or writes tenant data and needs a tenant; run with a tenant id (for the CLI: --tenant ID) or set the workflow's `tenantId`"),
                    ));
                }
            }
            for binding in &self.credentials[i] {
                let present =
                    tenant.is_some_and(|t| registry.credentials().contains(t, &binding.id));
                if !present {
                    let failure = registry
                        .credentials()
                        .resolve(tenant, std::slice::from_ref(binding))
                        .err();
                    if let Some(failure) = failure {
                        problems.push(Problem::new(
                            Some(&node.id),
                            failure.code,
                            format!("/credentials/{}", crate::pointer::escape(&binding.slot)),
                            failure.message,
                        ));
                    }
                }
            }
        }
        for (name, def) in &self.workflow.variables {
            let given = variables.get(name).is_some_and(|v| !v.is_null());
            if def.required && def.default_value.is_null() && !given {
                problems.push(Problem::new(
                    None,
                    ErrorCode::ValidationFailed,
                    format!("/variables/{}", crate::pointer::escape(name)),
                    format!("variable `{name}` is required and has no default; give it a value (for the CLI: --var {name}=VALUE)"),
                ));
            }
        }
        crate::anchor::anchor_problems(&self.graph, &mut problems);
        problems
    }

    /// `TENANT_MISMATCH` when the workflow declares another tenant than
    /// `tenant`, unless both the workflow and the tenant's policy allow
    /// cross-tenant access.
    fn tenant_problem(
        &self,
        tenant: Option<&str>,
        policy: Option<&TenantPolicy>,
    ) -> Option<Problem> {
        let declared = self.declared_tenant()?;
        let tenant = tenant?;
        if tenant == declared {
            return None;
        }
        let workflow_allows = self
            .workflow
            .multi_tenancy
            .as_ref()
            .is_some_and(|m| m.allow_cross_tenant_access);
        if workflow_allows && policy.is_some_and(|p| p.allow_cross_tenant_access) {
            return None;
        }
        Some(Problem::new(
            None,
            ErrorCode::TenantMismatch,
            "/tenantId",
            format!(
                "the workflow belongs to tenant `{declared}` and cannot run as tenant `{tenant}`; run it as `{declared}`, or allow cross-tenant access in both the workflow (multiTenancy.allowCrossTenantAccess) and the tenant's policy (allowCrossTenantAccess)"
            ),
        ))
    }
}

/// Moves the warnings that strict templates make errors into `problems`.
pub(crate) fn apply_strict(report: &mut Report) {
    let (errors, warnings): (Vec<Warning>, Vec<Warning>) = std::mem::take(&mut report.warnings)
        .into_iter()
        .partition(|w| w.kind.strict_error());
    report.warnings = warnings;
    report.problems.extend(errors.into_iter().map(|w| {
        Problem::new(
            w.node_id.as_deref(),
            ErrorCode::ValidationFailed,
            w.path,
            format!("{} (strict templates)", w.message),
        )
    }));
}

/// Parameters none of `schemas` (the node type's, and its fallback's)
/// lists, when each lists its properties and says nothing of others
/// (`additionalProperties: false` makes them schema problems; any other
/// value says the node reads them): each a problem naming the likely
/// intended one — a misspelled `oder` would otherwise be silently ignored.
fn unknown_parameters(
    node_id: &str,
    index: usize,
    node_type: &str,
    schemas: &[&Value],
    parameters: &Value,
) -> Vec<Problem> {
    let Some(given) = parameters.as_object() else {
        return Vec::new();
    };
    let mut known: Vec<&str> = Vec::new();
    for schema in schemas {
        // No property list, or `additionalProperties` / `patternProperties`:
        // the schema check decides, or the node type says it reads others.
        let open = schema.get("additionalProperties").is_some()
            || schema.get("patternProperties").is_some();
        match schema.get("properties").and_then(Value::as_object) {
            Some(properties) if !open => known.extend(properties.keys().map(String::as_str)),
            _ => return Vec::new(),
        }
    }
    given
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            let hint = plugin_abi::sdk::suggest::closest(k, known.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| {
                    let mut names = known.clone();
                    names.sort_unstable();
                    names.dedup();
                    format!(" (its parameters: {})", names.join(", "))
                });
            Problem::new(
                Some(node_id),
                ErrorCode::InvalidParameters,
                format!("/nodes/{index}/parameters/{}", crate::pointer::escape(k)),
                format!("`{k}` is not a parameter of `{node_type}`{hint}"),
            )
        })
        .collect()
}
