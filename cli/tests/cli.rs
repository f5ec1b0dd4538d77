//! The `plugflow` binary end to end: every subcommand, good and bad input,
//! exit codes, one-line errors, JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn plugflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("RUST_LOG")
        .output()
        .expect("plugflow runs")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A failure: the expected exit code, one line on stderr, no panic.
fn assert_fails(output: &Output, code: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("plugflow: ") && last.contains(needle),
        "expected one line mentioning {needle:?}, got: {err}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn run_executes_the_example_and_prints_the_result() {
    let input = format!("@{}", example("customer-greeting.input.json"));
    let out = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = json_of(&out);
    assert_eq!(result["status"], "success");
    assert_eq!(
        result["nodes"]["respond"]["output"]["body"]["greeting"],
        "Dear Ada Lovelace, thank you for your 12 orders!"
    );
    assert_eq!(result["nodes"]["welcome_new"]["status"], "skipped");
    assert!(result["nodes"]["respond"]["durationMs"].is_number());
    assert_eq!(result["metrics"]["nodesFailed"], 0);

    let pretty = plugflow(&["run", &example("customer-greeting.json"), "--input", &input]);
    assert!(String::from_utf8_lossy(&pretty.stdout).contains("thank_regular  success"));
}

#[test]
fn a_long_run_draws_no_progress_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "slow.json",
        r#"{"name": "slow", "nodes": [
            {"id": "a", "name": "a", "type": "operation", "nodeType": "wait", "typeVersion": 1, "position": [0, 0], "parameters": {"duration": 500, "unit": "ms"}},
            {"id": "b", "name": "b", "type": "operation", "nodeType": "wait", "typeVersion": 1, "position": [0, 0], "parameters": {"duration": 200, "unit": "ms"}}],
          "connections": {"a": {"main": [[{"node": "b", "type": "main", "index": 0}]]}}}"#,
    );
    let out = plugflow(&["run", wf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no bar, no escape codes on a pipe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("success in"), "{stdout}");
}

#[test]
fn a_failing_run_exits_1_with_the_reason() {
    let out = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        r#"{"name": "x"}"#,
        "--output",
        "json",
    ]);
    assert_fails(&out, 1, "check_input");
    assert_eq!(json_of(&out)["status"], "error");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails(
        &plugflow(&["run", "/no/such/workflow.json"]),
        2,
        "cannot read",
    );
    let malformed = write(
        dir.path(),
        "bad.json",
        r#"{"nodes": [{"id": "a", "parameters": {}, "maxTries": "three"}]}"#,
    );
    assert_fails(
        &plugflow(&["run", malformed.to_str().unwrap()]),
        2,
        "/nodes/0/maxTries",
    );
    let broken = write(dir.path(), "broken.json", "{\"nodes\": [");
    assert_fails(
        &plugflow(&["validate", broken.to_str().unwrap()]),
        2,
        "broken.json",
    );
    assert_fails(
        &plugflow(&[
            "run",
            &example("customer-greeting.json"),
            "--input",
            "{not json",
        ]),
        2,
        "--input",
    );

    let unknown = write(
        dir.path(),
        "unknown.json",
        &json!({"nodes": [{"id": "a", "type": "nope.missing"}], "connections": {}}).to_string(),
    );
    let out = plugflow(&["run", unknown.to_str().unwrap(), "--output", "json"]);
    assert_fails(&out, 2, "nope.missing");
    assert_eq!(json_of(&out)["problems"][0]["code"], "NODE_TYPE_NOT_FOUND");

    let cycle = write(dir.path(), "cycle.json", &json!({"nodes": [{"id": "a", "type": "manual-trigger"}, {"id": "b", "type": "manual-trigger"}, {"id": "c", "type": "manual-trigger"}],
        "connections": {"b": {"main": [[{"node": "c"}]]}, "c": {"main": [[{"node": "b"}]]}}}).to_string());
    assert_fails(
        &plugflow(&["validate", cycle.to_str().unwrap()]),
        2,
        "cycle",
    );
    let usage = plugflow(&["frobnicate"]);
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");
    assert!(stderr(&usage).contains("unrecognized subcommand"));
}

#[test]
fn validate_lists_every_problem_with_node_and_path() {
    let out = plugflow(&[
        "validate",
        &example("customer-greeting.json"),
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json_of(&out);
    assert_eq!(doc["valid"], json!(true));
    assert_eq!(doc["problems"], json!([]));
    assert_eq!(doc["warnings"], json!([]));

    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "w.json", &json!({"nodes": [
        {"id": "a", "nodeType": "string.padStart", "parameters": {"value": "x", "length": "three"}},
        {"id": "b", "nodeType": "ghost.type", "parameters": {}},
        {"id": "c", "nodeType": "string.upper", "parameters": {"value": "{{ $json. }}"}}], "connections": {}}).to_string());
    let out = plugflow(&["validate", wf.to_str().unwrap(), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let problems = json_of(&out)["problems"].as_array().unwrap().clone();
    let find = |id: &str| {
        problems
            .iter()
            .find(|p| p["nodeId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no problem for {id}: {problems:?}"))
    };
    assert_eq!(find("a")["path"], "/nodes/0/parameters/length");
    assert_eq!(find("b")["code"], "NODE_TYPE_NOT_FOUND");
    // Text in `{{ }}` that is not an expression is kept as text: a warning.
    let warnings = json_of(&out)["warnings"].as_array().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w["nodeId"] == "c" && w["code"] == "TEMPLATE_KEPT_AS_TEXT"),
        "{warnings:?}"
    );
}

#[test]
fn a_forbidden_node_type_for_the_tenant_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.json",
        &json!([{"tenantId": "acme", "restrictedNodeTypes": ["string.*"]}]).to_string(),
    );
    let input = format!("@{}", example("customer-greeting.input.json"));
    let out = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--tenant",
        "acme",
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_fails(&out, 2, "not allowed for tenant");
    assert_eq!(
        json_of(&out)["problems"][0]["code"],
        "NODE_TYPE_DISABLED_FOR_TENANT"
    );
    let other_tenant = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--tenant",
        "globex",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(other_tenant.status.success(), "{}", stderr(&other_tenant));
}

#[test]
fn plugins_list_inspect_and_check() {
    let out = plugflow(&["plugins", "list", "--output", "json"]);
    assert!(out.status.success());
    let types: Vec<String> = json_of(&out)["nodeTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["nodeType"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "string.upper",
        "condition",
        "transform",
        "webhook-response",
        "metabuilder.transform",
    ] {
        assert!(types.contains(&expected.to_owned()), "{expected} missing");
    }
    let out = plugflow(&["plugins", "inspect", "string.padStart", "--output", "json"]);
    let metadata = json_of(&out);
    assert_eq!(
        metadata["parameterSchema"]["properties"]["length"]["type"],
        "integer"
    );
    assert_eq!(metadata["source"]["kind"], "static");
    assert_fails(
        &plugflow(&["plugins", "inspect", "ghost.type"]),
        2,
        "ghost.type",
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "garbage.so", "definitely not a shared library");
    let out = plugflow(&[
        "plugins",
        "check",
        dir.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_fails(&out, 1, "rejected");
    let report = json_of(&out);
    assert_eq!(report["files"][0]["status"], "rejected");
    assert_eq!(report["files"][0]["reason"], "NOT_A_LIBRARY");
    assert_eq!(report["totals"]["rejected"], 1);

    // A bad plugin directory does not stop a run.
    let input = format!("@{}", example("customer-greeting.input.json"));
    let out = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--plugins",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NOT_A_LIBRARY"),
        "the rejection is logged: {}",
        stderr(&out)
    );
    assert_fails(
        &plugflow(&[
            "run",
            &example("customer-greeting.json"),
            "--plugins",
            "/no/such/dir",
        ]),
        2,
        "does not exist",
    );
}

#[test]
fn graph_labels_nodes_by_name_and_type_and_condition_edges_true_and_false() {
    let out = plugflow(&["graph", &example("customer-greeting.json")]);
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.contains("\"is_regular\" [label=\"Is regular\\ncondition\""),
        "{dot}"
    );
    assert!(
        dot.contains("\"is_regular\" -> \"thank_regular\" [label=\"true\"]"),
        "{dot}"
    );
}

#[test]
fn graph_prints_dot_coloured_by_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("@{}", example("customer-greeting.input.json"));
    let run = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--output",
        "json",
    ]);
    let result = write(
        dir.path(),
        "result.json",
        &String::from_utf8_lossy(&run.stdout),
    );
    let out = plugflow(&[
        "graph",
        &example("customer-greeting.json"),
        "--result",
        result.to_str().unwrap(),
    ]);
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(
        dot.contains("\"is_regular\" -> \"welcome_new\" [label=\"false\"]"),
        "{dot}"
    );
    assert!(
        dot.contains("fillcolor=palegreen") && dot.contains("fillcolor=lightgrey"),
        "{dot}"
    );
}

#[test]
fn audit_records_verify_and_tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.json",
        &json!({"tenantId": "acme", "auditLogging": true}).to_string(),
    );
    let log = dir.path().join("audit.jsonl");
    let input = format!("@{}", example("customer-greeting.input.json"));
    let out = plugflow(&[
        "run",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--tenant",
        "acme",
        "--policy",
        policy.to_str().unwrap(),
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines, 7, "one record per node run");
    let out = plugflow(&["audit", "verify", log.to_str().unwrap(), "--output", "json"]);
    assert!(out.status.success());
    assert_eq!(json_of(&out)["verifiedLines"], 7);

    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replacen("\"success\"", "\"error\"", 1);
    std::fs::write(&log, text).unwrap();
    assert_fails(
        &plugflow(&["audit", "verify", log.to_str().unwrap()]),
        1,
        "line 2",
    );
}

#[test]
fn stats_prints_metrics_as_json_or_prometheus() {
    let input = format!("@{}", example("customer-greeting.input.json"));
    let out = plugflow(&[
        "stats",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--metrics",
        "prometheus",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("plugflow_executions_total{status=\"success\"} 7"),
        "{text}"
    );
    let out = plugflow(&[
        "stats",
        &example("customer-greeting.json"),
        "--input",
        &input,
        "--output",
        "json",
    ]);
    assert_eq!(json_of(&out)["execution"]["successes"], 7);
}

#[test]
fn the_order_pipeline_keeps_two_tenants_apart_in_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let run = |tenant: &str, orders: Value| {
        let input = json!({"orders": orders}).to_string();
        let out = plugflow(&[
            "run",
            &example("order-pipeline.json"),
            "--input",
            &input,
            "--tenant",
            tenant,
            "--db",
            db.to_str().unwrap(),
            "--output",
            "json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        json_of(&out)["nodes"]["respond"]["output"]["body"].clone()
    };
    let a = run(
        "acme",
        json!([{"item": "apple", "qty": 2}, {"item": "pear", "qty": 1}]),
    );
    assert_eq!(a["orders"], 2);
    let b = run("globex", json!([{"item": "apple", "qty": 10}]));
    assert_eq!(
        b,
        json!({"tenant": "globex", "stored": 1, "orders": 1, "totals": [{"key": "apple", "value": 10}]})
    );
    let a = run("acme", json!([{"item": "apple", "qty": 3}]));
    assert_eq!(a["orders"], 3);
    assert_eq!(
        a["totals"],
        json!([{"key": "apple", "value": 5}, {"key": "pear", "value": 1}])
    );
    let no_tenant = plugflow(&[
        "run",
        &example("order-pipeline.json"),
        "--input",
        r#"{"orders": [{"item": "x"}]}"#,
        "--db",
        db.to_str().unwrap(),
    ]);
    // Refused before anything runs (exit 2: the workflow cannot run).
    assert_fails(&no_tenant, 2, "needs a tenant");
}

#[test]
fn the_documented_configuration_file_is_accepted() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/OPERATIONS.md"),
    )
    .unwrap();
    let section = doc
        .find("## Configuration file (TOML)")
        .expect("the configuration section");
    let start =
        section + doc[section..].find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    // The example's plugin directory does not exist here.
    let toml = doc[start..end].replace("directories = [\"plugins\"]", "directories = []");
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "plugflow.toml", &toml);
    let out = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args([
            "plugins",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--output",
            "json",
        ])
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env("ACME_SMTP_PASSWORD", "documented-secret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let types = json_of(&out)["nodeTypes"].as_array().unwrap().len();
    assert_eq!(types, 135, "every built-in node type is listed");
    let bad = write(dir.path(), "bad.toml", "no-such-setting = 1\n");
    assert_fails(
        &plugflow(&["plugins", "list", "--config", bad.to_str().unwrap()]),
        2,
        "no-such-setting",
    );
}
