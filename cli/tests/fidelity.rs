//! MetaBuilder fidelity through the `plugflow` binary: MetaBuilder-style
//! workflows run as written, one JSON verdict for every file and every
//! input error, credentials from the configuration, small things a user
//! sees at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use plugflow_tests::http_server::{self, Response};
use serde_json::{json, Value};

fn plugflow(args: &[&str]) -> Output {
    plugflow_env(args, &[])
}

fn plugflow_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugflow"));
    command
        .args(args)
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("plugflow runs")
}

/// Exactly one JSON document on stdout.
fn doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn first_problem(out: &Output) -> Value {
    doc(out)["problems"][0].clone()
}

#[test]
fn validate_gives_one_json_verdict_for_an_unreadable_file() {
    let out = plugflow(&["validate", "/nonexistent/w.json", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(first_problem(&out)["code"], "FILE_UNREADABLE");
    assert_eq!(doc(&out)["valid"], false);
}

#[test]
fn validate_gives_line_and_column_of_a_json_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        "{\n  \"nodes\": [\n    {\"id\": \"a\",,}\n  ]\n}",
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let problem = first_problem(&out);
    assert_eq!(problem["code"], "JSON_SYNTAX");
    assert_eq!(problem["line"], 3);
    assert_eq!(problem["column"], 16);
}

#[test]
fn validate_reports_a_field_of_the_wrong_type_by_its_pointer_and_keeps_checking() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [
        {"id": "a", "nodeType": "string.upper", "timeout": "soon", "parameters": {"value": "x"}},
        {"id": "b", "nodeType": "ghost.type", "parameters": {}}], "connections": {}})
        .to_string(),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let problems = doc(&out)["problems"].as_array().unwrap().clone();
    assert!(
        problems.iter().any(|p| p["path"] == "/nodes/0/timeout"),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["nodeId"] == "b" && p["code"] == "NODE_TYPE_NOT_FOUND"),
        "the rest is still checked: {problems:?}"
    );
}

#[test]
fn validate_names_metabuilder_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"version": "2.1.0", "startNode": "a",
        "nodes": [{"id": "a", "op": "string.upper", "onSuccess": {"nextNode": "b"}}]})
        .to_string(),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let problem = first_problem(&out);
    assert_eq!(problem["code"], "UNSUPPORTED_FORMAT");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("MetaBuilder workflow format 2.x is not supported"),
        "{problem}"
    );
}

#[test]
fn validate_names_the_editor_format() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [{"id": "a", "type": "string.upper"}],
        "connections": [{"source": "a", "target": "b"}]})
        .to_string(),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(first_problem(&out)["message"]
        .as_str()
        .unwrap()
        .contains("editor format"));
}

#[test]
fn a_bad_var_is_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [{"id": "a", "nodeType": "manual-trigger"}]}).to_string(),
    );
    let out = plugflow(&["run", s(&wf), "--var", "no-equals-sign", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["error"]["code"], "INPUT_INVALID");
}

#[test]
fn a_bad_user_is_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [{"id": "a", "nodeType": "manual-trigger"}]}).to_string(),
    );
    let out = plugflow(&["run", s(&wf), "--user", "{not json", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["error"]["code"], "INPUT_INVALID");
}

#[test]
fn a_bad_input_is_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [{"id": "a", "nodeType": "manual-trigger"}]}).to_string(),
    );
    let out = plugflow(&["run", s(&wf), "--input", "[1,", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let error = &doc(&out)["error"];
    assert_eq!(error["code"], "INPUT_INVALID");
    assert!(error["message"].as_str().unwrap().contains("line 1"));
}

#[test]
fn a_usage_error_is_one_json_document() {
    let out = plugflow(&["run", "--no-such-flag", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["error"]["code"], "USAGE");
}

fn echo_workflow(dir: &Path, parameters: Value) -> PathBuf {
    write(
        dir,
        "w.json",
        &json!({"variables": {"region": {"defaultValue": "eu"}},
        "nodes": [{"id": "out", "nodeType": "transform", "parameters": {"output": parameters}}]})
        .to_string(),
    )
}

#[test]
fn var_sets_a_workflow_variable_as_json_or_text() {
    let dir = tempfile::tempdir().unwrap();
    let wf = echo_workflow(
        dir.path(),
        json!({"region": "{{ $workflow.variables.region }}", "limit": "{{ $workflow.variables.limit }}"}),
    );
    let out = plugflow(&[
        "run",
        s(&wf),
        "--var",
        "region=us-east",
        "--var",
        "limit=50",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output = &doc(&out)["nodes"]["out"]["output"];
    assert_eq!(output["region"], "us-east");
    assert_eq!(output["limit"], 50);
}

#[test]
fn user_takes_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let wf = echo_workflow(
        dir.path(),
        json!({"admin": "{{ $context.user.level >= 3 }}", "id": "{{ $context.user.id }}"}),
    );
    let out = plugflow(&[
        "run",
        s(&wf),
        "--user",
        r#"{"id": "u9", "level": 4}"#,
        "--output",
        "json",
    ]);
    let output = &doc(&out)["nodes"]["out"]["output"];
    assert_eq!(output["admin"], true);
    assert_eq!(output["id"], "u9");
}

#[test]
fn user_takes_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = write(
        dir.path(),
        "user.json",
        r#"{"id": "u3", "roles": ["admin"]}"#,
    );
    let wf = echo_workflow(dir.path(), json!({"role": "{{ $context.user.roles[0] }}"}));
    let out = plugflow(&[
        "run",
        s(&wf),
        "--user",
        &format!("@{}", user.display()),
        "--output",
        "json",
    ]);
    assert_eq!(doc(&out)["nodes"]["out"]["output"]["role"], "admin");
}

#[test]
fn user_as_a_plain_id_is_the_users_id() {
    let dir = tempfile::tempdir().unwrap();
    let wf = echo_workflow(dir.path(), json!({"id": "{{ $context.user.id }}"}));
    let out = plugflow(&["run", s(&wf), "--user", "u1", "--output", "json"]);
    assert_eq!(doc(&out)["nodes"]["out"]["output"]["id"], "u1");
}

#[test]
fn strict_makes_an_unresolved_reference_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let wf = echo_workflow(dir.path(), json!({"v": "{{ $json.missing }}"}));
    let loose = plugflow(&["run", s(&wf), "--output", "json"]);
    assert!(loose.status.success());
    assert_eq!(
        doc(&loose)["nodes"]["out"]["warnings"][0]["code"],
        "UNRESOLVED_REFERENCE"
    );
    let strict = plugflow(&["run", s(&wf), "--strict", "--output", "json"]);
    assert_eq!(strict.status.code(), Some(1));
    assert_eq!(
        doc(&strict)["nodes"]["out"]["errorCode"],
        "EXPRESSION_ERROR"
    );
}

#[test]
fn pretty_output_lists_nodes_in_execution_order() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "w.json", &json!({"nodes": [
        {"id": "zz_last", "nodeType": "transform", "parameters": {"output": 3}},
        {"id": "aa_second", "nodeType": "transform", "parameters": {"output": 2}},
        {"id": "mm_first", "nodeType": "transform", "parameters": {"output": 1}}],
        "connections": {"mm_first": {"main": [[{"node": "aa_second", "type": "main", "index": 0}]]},
                        "aa_second": {"main": [[{"node": "zz_last", "type": "main", "index": 0}]]}}}).to_string());
    let out = plugflow(&["run", s(&wf)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let at = |id: &str| text.find(id).unwrap_or_else(|| panic!("{id} in {text}"));
    assert!(
        at("mm_first") < at("aa_second") && at("aa_second") < at("zz_last"),
        "{text}"
    );
}

#[test]
fn a_closed_stdout_exits_quietly_with_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(["plugins", "list"])
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -0`: the reader goes away before plugflow writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("internal error"));
}

/// A package workflow in MetaBuilder's style: `$json` is the trigger data
/// in the third node too, earlier results come from `$steps.<id>.output`.
#[test]
fn a_metabuilder_style_pagination_workflow_gives_metabuilders_answer() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "paginate.json", &json!({
        "name": "Paginate rows", "active": false,
        "nodes": [
            {"id": "params", "name": "Params", "type": "metabuilder.transform", "typeVersion": 1, "position": [0, 0],
             "parameters": {"input": "{{ $json }}", "output": {"page": "{{ Math.max($json.page || 1, 1) }}", "limit": "{{ Math.min($json.limit || 10, 100) }}"}, "operation": "transform_data"}},
            {"id": "offset", "name": "Offset", "type": "metabuilder.transform", "typeVersion": 1, "position": [300, 0],
             "parameters": {"output": "{{ ($steps.params.output.page - 1) * $steps.params.output.limit }}", "operation": "transform_data"}},
            {"id": "slice", "name": "Slice", "type": "metabuilder.transform", "typeVersion": 1, "position": [600, 0],
             "parameters": {"output": "{{ $json.rows.slice($steps.offset.output, $steps.offset.output + $steps.params.output.limit) }}", "operation": "transform_data"}},
            {"id": "respond", "name": "Respond", "type": "metabuilder.action", "typeVersion": 1, "position": [900, 0],
             "parameters": {"action": "http_response", "status": 200, "body": {"rows": "{{ $steps.slice.output }}", "total": "{{ $json.rows.length }}", "hasMore": "{{ $steps.params.output.page * $steps.params.output.limit < $json.rows.length }}"}}}],
        "connections": {"params": {"main": [[{"node": "offset", "type": "main", "index": 0}]]},
                        "offset": {"main": [[{"node": "slice", "type": "main", "index": 0}]]},
                        "slice": {"main": [[{"node": "respond", "type": "main", "index": 0}]]}}}).to_string());
    let out = plugflow(&[
        "run",
        s(&wf),
        "--input",
        r#"{"rows": [1,2,3,4,5,6,7], "page": 2, "limit": 3}"#,
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = &doc(&out)["nodes"]["respond"]["output"]["body"];
    assert_eq!(body["rows"], json!([4, 5, 6]));
    assert_eq!(body["total"], 7);
    assert_eq!(body["hasMore"], true);
}

#[test]
fn a_metabuilder_database_workflow_creates_and_reads_back_on_the_dbal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("forum.db");
    let wf = write(dir.path(), "thread.json", &json!({
        "name": "Create thread",
        "nodes": [
            {"id": "slug", "name": "Slug", "type": "metabuilder.transform", "typeVersion": 1, "position": [0, 0],
             "parameters": {"output": "{{ $json.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') }}"}},
            {"id": "create", "name": "Create", "type": "metabuilder.database", "typeVersion": 1, "position": [300, 0],
             "parameters": {"operation": "database_create", "entity": "ForumThread",
                            "data": {"tenantId": "{{ $context.tenantId }}", "authorId": "{{ $context.user.id }}", "title": "{{ $json.title }}", "slug": "{{ $steps.slug.output }}", "postCount": 1}}},
            {"id": "check", "name": "Check", "type": "metabuilder.database", "typeVersion": 1, "position": [600, 0],
             "parameters": {"operation": "database_read", "entity": "ForumThread", "filter": {"id": "{{ $steps.create.output.id }}"}}},
            {"id": "respond", "name": "Respond", "type": "metabuilder.action", "typeVersion": 1, "position": [900, 0],
             "parameters": {"action": "http_response", "status": 201, "body": {"threadId": "{{ $steps.create.output.id }}", "slug": "{{ $steps.check.output.slug }}", "posts": "{{ $steps.check.output.postCount }}"}}}],
        "connections": {"slug": {"main": [[{"node": "create", "type": "main", "index": 0}]]},
                        "create": {"main": [[{"node": "check", "type": "main", "index": 0}]]},
                        "check": {"main": [[{"node": "respond", "type": "main", "index": 0}]]}}}).to_string());
    let out = plugflow(&[
        "run",
        s(&wf),
        "--db",
        s(&db),
        "--tenant",
        "acme",
        "--user",
        "u1",
        "--input",
        r#"{"title": "Hello, World!"}"#,
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = &doc(&out)["nodes"]["respond"]["output"]["body"];
    assert!(
        body["threadId"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert_eq!(body["slug"], "hello-world");
    assert_eq!(body["posts"], 1);
}

fn config_with_credential(dir: &Path, secret: &str, port: u16) -> PathBuf {
    write(dir, "plugflow.toml", &format!(
        "[http-egress]\nacme = [\"127.0.0.1:{port}\"]\n\n[[credentials]]\ntenantId = \"acme\"\nid = \"svc\"\ntype = \"header\"\nheader = \"X-Api-Key\"\nsecret = {secret}\n"
    ))
}

fn header_workflow(dir: &Path, port: u16) -> PathBuf {
    write(
        dir,
        "call.json",
        &json!({"nodes": [{"id": "call", "nodeType": "http-request",
        "credentials": {"api": {"id": "svc", "name": "Service key"}},
        "parameters": {"url": format!("http://127.0.0.1:{port}/whoami")}}]})
        .to_string(),
    )
}

fn key_echo() -> u16 {
    http_server::serve(|request, _| {
        Response::json(
            200,
            &json!({"key": request.headers.get("x-api-key").cloned().unwrap_or(Value::Null)}),
        )
    })
}

#[test]
fn a_header_credential_from_a_file_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "key.txt", "file-secret-9876\n");
    let port = key_echo();
    let config = config_with_credential(dir.path(), "{ file = \"key.txt\" }", port);
    let out = plugflow(&[
        "run",
        s(&header_workflow(dir.path(), port)),
        "--config",
        s(&config),
        "--tenant",
        "acme",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The service saw the key; the result shows it masked.
    assert_eq!(doc(&out)["nodes"]["call"]["output"]["body"]["key"], "***");
}

#[test]
fn a_credential_whose_env_var_is_missing_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_credential(dir.path(), "{ env = \"PLUGFLOW_TEST_UNSET_KEY\" }", 1);
    let out = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args([
            "run",
            s(&header_workflow(dir.path(), 1)),
            "--config",
            s(&config),
            "--tenant",
            "acme",
            "--output",
            "json",
        ])
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let error = &doc(&out)["error"];
    assert_eq!(error["code"], "CONFIG_INVALID");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("svc") && message.contains("PLUGFLOW_TEST_UNSET_KEY"),
        "{message}"
    );
}

#[test]
fn an_inline_credential_secret_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let port = key_echo();
    let config = config_with_credential(dir.path(), "{ value = \"inline-secret-1234\" }", port);
    let out = plugflow(&[
        "run",
        s(&header_workflow(dir.path(), port)),
        "--config",
        s(&config),
        "--tenant",
        "acme",
        "--output",
        "json",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("inline"), "{stderr}");
    assert!(!stderr.contains("inline-secret-1234"));
}

#[test]
fn secrets_from_the_configuration_reach_no_result_log_or_audit_record() {
    const SECRET: &str = "env-secret-31337";
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    plugflow_tests::install(&plugins, &["fixture_faults"]);
    write(dir.path(), "file-key.txt", "file-secret-27182");
    let config = write(
        dir.path(),
        "plugflow.toml",
        "audit-log = \"audit.jsonl\"\n\n[[policies]]\ntenantId = \"acme\"\nauditLogging = true\n\n\
         [[credentials]]\ntenantId = \"acme\"\nid = \"from-env\"\ntype = \"bearer\"\nsecret = { env = \"PLUGFLOW_TEST_LEAK_KEY\" }\n\n\
         [[credentials]]\ntenantId = \"acme\"\nid = \"from-file\"\ntype = \"basic\"\nuser = \"svc-login-77\"\nsecret = { file = \"file-key.txt\" }\n\n\
         [[credentials]]\ntenantId = \"acme\"\nid = \"inline\"\ntype = \"generic\"\nsecret = { value = \"value-secret-16180\" }\n",
    );
    let node = |id: &str, mode: &str| {
        json!({"id": id, "nodeType": "fault.leaky", "onError": "continueRegularOutput",
        "credentials": {"a": {"id": "from-env"}, "b": {"id": "from-file"}, "c": {"id": "inline"}}, "parameters": {"mode": mode}})
    };
    let wf = write(
        dir.path(),
        "leak.json",
        &json!({"nodes": [node("out", "output"), node("err", "error")],
        "connections": {"out": {"main": [[{"node": "err", "type": "main", "index": 0}]]}}})
        .to_string(),
    );
    let out = plugflow_env(
        &[
            "run",
            s(&wf),
            "--config",
            s(&config),
            "--plugins",
            s(&plugins),
            "--tenant",
            "acme",
            "--log-level",
            "trace",
            "--output",
            "json",
        ],
        &[("PLUGFLOW_TEST_LEAK_KEY", SECRET)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        stdout.contains("***"),
        "not vacuous: the plugin leaked into its output: {stdout}"
    );
    assert!(
        stderr.contains("my credentials are"),
        "not vacuous: the plugin logged: {stderr}"
    );
    assert_eq!(audit.lines().count(), 2);
    for (what, text) in [("result", &stdout), ("logs", &stderr), ("audit", &audit)] {
        for secret in [
            SECRET,
            "file-secret-27182",
            "value-secret-16180",
            "svc-login-77",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} appears in the {what}:\n{text}"
            );
        }
    }
}
