//! Stage 2: the node's parameters against its node type's schema and its
//! own check, answered from the validation cache when the same parameters
//! were checked before. Also the pre-run checks a workflow engine makes.

use std::sync::Arc;

use serde_json::Value;

use crate::call::NodeCall;
use crate::error::{ErrorCode, NodeFailure, ValidationIssue};
use crate::hashing::{is_small, value_hash};
use crate::registry::{RegisteredNode, Registry};
use crate::validation::{
    parameter_issues, schema_accepts, Issues, ValidationEntry, ValidationKey, ValidationKeyRef,
    CACHED_PARAMETERS_BUDGET,
};

impl Registry {
    /// The validation stage for `call`.
    pub(super) fn validate(
        &self,
        node: &RegisteredNode,
        call: &NodeCall<'_>,
    ) -> Result<(), NodeFailure> {
        self.validate_parameters(node, call.node_id, call.parameters)
    }

    /// Schema and required-field problems of `parameters` (no plugin
    /// check). Used for the pre-run validation of workflows. Checked
    /// directly: a passing check costs less than a cache key would.
    pub fn schema_issues(&self, node: &RegisteredNode, parameters: &Value) -> Vec<ValidationIssue> {
        let manifest = &node.metadata().manifest;
        let schema = match node.schema() {
            Ok(schema) => schema,
            Err(failure) => {
                return vec![ValidationIssue {
                    path: String::new(),
                    message: failure.message,
                }]
            }
        };
        if schema_accepts(manifest, schema, parameters) {
            Vec::new()
        } else {
            parameter_issues(manifest, schema, parameters)
        }
    }

    /// The node type's own `validate` of `parameters` as written: its
    /// errors (each becomes an `INVALID_PARAMETERS` problem) and warnings.
    pub fn plugin_checks(
        &self,
        node: &RegisteredNode,
        node_id: &str,
        parameters: &Value,
    ) -> (Vec<ValidationIssue>, Vec<String>) {
        match self.plugin_validation(node, node_id, parameters) {
            Ok(report) => report,
            Err(failure) => (
                vec![ValidationIssue {
                    path: String::new(),
                    message: failure.message,
                }],
                Vec::new(),
            ),
        }
    }

    /// Validates `parameters` for `node`: its schema and required fields
    /// (`VALIDATION_FAILED`), then the node type's own `validate`
    /// (`INVALID_PARAMETERS`), answering from the validation cache when the
    /// same parameters were validated before.
    pub fn validate_parameters(
        &self,
        node: &RegisteredNode,
        node_id: &str,
        parameters: &Value,
    ) -> Result<(), NodeFailure> {
        let manifest = &node.metadata().manifest;
        let compiled = node.schema()?;
        if !manifest.validates {
            // The schema alone: checked directly, never cached.
            return if schema_accepts(manifest, compiled, parameters) {
                Ok(())
            } else {
                Err(NodeFailure::validation(
                    manifest.node_type.as_str(),
                    parameter_issues(manifest, compiled, parameters),
                ))
            };
        }
        let issues = self.cached_issues(node, parameters, 0, || {
            let schema = parameter_issues(manifest, compiled, parameters);
            let plugin = if schema.is_empty() {
                self.plugin_validation(node, node_id, parameters)?.0
            } else {
                Vec::new()
            };
            Ok(Issues { schema, plugin })
        })?;
        let node_type = node.metadata().node_type();
        if !issues.schema.is_empty() {
            Err(NodeFailure::validation(node_type, issues.schema))
        } else if !issues.plugin.is_empty() {
            Err(NodeFailure {
                code: ErrorCode::InvalidParameters,
                ..NodeFailure::validation(node_type, issues.plugin)
            })
        } else {
            Ok(())
        }
    }

    /// The issues of `parameters` from the validation cache, or computed and
    /// cached. `space` separates kinds of checks sharing the cache. Entries
    /// keep the parameters and compare them on a hit, so a hash collision
    /// can never skip a check.
    pub(super) fn cached_issues(
        &self,
        node: &RegisteredNode,
        parameters: &Value,
        space: u64,
        compute: impl FnOnce() -> Result<Issues, NodeFailure>,
    ) -> Result<Issues, NodeFailure> {
        // Large parameters (a whole data set passed by template) are checked
        // but not copied into the cache.
        if !is_small(parameters, CACHED_PARAMETERS_BUDGET) {
            return compute();
        }
        let node_type = node.metadata().node_type();
        let hash = value_hash(parameters) ^ space;
        let key = ValidationKeyRef { node_type, hash };
        if let Some(entry) = self
            .caches
            .validation
            .get(&key)
            .filter(|e| e.parameters == *parameters)
        {
            return Ok(entry.issues.clone());
        }
        let issues = compute()?;
        self.caches.validation.insert(
            ValidationKey {
                node_type: node_type.to_owned(),
                hash,
            },
            Arc::new(ValidationEntry {
                parameters: parameters.clone(),
                issues: issues.clone(),
            }),
        );
        Ok(issues)
    }

    fn plugin_validation(
        &self,
        node: &RegisteredNode,
        node_id: &str,
        parameters: &Value,
    ) -> Result<(Vec<ValidationIssue>, Vec<String>), NodeFailure> {
        if !node.metadata().manifest.validates {
            return Ok((Vec::new(), Vec::new()));
        }
        let text = serde_json::json!({
            "id": node_id, "name": node_id,
            "nodeType": node.metadata().node_type(), "parameters": parameters,
        })
        .to_string();
        match node.executor().validate(text.as_str().into()) {
            abi_stable::std_types::RResult::ROk(report) => Ok((
                report.errors.iter().map(|e| located(e.as_str())).collect(),
                report.warnings.iter().map(ToString::to_string).collect(),
            )),
            abi_stable::std_types::RResult::RErr(e) => Err(NodeFailure {
                code: ErrorCode::parse(e.code.as_str()).unwrap_or(ErrorCode::ExecutionError),
                message: format!(
                    "validate of `{}` failed: {}",
                    node.metadata().node_type(),
                    e.message
                ),
                retryable: false,
                details: None,
                validation_errors: Vec::new(),
            }),
        }
    }
}

/// A node type's validation error as an issue: the SDK writes errors about
/// one parameter as ``parameter `NAME`: …`` (`NodeError::invalid_parameter`),
/// which becomes the issue's path (`/NAME`) and message.
fn located(error: &str) -> ValidationIssue {
    match plugin_abi::sdk::NodeError::parameter_of(error) {
        Some((name, message)) => ValidationIssue {
            path: format!("/{name}"),
            message: message.to_owned(),
        },
        None => ValidationIssue {
            path: String::new(),
            message: error.to_owned(),
        },
    }
}

#[cfg(test)]
mod located_tests {
    use super::located;

    #[test]
    fn an_sdk_parameter_error_names_its_parameter_as_the_path() {
        let issue = located("parameter `rules/email`: unknown rule `emial`");
        assert_eq!(issue.path, "/rules/email");
        assert_eq!(issue.message, "unknown rule `emial`");
    }

    #[test]
    fn any_other_error_has_no_path() {
        let issue = located("the template is not valid");
        assert_eq!(
            (issue.path.as_str(), issue.message.as_str()),
            ("", "the template is not valid")
        );
    }
}
