//! The service over real HTTP: authentication, tenants, runs, executions,
//! webhooks, limits, health and metrics.

mod common;

use std::time::{Duration, Instant};

use common::{call, call_raw, start, Running, ACME_KEY, GLOBEX_KEY};
use serde_json::{json, Value};

/// `greet`: shared (no tenant): `string.upper` of `$json.name`.
fn greet() -> Value {
    json!({"id": "greet", "name": "greet", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [1, 0], "parameters": {"value": "{{ $json.name }}"}}],
      "connections": {"start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]}}})
}

/// `acme-only`: declares tenant acme; a webhook answering through
/// `webhook-response`.
fn acme_only() -> Value {
    json!({"id": "acme-only", "name": "acme only", "tenantId": "acme", "nodes": [
        {"id": "hook", "name": "hook", "type": "trigger", "nodeType": "webhook-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {"path": "/orders", "httpMethod": "POST"}},
        {"id": "total", "name": "total", "type": "operation", "nodeType": "math.add", "typeVersion": 1, "position": [1, 0], "parameters": {"values": ["{{ $json.amount }}", 1]}},
        {"id": "reply", "name": "reply", "type": "action", "nodeType": "webhook-response", "typeVersion": 1, "position": [2, 0], "parameters": {"statusCode": 201, "headers": {"x-order": "accepted"}, "body": {"total": "{{ $input.result }}"}}}],
      "connections": {
        "hook": {"main": [[{"node": "total", "type": "main", "index": 0}]]},
        "total": {"main": [[{"node": "reply", "type": "main", "index": 0}]]}}})
}

/// `slow`: a `wait` node of `ms` milliseconds.
fn slow() -> Value {
    json!({"id": "slow", "name": "slow", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "pause", "name": "pause", "type": "operation", "nodeType": "wait", "typeVersion": 1, "position": [1, 0], "parameters": {"duration": "{{ $json.ms }}", "unit": "ms"}}],
      "connections": {"start": {"main": [[{"node": "pause", "type": "main", "index": 0}]]}}})
}

fn server() -> Running {
    start(&[
        ("greet.json", greet()),
        ("acme-only.json", acme_only()),
        ("slow.json", slow()),
    ])
}

fn url(server: &Running, path: &str) -> String {
    format!("{}{path}", server.base)
}

#[test]
fn a_request_without_a_key_is_unauthorized() {
    let s = server();
    let (status, body) = call("GET", &url(&s, "/v1/workflows"), None, None);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[test]
fn a_request_with_a_wrong_key_is_unauthorized() {
    let s = server();
    let (status, _) = call("GET", &url(&s, "/v1/workflows"), Some("nope"), None);
    assert_eq!(status, 401);
}

#[test]
fn a_tenant_lists_shared_workflows_and_its_own_only() {
    let s = server();
    let ids = |key| {
        let (status, body) = call("GET", &url(&s, "/v1/workflows"), Some(key), None);
        assert_eq!(status, 200);
        let mut ids: Vec<String> = body["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(ACME_KEY), ["acme-only", "greet", "slow"]);
    assert_eq!(ids(GLOBEX_KEY), ["greet", "slow"]);
}

#[test]
fn a_synchronous_run_answers_with_the_result() {
    let s = server();
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "ada"}, "wait": true})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["result"]["nodes"]["shout"]["output"]["result"], "ADA");
}

#[test]
fn an_asynchronous_run_answers_at_once_and_is_recorded() {
    let s = server();
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "bo"}, "wait": false})),
    );
    assert_eq!(status, 202, "{body}");
    let id = body["executionId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, record) = call(
            "GET",
            &url(&s, &format!("/v1/executions/{id}")),
            Some(ACME_KEY),
            None,
        );
        assert_eq!(status, 200, "{record}");
        if record["status"] == "success" {
            assert_eq!(record["result"]["nodes"]["shout"]["output"]["result"], "BO");
            assert_eq!(record["input"], json!({"name": "bo"}));
            break;
        }
        assert!(Instant::now() < deadline, "still {record}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn another_tenants_workflow_is_not_found() {
    let s = server();
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/acme-only/executions"),
        Some(GLOBEX_KEY),
        Some(&json!({"input": {}})),
    );
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[test]
fn another_tenants_execution_is_not_found_and_cannot_be_cancelled() {
    let s = server();
    let (_, body) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "x"}})),
    );
    let id = body["executionId"].as_str().unwrap().to_owned();
    let (status, _) = call(
        "GET",
        &url(&s, &format!("/v1/executions/{id}")),
        Some(GLOBEX_KEY),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = call(
        "POST",
        &url(&s, &format!("/v1/executions/{id}/cancel")),
        Some(GLOBEX_KEY),
        None,
    );
    assert_eq!(status, 404);
    let (_, listed) = call("GET", &url(&s, "/v1/executions"), Some(GLOBEX_KEY), None);
    assert_eq!(listed["executions"], json!([]));
}

#[test]
fn executions_are_listed_newest_first_and_filtered_by_workflow_and_status() {
    let s = server();
    for name in ["a", "b"] {
        let (status, _) = call(
            "POST",
            &url(&s, "/v1/workflows/greet/executions"),
            Some(ACME_KEY),
            Some(&json!({"input": {"name": name}})),
        );
        assert_eq!(status, 200);
    }
    let (status, listed) = call(
        "GET",
        &url(&s, "/v1/executions?workflowId=greet&status=success&limit=1"),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["executions"].as_array().unwrap().len(), 1);
    assert_eq!(listed["nextOffset"], 1);
    let (_, none) = call(
        "GET",
        &url(&s, "/v1/executions?workflowId=slow"),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(none["executions"], json!([]));
}

#[test]
fn a_running_execution_is_cancelled() {
    let s = server();
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/slow/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"ms": 20000}, "wait": false})),
    );
    assert_eq!(status, 202);
    let id = body["executionId"].as_str().unwrap().to_owned();
    let (status, _) = call(
        "POST",
        &url(&s, &format!("/v1/executions/{id}/cancel")),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, record) = call(
            "GET",
            &url(&s, &format!("/v1/executions/{id}")),
            Some(ACME_KEY),
            None,
        );
        if record["status"] != "running" {
            assert_eq!(record["status"], "cancelled", "{record}");
            break;
        }
        assert!(Instant::now() < deadline, "not cancelled: {record}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_webhook_runs_for_its_tenant_and_webhook_response_shapes_the_answer() {
    let s = server();
    let (status, text, headers) = call_raw(
        "POST",
        &url(&s, "/webhook/orders"),
        Some(ACME_KEY),
        Some(json!({"amount": 41}).to_string()),
    );
    assert_eq!(status, 201, "{text}");
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-order" && v == "accepted"),
        "{headers:?}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"total": 42}));
}

#[test]
fn another_tenants_webhook_is_not_found() {
    let s = server();
    let (status, _, _) = call_raw(
        "POST",
        &url(&s, "/webhook/orders"),
        Some(GLOBEX_KEY),
        Some(json!({"amount": 1}).to_string()),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_webhook_with_another_method_is_not_found() {
    let s = server();
    let (status, _, _) = call_raw("GET", &url(&s, "/webhook/orders"), Some(ACME_KEY), None);
    assert_eq!(status, 404);
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    // Small limit and body: the whole request is in the socket buffers
    // before the early answer, so the client always reads it.
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("greet.json", greet())]);
    config.max_body_bytes = 1024;
    let s = common::start_with(dir, config);
    let big = json!({"input": {"name": "x".repeat(8 * 1024)}});
    let (status, _) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&big),
    );
    assert_eq!(status, 413);
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("slow.json", slow())]);
    config.max_concurrent_executions = 1;
    config.queue = 1;
    let s = common::start_with(dir, config);
    let run = |ms: u64| {
        call_raw(
            "POST",
            &url(&s, "/v1/workflows/slow/executions"),
            Some(ACME_KEY),
            Some(json!({"input": {"ms": ms}, "wait": false}).to_string()),
        )
    };
    // One runs, one waits: the queue is full.
    assert_eq!(run(5000).0, 202);
    assert_eq!(run(5000).0, 202);
    let (status, _, headers) = run(1);
    assert_eq!(status, 429);
    assert!(
        headers.iter().any(|(n, v)| n == "retry-after" && v == "1"),
        "{headers:?}"
    );
}

#[test]
fn health_is_live_and_ready_with_the_store_reachable() {
    let s = server();
    let (status, live) = call("GET", &url(&s, "/health/live"), None, None);
    assert_eq!((status, live["status"].clone()), (200, json!("live")));
    let (status, ready) = call("GET", &url(&s, "/health/ready"), None, None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["workflows"], 3);
    assert_eq!(ready["store"], true);
}

#[test]
fn metrics_count_executions_and_registry_work_in_prometheus_text() {
    let s = server();
    call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "m"}})),
    );
    let (status, text, _) = call_raw("GET", &url(&s, "/metrics"), None, None);
    assert_eq!(status, 200);
    assert!(
        text.contains("plugflow_executions_started_total 1"),
        "{text}"
    );
    assert!(
        text.contains("plugflow_executions_finished_total{status=\"success\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE plugflow_http_requests_total counter"),
        "{text}"
    );
}

#[test]
fn executions_survive_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path(), &[("greet.json", greet())]);
    let first = common::start_config(config.clone());
    let (_, body) = call(
        "POST",
        &url(&first, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "kept"}})),
    );
    let id = body["executionId"].as_str().unwrap().to_owned();
    drop(first);
    let again = common::start_config(config);
    let (status, record) = call(
        "GET",
        &url(&again, &format!("/v1/executions/{id}")),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        record["result"]["nodes"]["shout"]["output"]["result"],
        "KEPT"
    );
}

/// `divide`: `shout` succeeds, then `split` divides by `$json.by`.
fn divide() -> Value {
    json!({"id": "divide", "name": "divide", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [1, 0], "parameters": {"value": "{{ $json.name }}"}},
        {"id": "split", "name": "split", "type": "operation", "nodeType": "math.divide", "typeVersion": 1, "position": [2, 0], "parameters": {"a": 10, "b": "{{ $json.by }}"}}],
      "connections": {
        "start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]},
        "shout": {"main": [[{"node": "split", "type": "main", "index": 0}]]}}})
}

#[test]
fn a_failed_execution_is_retried_from_its_failed_node() {
    let s = start(&[("divide.json", divide())]);
    let (status, failed) = call(
        "POST",
        &url(&s, "/v1/workflows/divide/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "ada", "by": 0}})),
    );
    assert_eq!(
        (status, failed["status"].clone()),
        (200, json!("error")),
        "{failed}"
    );
    let id = failed["executionId"].as_str().unwrap();
    let (status, retried) = call(
        "POST",
        &url(&s, &format!("/v1/executions/{id}/retry")),
        Some(ACME_KEY),
        Some(&json!({"wait": true})),
    );
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["retryOf"], id);
    assert_ne!(retried["executionId"], id);
    let nodes = &retried["result"]["nodes"];
    assert!(
        nodes["shout"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not run again"),
        "{nodes}"
    );
    assert_eq!(nodes["shout"]["output"]["result"], "ADA");
    assert_eq!(
        nodes["split"]["status"], "error",
        "the failed node ran again: {nodes}"
    );
    assert!(nodes["split"]["reason"].is_null(), "{nodes}");
}

#[test]
fn a_successful_execution_cannot_be_retried() {
    let s = server();
    let (_, done) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "x"}})),
    );
    let id = done["executionId"].as_str().unwrap();
    let (status, body) = call(
        "POST",
        &url(&s, &format!("/v1/executions/{id}/retry")),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(status, 409, "{body}");
}

#[test]
fn another_tenants_execution_cannot_be_retried() {
    let s = start(&[("divide.json", divide())]);
    let (_, failed) = call(
        "POST",
        &url(&s, "/v1/workflows/divide/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "a", "by": 0}})),
    );
    let id = failed["executionId"].as_str().unwrap();
    let (status, _) = call(
        "POST",
        &url(&s, &format!("/v1/executions/{id}/retry")),
        Some(GLOBEX_KEY),
        None,
    );
    assert_eq!(status, 404);
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or("").to_owned());
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_describes_every_api_route() {
    let s = server();
    let (status, doc) = call("GET", &url(&s, "/v1/openapi.json"), None, None);
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{}",
        doc["openapi"]
    );
    for (path, method) in [
        ("/v1/workflows", "get"),
        ("/v1/workflows/{id}/executions", "post"),
        ("/v1/executions", "get"),
        ("/v1/executions/{id}", "get"),
        ("/v1/executions/{id}/cancel", "post"),
        ("/v1/executions/{id}/retry", "post"),
        ("/v1/workflows/{id}", "get"),
        ("/v1/dashboard", "get"),
        ("/v1/admin/reload", "post"),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]["401"].is_object(),
            "{method} {path} lacks its 401"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
}

#[test]
fn every_reference_in_the_openapi_document_resolves() {
    let s = server();
    let (_, doc) = call("GET", &url(&s, "/v1/openapi.json"), None, None);
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {reference}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

/// `greet` with `string.lower` instead: its second version.
fn greet_v2() -> Value {
    let mut v2 = greet();
    v2["nodes"][1]["nodeType"] = json!("string.lower");
    v2
}

fn shout_of(s: &Running, name: &str) -> Value {
    let (_, done) = call(
        "POST",
        &url(s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": name}})),
    );
    done["result"]["nodes"]["shout"]["output"]["result"].clone()
}

fn workflows_dir(s: &Running) -> std::path::PathBuf {
    s.dir.as_ref().unwrap().path().join("workflows")
}

#[test]
fn an_admin_reload_serves_a_workflow_added_since() {
    let s = start(&[("greet.json", greet())]);
    std::fs::write(workflows_dir(&s).join("divide.json"), divide().to_string()).unwrap();
    let (status, done) = call("POST", &url(&s, "/v1/admin/reload"), Some(ACME_KEY), None);
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["workflows"], 2);
    let (status, _) = call(
        "POST",
        &url(&s, "/v1/workflows/divide/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "a", "by": 2}})),
    );
    assert_eq!(status, 200);
}

#[test]
fn a_key_without_admin_cannot_reload() {
    let s = start(&[("greet.json", greet())]);
    let (status, body) = call("POST", &url(&s, "/v1/admin/reload"), Some(GLOBEX_KEY), None);
    assert_eq!(status, 403, "{body}");
}

#[test]
fn a_changed_workflow_file_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("greet.json", greet())]);
    config.reload_interval_ms = 50;
    let s = common::start_with(dir, config);
    assert_eq!(shout_of(&s, "Ada"), "ADA");
    std::fs::write(workflows_dir(&s).join("greet.json"), greet_v2().to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while shout_of(&s, "Ada") != "ada" {
        assert!(Instant::now() < deadline, "the change was never picked up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_running_execution_finishes_on_the_version_it_started_with() {
    // v1 waits, then upper-cases; v2 lower-cases.
    let slow_v1 = json!({"id": "greet", "name": "greet", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "pause", "name": "pause", "type": "operation", "nodeType": "wait", "typeVersion": 1, "position": [1, 0], "parameters": {"duration": 800, "unit": "ms"}},
        {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [2, 0], "parameters": {"value": "{{ $json.name }}"}}],
      "connections": {
        "start": {"main": [[{"node": "pause", "type": "main", "index": 0}]]},
        "pause": {"main": [[{"node": "shout", "type": "main", "index": 0}]]}}});
    let s = start(&[("greet.json", slow_v1)]);
    let (_, accepted) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "Ada"}, "wait": false})),
    );
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::fs::write(workflows_dir(&s).join("greet.json"), greet_v2().to_string()).unwrap();
    let (status, _) = call("POST", &url(&s, "/v1/admin/reload"), Some(ACME_KEY), None);
    assert_eq!(status, 200);
    assert_eq!(
        shout_of(&s, "Ada"),
        "ada",
        "new executions run the new version"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let (_, record) = call(
            "GET",
            &url(&s, &format!("/v1/executions/{id}")),
            Some(ACME_KEY),
            None,
        );
        if record["status"] != "running" {
            break record;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        record["result"]["nodes"]["shout"]["output"]["result"], "ADA",
        "{record}"
    );
    let (_, workflows) = call("GET", &url(&s, "/v1/workflows"), Some(ACME_KEY), None);
    assert_ne!(
        record["workflowHash"], workflows["workflows"][0]["hash"],
        "it records the version it ran"
    );
}

/// `echo-request`: answers with parts of `$context.request`.
fn echo_request() -> Value {
    json!({"id": "echo-request", "name": "echo request", "nodes": [
        {"id": "hook", "name": "hook", "type": "trigger", "nodeType": "webhook-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {"path": "echo", "httpMethod": "PUT"}},
        {"id": "reply", "name": "reply", "type": "action", "nodeType": "webhook-response", "typeVersion": 1, "position": [1, 0], "parameters": {"body": {
            "method": "{{ $context.request.method }}",
            "ref": "{{ $context.request.query.ref }}",
            "path": "{{ $context.request.path }}",
            "amount": "{{ $json.amount }}"}}}],
      "connections": {"hook": {"main": [[{"node": "reply", "type": "main", "index": 0}]]}}})
}

#[test]
fn a_webhook_workflow_reads_the_request_as_context_request() {
    let s = start(&[("echo.json", echo_request())]);
    let (status, text, _) = call_raw(
        "PUT",
        &url(&s, "/webhook/echo?ref=a%20b&x=1"),
        Some(ACME_KEY),
        Some(json!({"amount": 3}).to_string()),
    );
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        json!({"method": "PUT", "ref": "a b", "path": "/webhook/echo", "amount": 3})
    );
}

#[test]
fn the_request_recorded_for_a_webhook_execution_leaves_out_credentials() {
    let s = start(&[("echo.json", echo_request())]);
    call_raw(
        "PUT",
        &url(&s, "/webhook/echo"),
        Some(ACME_KEY),
        Some(json!({"amount": 1}).to_string()),
    );
    let (_, listed) = call("GET", &url(&s, "/v1/executions"), Some(ACME_KEY), None);
    let id = listed["executions"][0]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, record) = call(
        "GET",
        &url(&s, &format!("/v1/executions/{id}")),
        Some(ACME_KEY),
        None,
    );
    let headers = &record["request"]["headers"];
    assert!(headers.is_object(), "{record}");
    assert!(headers.get("authorization").is_none(), "{headers}");
    assert!(!record.to_string().contains(ACME_KEY));
}

fn with_settings(mut workflow: Value, settings: Value) -> Value {
    workflow["settings"] = settings;
    workflow
}

fn record_of(s: &Running, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, record) = call(
            "GET",
            &url(s, &format!("/v1/executions/{id}")),
            Some(ACME_KEY),
            None,
        );
        if record["status"] != "running" {
            return record;
        }
        assert!(Instant::now() < deadline, "{record}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_divide(s: &Running, by: i64) -> String {
    let (_, done) = call(
        "POST",
        &url(s, "/v1/workflows/divide/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "a", "by": by}})),
    );
    done["executionId"].as_str().unwrap().to_owned()
}

#[test]
fn save_execution_data_none_keeps_the_status_but_not_the_data() {
    let s = start(&[(
        "divide.json",
        with_settings(divide(), json!({"saveExecutionData": "none"})),
    )]);
    let record = record_of(&s, &run_divide(&s, 2));
    assert_eq!(record["status"], "success");
    assert!(
        record.get("input").is_none() && record.get("result").is_none(),
        "{record}"
    );
}

#[test]
fn save_execution_data_errors_only_keeps_failed_executions_data_only() {
    let s = start(&[(
        "divide.json",
        with_settings(divide(), json!({"saveExecutionData": "errors-only"})),
    )]);
    let ok = record_of(&s, &run_divide(&s, 2));
    let failed = record_of(&s, &run_divide(&s, 0));
    assert!(ok.get("result").is_none(), "{ok}");
    assert_eq!(failed["status"], "error");
    assert!(failed["result"]["nodes"].is_object(), "{failed}");
}

#[test]
fn an_unknown_save_execution_data_leaves_the_workflow_out() {
    let s = start(&[(
        "divide.json",
        with_settings(divide(), json!({"saveExecutionData": "some"})),
    )]);
    let (status, _) = call(
        "POST",
        &url(&s, "/v1/workflows/divide/executions"),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(status, 404);
}

#[test]
fn max_concurrent_executions_of_a_workflow_makes_the_next_one_wait() {
    let slow = with_settings(slow(), json!({"maxConcurrentExecutions": 1}));
    let s = start(&[("slow.json", slow)]);
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let (_, accepted) = call(
                "POST",
                &url(&s, "/v1/workflows/slow/executions"),
                Some(ACME_KEY),
                Some(&json!({"input": {"ms": 800}, "wait": false})),
            );
            accepted["executionId"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut ends: Vec<u64> = ids
        .iter()
        .map(|id| record_of(&s, id)["finishedAtMs"].as_u64().unwrap())
        .collect();
    ends.sort();
    assert!(ends[1] - ends[0] >= 600, "they ran side by side: {ends:?}");
}

#[test]
fn a_request_that_stalls_mid_body_is_cut_off_with_408() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("greet.json", greet())]);
    config.request_timeout_ms = 100;
    let s = common::start_with(dir, config);
    let address = s.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /v1/workflows/greet/executions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ACME_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"input\""
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).unwrap();
    let status_line = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn executions_past_their_retention_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("greet.json", greet())]);
    config.retention_days = Some(1.0 / 86_400.0); // one second
    let s = common::start_with(dir, config);
    let (_, done) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "x"}})),
    );
    let id = done["executionId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = call(
            "GET",
            &url(&s, &format!("/v1/executions/{id}")),
            Some(ACME_KEY),
            None,
        );
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "never deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_delayed_run_without_the_shared_queue_is_a_clear_bad_request() {
    let s = server();
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "Ada"}, "delayMs": 1000})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PostgreSQL")),
        "{body}"
    );
}

#[test]
fn a_synchronous_run_without_progress_recording_is_recorded_whole_at_its_end() {
    let s = start(&[(
        "greet.json",
        with_settings(greet(), json!({"saveExecutionProgress": false})),
    )]);
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/greet/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "ada"}, "wait": true})),
    );
    assert_eq!(status, 200, "{body}");
    let record = record_of(&s, body["executionId"].as_str().unwrap());
    assert_eq!(
        (
            &record["status"],
            &record["input"],
            &record["result"]["nodes"]["shout"]["output"]["result"],
            &record["workflowId"],
        ),
        (
            &json!("success"),
            &json!({"name": "ada"}),
            &json!("ADA"),
            &json!("greet")
        ),
        "{record}"
    );
    assert!(record["startedAtMs"].as_u64() <= record["finishedAtMs"].as_u64());
}

#[test]
fn an_asynchronous_run_without_progress_recording_is_recorded_while_it_runs() {
    let s = start(&[(
        "slow.json",
        with_settings(slow(), json!({"saveExecutionProgress": false})),
    )]);
    let (status, body) = call(
        "POST",
        &url(&s, "/v1/workflows/slow/executions"),
        Some(ACME_KEY),
        Some(&json!({"input": {"ms": 3000}, "wait": false})),
    );
    assert_eq!(status, 202, "{body}");
    let id = body["executionId"].as_str().unwrap();
    let (status, record) = call(
        "GET",
        &url(&s, &format!("/v1/executions/{id}")),
        Some(ACME_KEY),
        None,
    );
    assert_eq!(
        (status, &record["status"]),
        (200, &json!("running")),
        "{record}"
    );
}
