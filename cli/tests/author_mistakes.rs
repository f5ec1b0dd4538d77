//! The mistakes a new author made in their first four workflows, all in
//! one file: `plugflow validate` names each one, before anything runs,
//! quoting only text the author wrote and, where one exists, the
//! spelling they meant.

use std::sync::OnceLock;

use plugflow_tests::plugflow_command;
use serde_json::Value;

const MISTAKES: &str = r#"{
  "id": "orders", "name": "Order intake", "version": "3.0.0",
  "nodes": [
    {"id": "check", "name": "Check", "type": "operation", "nodeType": "validate",
     "parameters": {"rules": {"email": "required|emial"}}},
    {"id": "total", "name": "Total", "type": "operation", "nodeType": "math.add",
     "parameters": {"values": [1, 2]}},
    {"id": "sort", "name": "Sort", "type": "operation", "nodeType": "list.sort",
     "parameters": {"array": [3, 1], "oder": "desc"}},
    {"id": "label", "name": "Label", "type": "operation", "nodeType": "string.upper",
     "parameter": {"value": "x"}},
    {"id": "save", "name": "Save", "type": "action", "nodeType": "dbal-write",
     "parameters": {"operation": "create", "entity": "Order", "data": {"n": 1}}},
    {"id": "tier", "name": "Tier", "type": "logic", "nodeType": "condition",
     "parameters": {"condition": "{{ $steps.totl.output.result > 1000 }}"}},
    {"id": "unclosed", "name": "Unclosed", "type": "logic", "nodeType": "condition",
     "parameters": {"condition": "{{ $steps.total.output.result > 1000"}},
    {"id": "dangling", "name": "Dangling", "type": "logic", "nodeType": "condition",
     "parameters": {"condition": "{{ $steps.total.output.result > }}"}},
    {"id": "paren", "name": "Paren", "type": "operation", "nodeType": "math.add",
     "parameters": {"values": ["{{ Math.round($steps.total.output.result * 100 / 100 }}"]}}
  ],
  "conections": {"total": {"main": [[{"node": "tier", "type": "main", "index": 0}]]}}
}
"#;

/// The validation report of [`MISTAKES`], made once.
fn report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.json");
        std::fs::write(&path, MISTAKES).unwrap();
        let out = plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
            .args(["validate", path.to_str().unwrap(), "--output", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "problems exit 2");
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    })
}

/// The problem or warning at `path` with `code`.
fn finding(code: &str, path: &str) -> Value {
    let report = report();
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["warnings"].as_array().unwrap())
        .find(|f| f["code"] == code && f["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("no {code} at {path}: {report:#}"))
}

fn message(code: &str, path: &str) -> String {
    finding(code, path)["message"].as_str().unwrap().to_owned()
}

/// The text a message quotes first (between its first two backticks)
/// was written by the author.
fn quotes_the_file(message: &str) {
    let quoted = message.split('`').nth(1).unwrap();
    let as_in_file = serde_json::to_string(quoted).unwrap();
    assert!(
        MISTAKES.contains(as_in_file.trim_matches('"')),
        "`{quoted}` is not in the file: {message}"
    );
}

#[test]
fn a_misspelled_connections_is_named() {
    assert!(message("UNKNOWN_FIELD", "/conections").contains("did you mean `connections`?"));
}

#[test]
fn parameter_for_parameters_is_named() {
    assert!(message("UNKNOWN_FIELD", "/nodes/3/parameter").contains("did you mean `parameters`?"));
}

#[test]
fn a_misspelled_parameter_is_a_problem_naming_the_one_meant() {
    let m = message("INVALID_PARAMETERS", "/nodes/2/parameters/oder");
    assert!(m.contains("did you mean `order`?"), "{m}");
}

#[test]
fn an_unknown_validation_rule_is_a_problem_naming_the_one_meant() {
    let m = message("INVALID_PARAMETERS", "/nodes/0/parameters/rules/email");
    assert!(
        m.contains("`emial`") && m.contains("did you mean `email`?"),
        "{m}"
    );
}

#[test]
fn a_node_needing_a_tenant_without_one_is_a_problem() {
    assert!(message("INVALID_PARAMETERS", "/nodes/4/nodeType").contains("needs a tenant"));
}

#[test]
fn a_misspelled_step_reference_is_named_with_the_one_meant() {
    let m = message("UNKNOWN_REFERENCE", "/nodes/5/parameters/condition");
    assert!(m.contains("did you mean `$steps.total`?"), "{m}");
}

#[test]
fn an_unclosed_template_is_quoted_as_written() {
    let m = message("TEMPLATE_KEPT_AS_TEXT", "/nodes/6/parameters/condition");
    quotes_the_file(&m);
    assert!(m.contains("has no matching `}}`"), "{m}");
}

#[test]
fn an_expression_that_ends_too_soon_is_quoted_and_points_at_its_end() {
    let m = message("TEMPLATE_KEPT_AS_TEXT", "/nodes/7/parameters/condition");
    quotes_the_file(&m);
    // `{{ $steps.total.output.result > }}`: it breaks at the `}}`, character 33.
    assert_eq!(
        finding("TEMPLATE_KEPT_AS_TEXT", "/nodes/7/parameters/condition")["character"],
        33
    );
    assert!(!m.contains("')'"), "{m}");
}

#[test]
fn a_missing_parenthesis_names_the_parenthesis_not_a_token_never_written() {
    let m = message("TEMPLATE_KEPT_AS_TEXT", "/nodes/8/parameters/values/0");
    quotes_the_file(&m);
    assert!(m.contains("Expected `)` but the expression ends"), "{m}");
    assert!(!m.contains("EOF") && !m.contains("';'"), "{m}");
}

#[test]
fn every_finding_has_its_line_in_the_file() {
    let report = report();
    for f in report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["warnings"].as_array().unwrap())
    {
        assert!(f["line"].as_u64().is_some_and(|l| l >= 1), "{f:#}");
    }
}
