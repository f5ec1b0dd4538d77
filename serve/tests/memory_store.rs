//! The in-memory execution store (`store = ":memory:"`): executions are
//! served from memory, nothing is written to disk, and each tenant's
//! finished executions are bounded by `keep-executions`.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{call, config, start_with, ACME_KEY, GLOBEX_KEY};
use plugflow_serve::{ServeConfig, Server, StartError};
use serde_json::{json, Value};

fn greet() -> Value {
    json!({"id": "greet", "name": "greet", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [1, 0], "parameters": {"value": "{{ $json.name }}"}}],
      "connections": {"start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]}}})
}

fn in_memory(dir: &std::path::Path, keep: Option<usize>) -> ServeConfig {
    ServeConfig {
        store: PathBuf::from(":memory:"),
        keep_executions: keep,
        ..config(dir, &[("greet.json", greet())])
    }
}

fn run(base: &str, key: &str, name: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/workflows/greet/executions"),
        Some(key),
        Some(&json!({"input": {"name": name}, "wait": true})),
    );
    assert_eq!(status, 200, "{body}");
    body["executionId"].as_str().unwrap().to_owned()
}

fn listed(base: &str, key: &str) -> Vec<String> {
    let (_, body) = call("GET", &format!("{base}/v1/executions"), Some(key), None);
    body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["executionId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn executions_in_memory_are_served_by_the_api_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = in_memory(dir.path(), None);
    let s = start_with(dir, config);
    let id = run(&s.base, ACME_KEY, "ada");
    let (status, record) = call(
        "GET",
        &format!("{}/v1/executions/{id}", s.base),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(
        (
            status,
            &record["result"]["nodes"]["shout"]["output"]["result"]
        ),
        (200, &json!("ADA")),
        "{record}"
    );
    let files: Vec<_> = std::fs::read_dir(s.dir.as_ref().unwrap().path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["workflows"], "only the workflows directory");
}

#[test]
fn keep_executions_deletes_a_tenants_oldest_finished_executions() {
    let dir = tempfile::tempdir().unwrap();
    let config = in_memory(dir.path(), Some(2));
    let s = start_with(dir, config);
    let ids: Vec<String> = (0..4)
        .map(|i| run(&s.base, ACME_KEY, &format!("n{i}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut kept = listed(&s.base, ACME_KEY);
        if kept.len() == 2 {
            kept.sort();
            let mut newest = ids[2..].to_vec();
            newest.sort();
            assert_eq!(kept, newest);
            break;
        }
        assert!(Instant::now() < deadline, "never trimmed: {kept:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn keep_executions_counts_each_tenant_apart() {
    let dir = tempfile::tempdir().unwrap();
    let config = in_memory(dir.path(), Some(2));
    let s = start_with(dir, config);
    let globex = run(&s.base, GLOBEX_KEY, "g");
    for i in 0..4 {
        run(&s.base, ACME_KEY, &format!("n{i}"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&s.base, ACME_KEY).len() > 2 {
        assert!(Instant::now() < deadline, "never trimmed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(listed(&s.base, GLOBEX_KEY), [globex]);
}

#[test]
fn keep_executions_with_postgresql_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        keep_executions: Some(10),
        database_url: Some("postgres://nobody@127.0.0.1:1/none".into()),
        ..config(dir.path(), &[("greet.json", greet())])
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bound = runtime.block_on(Server::bind(common::registry(), config));
    match bound {
        Err(StartError::Config(message)) => {
            assert!(message.contains("retention-days"), "{message}")
        }
        Err(other) => panic!("not a configuration error: {other}"),
        Ok(_) => panic!("started"),
    }
}
