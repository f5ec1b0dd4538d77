//! Validation before anything runs: structure, templates, node types
//! registered and allowed, parameters against their schemas (with
//! templated values set aside). Every problem is reported at once.

use serde_json::Value;

use super::compile::CompiledWorkflow;
use crate::error::ErrorCode;
use crate::expr::template::{escape, has_template};
use crate::registry::Registry;
use crate::tenant::TenantPolicy;
use crate::workflow::graph::Problem;

/// JSON Pointers of every string holding a template.
pub(crate) fn templated_paths(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::String(s) if has_template(s) => out.push(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| templated_paths(v, format!("{path}/{i}"), out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| templated_paths(v, format!("{path}/{}", escape(k)), out)),
        _ => {}
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

impl CompiledWorkflow {
    fn registry_issues(
        &self,
        registry: &Registry,
        node: &crate::registry::RegisteredNode,
        i: usize,
    ) -> Vec<crate::error::ValidationIssue> {
        registry.schema_issues(node, &self.workflow.nodes[i].parameters)
    }

    /// Every problem that stops the workflow from running for a tenant with
    /// `policy` (None: no tenant restrictions).
    pub fn problems(&self, registry: &Registry, policy: Option<&TenantPolicy>) -> Vec<Problem> {
        let mut problems = self.structure.clone();
        for (i, node) in self.workflow.nodes.iter().enumerate() {
            let id = Some(node.id.as_str());
            if let Err(e) = &self.params[i] {
                problems.push(Problem::new(
                    id,
                    ErrorCode::ValidationFailed,
                    format!("/parameters{}", e.path),
                    format!(
                        "expression `{{{{ {} }}}}` is invalid: {}",
                        e.expression, e.message
                    ),
                ));
            }
            if node.disabled || node.is_parallel() {
                continue;
            }
            let key = node.executor_key();
            if let Some(policy) = policy {
                if let Err(failure) = policy.check(key) {
                    problems.push(Problem::new(id, failure.code, "/nodeType", failure.message));
                    continue;
                }
            }
            let Some(registered) = registry.get(key) else {
                let message = if key.is_empty() {
                    "node has neither `nodeType` nor `type`; set the node type to run".to_owned()
                } else {
                    format!("node type `{key}` is not registered; load the plugin that provides it, or fix the type (`plugflow plugins list` shows what is available)")
                };
                problems.push(Problem::new(
                    id,
                    ErrorCode::NodeTypeNotFound,
                    "/nodeType",
                    message,
                ));
                continue;
            };
            if let Some(policy) = policy {
                if let Err(failure) = registry.check_dependencies(policy, &registered) {
                    problems.push(Problem::new(id, failure.code, "/nodeType", failure.message));
                    continue;
                }
            }
            let templated = &self.templated[i];
            for issue in self.registry_issues(registry, &registered, i) {
                let templated_here = templated.iter().any(|t| under(&issue.path, t));
                if !templated_here {
                    problems.push(Problem::new(
                        id,
                        ErrorCode::ValidationFailed,
                        format!("/parameters{}", issue.path),
                        issue.message,
                    ));
                }
            }
        }
        problems
    }
}
