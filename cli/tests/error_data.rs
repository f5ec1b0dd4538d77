//! No silent null: what a failed node carries to the nodes after it, through
//! the `plugflow` binary against a real HTTP service on 127.0.0.1.

use std::path::Path;

use plugflow_tests::http_server::{self, Response};
use plugflow_tests::plugflow_command;
use serde_json::{json, Value};

/// A service answering 503 with a JSON body.
fn unavailable() -> u16 {
    http_server::serve(|_, _| {
        Response::json(503, &json!({"reason": "maintenance", "retryInSeconds": 30}))
    })
}

/// Runs `workflow` with a config opening 127.0.0.1; returns its result.
fn run(workflow: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let config = write("plugflow.toml", "[http-egress]\n\"*\" = [\"127.0.0.1\"]\n");
    let path = write("w.json", &workflow.to_string());
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let out = plugflow_command(env!("CARGO_BIN_EXE_plugflow"))
        .args([
            "run",
            &s(&path),
            "--config",
            &s(&config),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// An http-request node with `on_error`, feeding `next` on `port`.
fn fetch_then(port: u16, on_error: &str, edge_port: &str) -> Value {
    json!({
        "nodes": [
            {"id": "fetch", "name": "Fetch", "nodeType": "http-request", "onError": on_error,
             "parameters": {"url": format!("http://127.0.0.1:{port}/promo"), "timeout": 5}},
            {"id": "next", "name": "Next", "nodeType": "transform",
             "parameters": {"output": {"seen": "{{ $input.error }}"}}}
        ],
        "connections": {"fetch": {edge_port: [[{"node": "next", "type": "main", "index": 0}]]}}
    })
}

#[test]
fn the_error_port_carries_the_http_response_in_details() {
    let result = run(&fetch_then(unavailable(), "continueErrorOutput", "error"));
    let seen = &result["nodes"]["next"]["output"]["seen"];
    assert_eq!(seen["details"]["status"], 503, "{result:#}");
    assert_eq!(
        seen["details"]["body"],
        json!({"reason": "maintenance", "retryInSeconds": 30})
    );
    assert!(
        seen["code"].is_string() && seen["message"].is_string(),
        "{seen:#}"
    );
}

#[test]
fn a_failed_node_that_continues_passes_its_error_with_details() {
    let result = run(&fetch_then(unavailable(), "continueRegularOutput", "main"));
    let seen = &result["nodes"]["next"]["output"]["seen"];
    assert_eq!(seen["details"]["status"], 503, "{result:#}");
}

#[test]
fn the_node_after_a_failed_node_that_continued_is_warned_its_input_is_degraded() {
    let result = run(&fetch_then(unavailable(), "continueRegularOutput", "main"));
    let warnings = result["nodes"]["next"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        warnings.iter().any(|w| w["code"] == "DEGRADED_INPUT"),
        "{result:#}"
    );
}
