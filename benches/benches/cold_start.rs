//! `cli/cold_run/3_nodes`: the whole `plugflow run` process, cold, on a
//! 3-node workflow: exec, runtime start, registering every built-in node
//! type (schemas compiled), parsing, validating and running, printing JSON.
//!
//! Needs the release binary: `cargo build --release -p plugflow` first
//! (`benches/run.sh` does).

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};

const WORKFLOW: &str = r#"{"id": "cold", "name": "cold",
  "nodes": [
    {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
    {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [1, 0], "parameters": {"value": "{{ $json.name }}"}},
    {"id": "respond", "name": "respond", "type": "action", "nodeType": "webhook-response", "typeVersion": 1, "position": [2, 0], "parameters": {"body": {"hello": "{{ $input.result }}"}}}],
  "connections": {
    "start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]},
    "shout": {"main": [[{"node": "respond", "type": "main", "index": 0}]]}}}"#;

fn cold_run(c: &mut Criterion) {
    let binary = plugflow_benches::plugflow_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let workflow = dir.path().join("cold.json");
    std::fs::write(&workflow, WORKFLOW).expect("workflow written");
    let mut command = Command::new(&binary);
    command
        .arg("run")
        .arg(&workflow)
        .args([
            "--input",
            r#"{"name": "ada"}"#,
            "--output",
            "json",
            "--quiet",
        ])
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_CONFIG");
    let check = command.output().expect("plugflow runs");
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("\"ADA\""),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut group = c.benchmark_group("cli");
    group.sample_size(30);
    group.bench_function("cold_run/3_nodes", |b| {
        b.iter(|| {
            let out = command.output().expect("plugflow runs");
            assert!(out.status.success());
            out
        });
    });
    group.finish();
}

criterion_group!(benches, cold_run);
criterion_main!(benches);
