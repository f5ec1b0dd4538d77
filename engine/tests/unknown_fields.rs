//! Fields plugflow does not read are kept, but reported as warnings with
//! the field the author probably meant.

mod common;

use common::*;
use plugflow_engine::{Warning, WarningKind};
use serde_json::json;

fn unknown_fields(workflow: serde_json::Value) -> Vec<Warning> {
    compile(workflow)
        .static_warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::UnknownField)
        .cloned()
        .collect()
}

#[test]
fn a_misspelled_workflow_field_is_named_with_the_likely_one() {
    let warnings = unknown_fields(json!({
        "nodes": [node("a", "t.echo", json!({}))],
        "conections": {}
    }));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, "/conections");
    assert!(
        warnings[0].message.contains("did you mean `connections`?"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn a_misspelled_node_field_names_the_node_and_the_likely_field() {
    let mut a = node("a", "t.echo", json!({}));
    a["parameter"] = json!({"k": 1});
    let warnings = unknown_fields(json!({"nodes": [a], "connections": {}}));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].node_id.as_deref(), Some("a"));
    assert_eq!(warnings[0].path, "/nodes/0/parameter");
    assert!(warnings[0].message.contains("did you mean `parameters`?"));
}

#[test]
fn metabuilder_metadata_fields_are_not_warned_about() {
    let mut a = node("a", "t.echo", json!({}));
    a["notes"] = json!("checks the order");
    a["color"] = json!("#ff0000");
    let warnings = unknown_fields(json!({
        "nodes": [a], "connections": {},
        "tags": ["orders"], "active": true, "createdAt": "2026-01-01T00:00:00Z"
    }));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn an_unknown_field_far_from_any_known_one_is_kept_as_metadata() {
    let warnings = unknown_fields(json!({
        "nodes": [node("a", "t.echo", json!({}))], "connections": {},
        "pinData": {}
    }));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("kept as metadata"));
    assert!(!warnings[0].message.contains("did you mean"));
}
