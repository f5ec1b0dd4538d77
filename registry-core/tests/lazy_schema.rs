//! Node types registered as the loader registers them
//! (`Registry::register_checked`): the parameter schema compiles on first
//! use, and one that does not compile fails its calls, not the host.

use plugin_abi::manifest::NodeTypeManifest;
use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
use registry_core::*;
use serde_json::{json, Value};

struct Echo;

impl Node for Echo {
    fn execute(&self, request: &NodeRequest) -> Result<NodeOutput, NodeError> {
        Ok(NodeOutput::new(request.parameters.clone()))
    }
}

fn checked(registry: &Registry, node_type: &str, schema: Value) -> Result<(), RegistryError> {
    let mut manifest = NodeTypeManifest::new(node_type, "1.0.0");
    manifest.parameter_schema = schema;
    registry
        .register_checked(
            executor_box(Echo),
            None,
            NodeMetadata::new(manifest, NodeSource::InProcess),
        )
        .map(|_| ())
}

#[test]
fn a_schema_is_not_compiled_at_registration() {
    let registry = Registry::new();
    checked(&registry, "lazy.echo", json!({"type": "object"})).unwrap();
    assert!(!registry.get("lazy.echo").unwrap().schema_is_compiled());
}

#[test]
fn a_schema_is_compiled_by_its_first_call_and_enforced() {
    let registry = Registry::new();
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    checked(&registry, "lazy.echo", schema).unwrap();
    let good = json!({"n": 1});
    assert!(registry
        .invoke(&NodeCall::new("lazy.echo", "a", &good))
        .is_ok());
    assert!(registry.get("lazy.echo").unwrap().schema_is_compiled());
    let bad = json!({"n": "one"});
    let failure = registry
        .invoke(&NodeCall::new("lazy.echo", "b", &bad))
        .unwrap_err();
    assert_eq!(failure.code, ErrorCode::ValidationFailed);
}

#[test]
fn a_schema_that_does_not_compile_fails_every_call_naming_the_node_type() {
    let registry = Registry::new();
    checked(&registry, "lazy.broken", json!({"type": "no-such-type"})).unwrap();
    let parameters = json!({});
    for _ in 0..2 {
        let failure = registry
            .invoke(&NodeCall::new("lazy.broken", "n", &parameters))
            .unwrap_err();
        assert_eq!(failure.code, ErrorCode::InvalidParameters);
        assert!(
            failure.message.contains("`lazy.broken`")
                && failure.message.contains("does not compile"),
            "{}",
            failure.message
        );
    }
}

#[test]
fn a_schema_that_does_not_compile_is_a_problem_at_workflow_validation() {
    let registry = Registry::new();
    checked(&registry, "lazy.broken", json!({"type": "no-such-type"})).unwrap();
    let node = registry.get("lazy.broken").unwrap();
    let issues = registry.schema_issues(&node, &json!({}));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].message.contains("does not compile"));
}

#[test]
fn the_cheap_checks_still_refuse_bad_fields_at_registration() {
    let registry = Registry::new();
    let err = checked(&registry, "bad name!", json!("not a schema")).unwrap_err();
    let RegistryError::InvalidMetadata { problems, .. } = &err;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(registry.is_empty());
}
