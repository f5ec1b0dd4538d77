//! The outside attack's findings, each as the hostile workflow author or
//! tenant wrote it, through the `plugflow` binary: nothing hangs, nothing
//! aborts, one JSON document, nothing lost, no tenant affects another.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Runs plugflow, killing it after `limit`: a hang is a failure, not a
/// stuck test. Its output is read as it comes, so a full pipe never
/// blocks it.
fn plugflow_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(args)
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "plugflow {args:?} did not finish within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn doc(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not exactly one JSON document ({e}): {:?}\nstderr: {}",
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

fn one_node(dir: &Path, node_type: &str, parameters: Value) -> PathBuf {
    write(
        dir,
        "w.json",
        &json!({"nodes": [{"id": "n", "nodeType": node_type, "parameters": parameters}]})
            .to_string(),
    )
}

const BREAKOUT: &str = "1); }); while(true); /*'*/ (function(){ /*'*/ return (1";

#[test]
fn validate_does_not_run_an_expression_that_closes_its_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "transform",
        json!({"output": format!("{{{{ {BREAKOUT} }}}}")}),
    );
    let out = plugflow_within(
        &["validate", s(&wf), "--output", "json"],
        Duration::from_secs(10),
    );
    let report = doc(&out);
    assert_eq!(
        report["warnings"][0]["code"], "TEMPLATE_KEPT_AS_TEXT",
        "{report}"
    );
}

#[test]
fn graph_does_not_run_an_expression_that_closes_its_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "transform",
        json!({"output": format!("{{{{ {BREAKOUT} }}}}")}),
    );
    let out = plugflow_within(&["graph", s(&wf)], Duration::from_secs(10));
    assert!(out.status.success());
}

#[test]
fn run_keeps_an_expression_that_closes_its_wrapper_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "transform",
        json!({"output": format!("{{{{ {BREAKOUT} }}}}")}),
    );
    let out = plugflow_within(
        &["run", s(&wf), "--output", "json"],
        Duration::from_secs(10),
    );
    assert_eq!(
        doc(&out)["nodes"]["n"]["output"],
        format!("{{{{{BREAKOUT} }}}}").replacen("{{", "{{ ", 1)
    );
}

#[test]
fn a_list_predicate_that_closes_its_wrapper_fails_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "list.map",
        json!({"array": [1, 2], "expression": BREAKOUT}),
    );
    let out = plugflow_within(
        &["run", s(&wf), "--output", "json"],
        Duration::from_secs(10),
    );
    assert_eq!(doc(&out)["nodes"]["n"]["errorCode"], "EXPRESSION_ERROR");
}

fn loops_in_conversion(expression: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "transform",
        json!({"output": format!("{{{{ {expression} }}}}")}),
    );
    let out = plugflow_within(
        &["run", s(&wf), "--timeout", "2", "--output", "json"],
        Duration::from_secs(10),
    );
    let result = doc(&out);
    assert_eq!(out.status.code(), Some(1), "{result}");
    assert_eq!(
        result["nodes"]["n"]["errorCode"], "EXECUTION_TIMEOUT",
        "{result}"
    );
}

#[test]
fn a_loop_in_to_json_stops_at_the_time_limit() {
    loops_in_conversion("({toJSON(){ while(true){} }})");
}

#[test]
fn a_loop_in_a_getter_stops_at_the_time_limit() {
    loops_in_conversion("({get x(){ while(true){} }})");
}

#[test]
fn a_loop_in_a_proxy_trap_stops_at_the_time_limit() {
    loops_in_conversion("new Proxy({}, {ownKeys(){ while(true){} }})");
}

#[test]
fn the_execution_deadline_holds_inside_an_inline_list_node() {
    let dir = tempfile::tempdir().unwrap();
    let slow = "(() => { const t = Date.now(); while (Date.now() - t < 450) {} return $item; })()";
    let wf = one_node(
        dir.path(),
        "list.map",
        json!({"array": (0..20).collect::<Vec<_>>(), "expression": slow}),
    );
    let started = Instant::now();
    let out = plugflow_within(
        &["run", s(&wf), "--timeout", "2", "--output", "json"],
        Duration::from_secs(20),
    );
    let took = started.elapsed();
    let result = doc(&out);
    assert_eq!(out.status.code(), Some(1), "{result}");
    assert_eq!(
        result["nodes"]["n"]["errorCode"], "EXECUTION_TIMEOUT",
        "{result}"
    );
    assert!(
        took < Duration::from_secs(6),
        "20 items at 450 ms must stop near 2 s, took {took:?}"
    );
}

#[test]
fn the_execution_deadline_holds_between_inline_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let slow =
        "{{ (() => { const t = Date.now(); while (Date.now() - t < 400) {} return 1; })() }}";
    let nodes: Vec<Value> = (0..12).map(|i| json!({"id": format!("n{i}"), "nodeType": "transform", "parameters": {"output": slow}})).collect();
    let connections: serde_json::Map<String, Value> = (0..11)
        .map(|i| {
            (
                format!("n{i}"),
                json!({"main": [[{"node": format!("n{}", i + 1), "type": "main", "index": 0}]]}),
            )
        })
        .collect();
    let wf = write(
        dir.path(),
        "chain.json",
        &json!({"nodes": nodes, "connections": connections}).to_string(),
    );
    let started = Instant::now();
    let out = plugflow_within(
        &["run", s(&wf), "--timeout", "1", "--output", "json"],
        Duration::from_secs(20),
    );
    let result = doc(&out);
    // Stopped by the deadline: between nodes (cancelled), or inside the
    // expression running when it passed (that node times out).
    assert_ne!(result["status"], "success", "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_very_deep_dict_path_is_invalid_parameters_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = vec!["a"; 100_000].join(".");
    let wf = one_node(
        dir.path(),
        "dict.set",
        json!({"object": {}, "path": path, "value": 1}),
    );
    let out = plugflow(&["run", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc(&out)["nodes"]["n"]["errorCode"], "INVALID_PARAMETERS");
}

#[test]
fn a_replace_over_the_output_limit_is_refused_before_it_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "string.replace",
        json!({"value": "a".repeat(200_000), "search": "a", "replace": "b".repeat(100_000)}),
    );
    let out = plugflow_within(
        &["run", s(&wf), "--output", "json"],
        Duration::from_secs(20),
    );
    let result = doc(&out);
    let error = result["nodes"]["n"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("output limit"), "{result}");
}

#[test]
fn csv_of_many_distinct_columns_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Value> = (0..20_000).map(|i| json!({format!("k{i}"): i})).collect();
    let input = write(dir.path(), "rows.json", &json!({"rows": rows}).to_string());
    let wf = one_node(
        dir.path(),
        "transform",
        json!({"input": "{{ $json.rows }}", "format": "csv"}),
    );
    let started = Instant::now();
    let out = plugflow_within(
        &[
            "run",
            s(&wf),
            "--input",
            &format!("@{}", input.display()),
            "--output",
            "json",
        ],
        Duration::from_secs(30),
    );
    let result = doc(&out);
    assert!(
        result["nodes"]["n"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("output limit"),
        "{result}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn input_over_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let input = write(
        dir.path(),
        "big.json",
        &format!("[{}1]", "1,".repeat(600_000)),
    );
    let out = plugflow(&[
        "run",
        s(&wf),
        "--input",
        &format!("@{}", input.display()),
        "--max-input-bytes",
        "1000000",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["error"]["code"], "INPUT_TOO_LARGE");
}

#[test]
fn input_under_a_raised_limit_runs() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(dir.path(), "list.length", json!({"array": "{{ $json }}"}));
    let input = write(
        dir.path(),
        "big.json",
        &format!("[{}1]", "1,".repeat(600_000)),
    );
    let out = plugflow(&[
        "run",
        s(&wf),
        "--input",
        &format!("@{}", input.display()),
        "--max-input-bytes",
        "2000000",
        "--output",
        "json",
    ]);
    assert_eq!(doc(&out)["nodes"]["n"]["output"]["result"], 600_001);
}

#[cfg(unix)]
#[test]
fn symlink_loops_in_a_plugin_directory_do_not_hang_discovery() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("x")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("y")).unwrap();
    let out = plugflow_within(
        &["plugins", "check", s(dir.path()), "--output", "json"],
        Duration::from_secs(20),
    );
    let report = doc(&out);
    let issues = report["issues"].as_array().unwrap();
    assert!(
        issues
            .iter()
            .any(|i| i["message"].as_str().unwrap().contains("symlink loop")),
        "{report}"
    );
}

#[cfg(unix)]
#[test]
fn a_run_with_a_looping_plugin_directory_finishes() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("loop")).unwrap();
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let out = plugflow_within(
        &[
            "run",
            s(&wf),
            "--plugins",
            s(dir.path()),
            "--output",
            "json",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(doc(&out)["status"], "success");
}

#[cfg(unix)]
fn world_writable_plugin() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    plugflow_tests::install(&open, &["fixture_echo"]);
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    (dir, open)
}

#[cfg(unix)]
#[test]
fn a_plugin_in_a_world_writable_directory_is_refused() {
    let (_dir, open) = world_writable_plugin();
    let out = plugflow(&["plugins", "check", s(&open), "--output", "json"]);
    let report = doc(&out);
    assert_eq!(report["files"][0]["status"], "rejected", "{report}");
    assert_eq!(report["files"][0]["reason"], "WORLD_WRITABLE");
}

#[cfg(unix)]
#[test]
fn the_world_writable_refusal_can_be_downgraded_to_a_warning() {
    let (dir, open) = world_writable_plugin();
    let config = write(
        dir.path(),
        "c.toml",
        "[plugins]\nworld-writable = \"warn\"\n",
    );
    let out = plugflow(&[
        "plugins",
        "check",
        s(&open),
        "--config",
        s(&config),
        "--output",
        "json",
    ]);
    let report = doc(&out);
    assert_eq!(report["files"][0]["status"], "loaded", "{report}");
}

#[cfg(unix)]
#[test]
fn a_plugin_cache_writable_by_others_is_not_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    plugflow_tests::install(&plugins, &["fixture_echo"]);
    let cache = dir.path().join("cache.json");
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_plugflow"))
            .args([
                "run",
                s(&wf),
                "--plugins",
                s(&plugins),
                "--plugin-cache",
                s(&cache),
                "--output",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    assert!(cache.exists());
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(&["--log-level", "warn"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("others may write it"), "{stderr}");
}

#[test]
fn eight_concurrent_runs_keep_one_valid_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let policy = write(
        dir.path(),
        "p.json",
        &json!({"tenantId": "acme", "auditLogging": true}).to_string(),
    );
    let nodes: Vec<Value> = (0..10).map(|i| json!({"id": format!("n{i}"), "nodeType": "transform", "parameters": {"output": i}})).collect();
    let wf = write(dir.path(), "w.json", &json!({"nodes": nodes}).to_string());
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_plugflow"))
                .args([
                    "run",
                    s(&wf),
                    "--tenant",
                    "acme",
                    "--policy",
                    s(&policy),
                    "--audit-log",
                    s(&log),
                    "--output",
                    "json",
                ])
                .env("PLUGFLOW_PLUGIN_CACHE", "off")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let out = plugflow(&["audit", "verify", s(&log), "--output", "json"]);
    let report = doc(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["verifiedLines"], 80);
}

#[test]
fn a_torn_audit_tail_is_fenced_and_later_tampering_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let policy = write(
        dir.path(),
        "p.json",
        &json!({"tenantId": "acme", "auditLogging": true}).to_string(),
    );
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let run = || {
        plugflow(&[
            "run",
            s(&wf),
            "--tenant",
            "acme",
            "--policy",
            s(&policy),
            "--audit-log",
            s(&log),
        ])
    };
    run();
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"seq\": 2, \"ti");
    std::fs::write(&log, text).unwrap();
    run();
    run();
    let clean = doc(&plugflow(&["audit", "verify", s(&log), "--output", "json"]));
    assert_eq!(clean["fencedLines"], 1, "{clean}");
    assert!(clean["firstBroken"].is_null(), "{clean}");
    // Tamper with a record after the fence: found.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let target = lines.len() - 2;
    lines[target] = lines[target].replace("\"success\"", "\"error\"");
    std::fs::write(
        &log,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let out = plugflow(&["audit", "verify", s(&log), "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc(&out)["firstBroken"]["line"], lines.len());
}

#[test]
fn audit_verify_of_a_broken_log_prints_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "audit.jsonl", "not a record\n");
    let out = plugflow(&["audit", "verify", s(&log), "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(doc(&out)["firstBroken"].is_object());
}

#[test]
fn too_deep_nesting_prints_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "deep.json",
        &format!(
            "{{\"nodes\": {}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["valid"], false);
}

#[test]
fn a_missing_workflow_file_prints_one_document() {
    let out = plugflow(&["run", "/nonexistent.json", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["problems"][0]["code"], "FILE_UNREADABLE");
}

#[test]
fn control_characters_in_node_ids_are_escaped_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "w.json", &json!({"nodes": [{"id": "evil\u{1b}]0;pwned\u{7}\nplugflow: forged line", "nodeType": "ghost.type"}]}).to_string());
    let out = plugflow(&["run", s(&wf)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("plugflow: "))
            .count(),
        1,
        "{stderr:?}"
    );
}

#[test]
fn text_logs_carry_no_colours_when_stderr_is_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let out = plugflow(&["run", s(&wf), "--log-level", "info"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("execution_started"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn an_invalid_log_level_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(dir.path(), "transform", json!({"output": 1}));
    let out = plugflow(&["run", s(&wf), "--log-level", "loud", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(doc(&out)["error"]["code"], "USAGE");
}

#[test]
fn a_parallel_task_that_is_a_parallel_node_is_a_validation_problem() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(
        dir.path(),
        "w.json",
        &json!({"nodes": [
        {"id": "outer", "nodeType": "parallel", "parameters": {"tasks": [{"nodeId": "inner"}]}},
        {"id": "inner", "nodeType": "parallel", "parameters": {"tasks": [{"nodeId": "leaf"}]}},
        {"id": "leaf", "nodeType": "transform", "parameters": {"output": 1}}]})
        .to_string(),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(doc(&out)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("itself a parallel node"));
}

#[test]
fn an_invalid_regex_rule_is_a_validation_problem() {
    let dir = tempfile::tempdir().unwrap();
    let wf = one_node(
        dir.path(),
        "validate",
        json!({"rules": {"code": "required|regex:[a-z"}}),
    );
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(doc(&out)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not a valid regex"));
}

fn config_error(toml: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "c.toml", toml);
    let out = plugflow(&[
        "plugins",
        "list",
        "--config",
        s(&config),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    doc(&out)["error"].clone()
}

#[test]
fn an_smtp_port_out_of_range_is_a_configuration_error() {
    let error = config_error("[smtp]\nhost = \"mail\"\nport = 99999\n");
    assert_eq!(error["code"], "CONFIG_INVALID");
    assert!(
        error["message"].as_str().unwrap().contains("port"),
        "{error}"
    );
}

#[test]
fn an_egress_entry_that_is_not_a_list_is_a_configuration_error() {
    let error = config_error("[http-egress]\nB = \"host\"\n");
    assert_eq!(error["code"], "CONFIG_INVALID");
}

#[test]
fn a_tenant_with_two_policies_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "p.json",
        &json!([{"tenantId": "a"}, {"tenantId": "a", "restrictedNodeTypes": ["x"]}]).to_string(),
    );
    let out = plugflow(&[
        "plugins",
        "list",
        "--policy",
        s(&policy),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(doc(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("more than one policy"));
}

#[test]
fn a_policy_field_of_the_wrong_type_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "p.json",
        &json!([{"tenantId": "a", "allowedNodeTypes": "string.*"}]).to_string(),
    );
    let out = plugflow(&[
        "plugins",
        "list",
        "--policy",
        s(&policy),
        "--output",
        "json",
    ]);
    let message = doc(&out)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("allowedNodeTypes"), "{message}");
    assert!(!message.contains("untagged"), "{message}");
}

#[test]
fn a_library_for_another_architecture_names_the_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let installed = plugflow_tests::install(&plugins, &["fixture_echo"]);
    // Patch the ELF header's machine field (offset 18) to AArch64 (183),
    // or to x86-64 (62) on an AArch64 host.
    let mut bytes = std::fs::read(&installed[0]).unwrap();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    };
    bytes[18..20].copy_from_slice(&other.to_le_bytes());
    std::fs::write(&installed[0], bytes).unwrap();
    let out = plugflow(&["plugins", "check", s(&plugins), "--output", "json"]);
    let report = doc(&out);
    assert_eq!(
        report["files"][0]["reason"], "WRONG_ARCHITECTURE",
        "{report}"
    );
    assert!(
        report["files"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Aarch64")
            || cfg!(target_arch = "aarch64")
    );
}

#[test]
fn max_tries_over_the_cap_is_capped_and_warned() {
    let dir = tempfile::tempdir().unwrap();
    let wf = write(dir.path(), "w.json", &json!({"nodes": [{"id": "n", "nodeType": "transform", "maxTries": 100000, "parameters": {"output": 1}}]}).to_string());
    let out = plugflow(&["validate", s(&wf), "--output", "json"]);
    assert_eq!(doc(&out)["warnings"][0]["code"], "CAPPED");
}
