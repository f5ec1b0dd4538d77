//! Author mistakes `plugflow validate` names before anything runs, with
//! the spelling the author probably meant.

use plugflow_tests::plugflow_command;
use serde_json::{json, Value};

fn validate(workflow: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    let out = plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
        .args(["validate", path.to_str().unwrap(), "--output", "json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn node(id: &str, node_type: &str, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type,
           "typeVersion": 1, "position": [0, 0], "parameters": parameters})
}

fn problems_coded(report: &Value, code: &str) -> Vec<Value> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == code)
        .cloned()
        .collect()
}

fn warnings_coded(report: &Value, code: &str) -> Vec<Value> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == code)
        .cloned()
        .collect()
}

#[test]
fn a_misspelled_parameter_is_a_problem_naming_the_one_meant() {
    let report = validate(&json!({
        "nodes": [node("sort", "list.sort", json!({"array": [3, 1], "oder": "desc"}))],
        "connections": {}
    }));
    assert_eq!(report["valid"], false);
    let found = problems_coded(&report, "INVALID_PARAMETERS");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["path"], "/nodes/0/parameters/oder");
    assert!(found[0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `order`?"));
}

#[test]
fn a_parameter_far_from_any_lists_the_node_types_parameters() {
    let report = validate(&json!({
        "nodes": [node("sort", "list.sort", json!({"array": [3, 1], "direction": "desc"}))],
        "connections": {}
    }));
    let found = problems_coded(&report, "INVALID_PARAMETERS");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("(its parameters: array, key, order)"),
        "{report:#}"
    );
}

#[test]
fn extra_parameters_a_node_type_reads_are_not_problems() {
    let report = validate(&json!({
        "nodes": [node("respond", "metabuilder.action",
                       json!({"action": "emit_event", "event": "created", "data": {}}))],
        "connections": {}
    }));
    assert_eq!(report["valid"], true, "{report:#}");
}

#[test]
fn parameters_of_the_fallback_node_type_are_not_problems() {
    let mut fetch = node(
        "fetch",
        "http-request",
        json!({"url": "http://127.0.0.1:9/x", "output": {"discount": 0}}),
    );
    fetch["recovery"] = json!({"strategy": "fallback", "fallbackNodeType": "transform"});
    let report = validate(&json!({"nodes": [fetch], "connections": {}}));
    assert_eq!(report["valid"], true, "{report:#}");
}

#[test]
fn a_misspelled_connections_field_is_named() {
    let report = validate(&json!({
        "nodes": [node("a", "math.add", json!({"values": [1, 2]}))],
        "conections": {}
    }));
    let found = warnings_coded(&report, "UNKNOWN_FIELD");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(found[0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `connections`?"));
}

#[test]
fn a_misspelled_node_type_is_named_with_the_one_meant() {
    let report = validate(&json!({
        "nodes": [node("sort", "list.sortt", json!({"array": [3, 1]}))],
        "connections": {}
    }));
    let problem = &report["problems"][0];
    assert_eq!(problem["code"], "NODE_TYPE_NOT_FOUND", "{report:#}");
    assert!(problem["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `list.sort`?"));
}

#[test]
fn a_misspelled_step_reference_is_named_with_the_one_meant() {
    let report = validate(&json!({
        "nodes": [
            node("total", "math.add", json!({"values": [1, 2]})),
            node("check", "math.add", json!({"values": ["{{ $steps.totl.output.result }}", 1]}))
        ],
        "connections": {"total": {"main": [[{"node": "check", "type": "main", "index": 0}]]}}
    }));
    let found = warnings_coded(&report, "UNKNOWN_REFERENCE");
    assert_eq!(found.len(), 1, "{report:#}");
    assert!(found[0]["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `$steps.total`?"));
}

#[test]
fn a_node_needing_a_tenant_is_flagged_before_anything_runs() {
    let report = validate(&json!({
        "nodes": [
            node("first", "math.add", json!({"values": [1, 2]})),
            node("save", "dbal-write", json!({"entity": "Order", "data": {"n": 1}}))
        ],
        "connections": {"first": {"main": [[{"node": "save", "type": "main", "index": 0}]]}}
    }));
    assert_eq!(report["valid"], false, "{report:#}");
    let problem = &report["problems"][0];
    assert_eq!(problem["nodeId"], "save");
    assert!(problem["message"]
        .as_str()
        .unwrap()
        .contains("needs a tenant"));
}

#[test]
fn an_enum_value_error_names_every_allowed_value_and_the_one_meant() {
    let report = validate(&json!({
        "nodes": [node("save", "dbal-write", json!({"operation": "updat", "entity": "Order", "data": {}}))],
        "connections": {}, "tenantId": "acme"
    }));
    let problem = &report["problems"][0];
    assert_eq!(
        problem["path"], "/nodes/0/parameters/operation",
        "{report:#}"
    );
    assert_eq!(
        problem["message"],
        r#""updat" is not one of "create", "update", "delete", "upsert"; did you mean "update"?"#
    );
}

fn run_pretty(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    let long = "x".repeat(200);
    let workflow = json!({
        "nodes": [node("say", "string.upper", json!({"value": long}))],
        "connections": {}
    });
    std::fs::write(&path, workflow.to_string()).unwrap();
    let out = plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
        .args(["run", path.to_str().unwrap()])
        .args(extra)
        .env_remove("PLUGFLOW_OUTPUT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pretty_output_cuts_long_values_unless_full_is_asked() {
    let whole = "X".repeat(200);
    assert!(!run_pretty(&[]).contains(&whole));
    assert!(run_pretty(&["--full"]).contains(&whole));
}

fn template_warning(condition: &str) -> String {
    let report = validate(&json!({
        "nodes": [
            node("total", "math.add", json!({"values": [1, 2]})),
            node("c", "condition", json!({"condition": condition}))
        ],
        "connections": {"total": {"main": [[{"node": "c", "type": "main", "index": 0}]]}}
    }));
    warnings_coded(&report, "TEMPLATE_KEPT_AS_TEXT")[0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_unclosed_template_is_quoted_exactly_as_written() {
    let message = template_warning("{{ $steps.total.output.result > 1000");
    assert!(
        message.starts_with("`{{ $steps.total.output.result > 1000` (character 1 of the value)"),
        "{message}"
    );
}

#[test]
fn a_template_that_is_not_an_expression_is_quoted_with_where_it_breaks() {
    let message = template_warning("{{ $steps.total.output.result > }}");
    assert!(
        message.starts_with("`{{ $steps.total.output.result > }}` (character "),
        "{message}"
    );
}

#[test]
fn a_misspelled_on_error_is_one_problem_in_the_common_shape_naming_the_node() {
    let mut a = node("a", "math.add", json!({"values": [1, 2]}));
    a["onError"] = json!("continueErrorOuput");
    let report = validate(&json!({"nodes": [a], "connections": {}}));
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report:#}");
    assert_eq!(problems[0]["nodeId"], "a");
    assert_eq!(problems[0]["path"], "/nodes/0/onError");
    assert_eq!(
        problems[0]["message"],
        "`continueErrorOuput` is not one of stopWorkflow, continueRegularOutput, continueErrorOutput, retry, skipNode; did you mean `continueErrorOutput`?"
    );
}

#[test]
fn a_misspelled_recovery_strategy_is_one_problem() {
    let mut a = node("a", "math.add", json!({"values": [1, 2]}));
    a["recovery"] = json!({"strategy": "retri"});
    let report = validate(&json!({"nodes": [a], "connections": {}}));
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report:#}");
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .ends_with("did you mean `retry`?"));
}

/// Validates `text` as written (its lines and columns matter).
fn validate_text(text: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    std::fs::write(&path, text).unwrap();
    let run = |format: &str| {
        plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
            .args(["validate", path.to_str().unwrap(), "--output", format])
            .output()
            .unwrap()
    };
    let report = serde_json::from_slice(&run("json").stdout).expect("one JSON document");
    let pretty = String::from_utf8(run("pretty").stdout).unwrap();
    (report, pretty.replace(path.to_str().unwrap(), "w.json"))
}

const BROKEN_TEMPLATE: &str = r#"{
  "nodes": [
    {"id": "total", "nodeType": "math.add", "parameters": {"values": [1, 2]}},
    {"id": "c", "nodeType": "condition",
     "parameters": {"condition": "{{ $steps.total.output.result > }}"}}
  ],
  "connections": {"total": {"main": [[{"node": "c", "type": "main", "index": 0}]]}}
}
"#;

#[test]
fn a_template_problem_gives_its_line_and_column_in_the_file() {
    let (report, _) = validate_text(BROKEN_TEMPLATE);
    let warning = &warnings_coded(&report, "TEMPLATE_KEPT_AS_TEXT")[0];
    // The `}}` the expression breaks at: line 5, the column of its first `}`.
    let line = BROKEN_TEMPLATE.lines().nth(4).unwrap();
    let column = line.find("}}\"}}").unwrap() + 1;
    assert_eq!(
        (&warning["line"], &warning["column"]),
        (&json!(5), &json!(column)),
        "{report:#}"
    );
}

#[test]
fn pretty_problems_start_with_file_line_and_column() {
    let (_, pretty) = validate_text(BROKEN_TEMPLATE);
    let line = BROKEN_TEMPLATE.lines().nth(4).unwrap();
    let column = line.find("}}\"}}").unwrap() + 1;
    assert!(
        pretty.contains(&format!("w.json:5:{column}: warning: node `c`")),
        "{pretty}"
    );
}

#[test]
fn every_problem_path_is_a_pointer_into_the_file() {
    let report = validate(&json!({
        "nodes": [
            node("ok", "math.add", json!({"values": [1, 2]})),
            node("pad", "string.padStart", json!({"value": "x", "length": "three"})),
            node("ghost", "ghost.type", json!({}))
        ],
        "connections": {"ok": {"main": [[{"node": "nowhere", "type": "main", "index": 0}]]}}
    }));
    let paths: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/nodes/1/parameters/length"), "{paths:?}");
    assert!(paths.contains(&"/nodes/2/nodeType"), "{paths:?}");
    assert!(
        paths.contains(&"/connections/ok/main/0/0/node"),
        "{paths:?}"
    );
}

fn inspect(node_type: &str, format: &str) -> std::process::Output {
    plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
        .args(["plugins", "inspect", node_type, "--output", format])
        .output()
        .unwrap()
}

#[test]
fn inspect_names_an_expression_parameters_language_and_scope() {
    let metadata: Value = serde_json::from_slice(&inspect("list.map", "json").stdout).unwrap();
    assert_eq!(
        metadata["expressions"],
        json!([{"parameter": "expression", "language": "javascript",
                "written": "bare, or as one {{ }} template",
                "scope": ["$item", "$index", "$input", "$json"]}])
    );
}

#[test]
fn inspect_in_pretty_says_which_names_an_expression_sees() {
    let page = String::from_utf8(inspect("dict.filterEntries", "pretty").stdout).unwrap();
    assert!(
        page.contains("condition: string, required")
            && page.contains("in scope: $key, $value, $input, $json"),
        "{page}"
    );
}

#[test]
fn inspect_says_templates_are_rendered_before_the_node_runs() {
    let page = String::from_utf8(inspect("string.upper", "pretty").stdout).unwrap();
    assert!(page.contains("rendered before the node runs"), "{page}");
    let metadata: Value = serde_json::from_slice(&inspect("string.upper", "json").stdout).unwrap();
    assert_eq!(metadata["expressions"], json!([]));
}
