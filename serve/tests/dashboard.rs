//! The dashboard page in a real headless browser (Debian's `chromium`):
//! it loads from the binary's embedded files, shows live numbers after a
//! run, and the execution page draws the workflow's graph coloured by
//! node status.

mod common;

use std::process::Command;

use common::{call, start, Running, ACME_KEY, GLOBEX_KEY};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The page's DOM after its scripts ran, as the browser serialises it.
fn rendered(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("{CHROMIUM} must be installed (.ci/run installs it): {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the element with `id` in `dom`.
fn text_of(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + marker.len();
    dom[start..].split('<').next().unwrap_or("").to_owned()
}

fn greet() -> Value {
    json!({"id": "greet", "name": "greet", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        {"id": "shout", "name": "shout", "type": "operation", "nodeType": "string.upper", "typeVersion": 1, "position": [1, 0], "parameters": {"value": "{{ $json.name }}"}},
        {"id": "fail", "name": "fail", "type": "operation", "nodeType": "math.divide", "typeVersion": 1, "position": [2, 0], "parameters": {"a": 1, "b": "{{ $json.by }}"}}],
      "connections": {
        "start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]},
        "shout": {"main": [[{"node": "fail", "type": "main", "index": 0}]]}}})
}

fn run(s: &Running, by: i64) -> String {
    let (status, done) = call(
        "POST",
        &format!("{}/v1/workflows/greet/executions", s.base),
        Some(ACME_KEY),
        Some(&json!({"input": {"name": "ada", "by": by}})),
    );
    assert_eq!(status, 200, "{done}");
    done["executionId"].as_str().unwrap().to_owned()
}

#[test]
fn the_dashboards_show_live_numbers_after_runs() {
    let s = start(&[("greet.json", greet())]);
    run(&s, 2);
    run(&s, 0);
    let dom = rendered(&format!("{}/#key={ACME_KEY}", s.base));
    assert_eq!(text_of(&dom, "executions-started"), "2");
    assert_eq!(text_of(&dom, "executions-finished"), "2");
    let node_types: usize = text_of(&dom, "node-types").parse().unwrap();
    assert!(node_types > 10, "{node_types}");
    assert_ne!(text_of(&dom, "latency-p50"), "–");
    assert!(text_of(&dom, "error-rate").ends_with('%'));
    assert!(
        dom.contains("<td>string.upper</td>"),
        "node-type access by tenant is listed"
    );
}

#[test]
fn the_executions_list_links_to_each_execution() {
    let s = start(&[("greet.json", greet())]);
    let id = run(&s, 2);
    let dom = rendered(&format!("{}/#key={ACME_KEY}", s.base));
    assert!(dom.contains(&format!("href=\"#execution={id}\"")), "{dom}");
}

#[test]
fn the_execution_page_draws_the_graph_coloured_by_node_status() {
    let s = start(&[("greet.json", greet())]);
    let id = run(&s, 0);
    let dom = rendered(&format!("{}/#key={ACME_KEY}&execution={id}", s.base));
    assert!(dom.contains("<svg id=\"graph\""), "{dom}");
    for (node, status) in [
        ("start", "success"),
        ("shout", "success"),
        ("fail", "error"),
    ] {
        assert!(
            dom.contains(&format!("data-node=\"{node}\" data-status=\"{status}\"")),
            "{node} is not drawn as {status}"
        );
    }
    assert_eq!(text_of(&dom, "execution-status"), "error");
}

#[test]
fn a_tenant_key_sees_its_executions_but_not_the_operator_dashboards() {
    let s = start(&[("greet.json", greet())]);
    run(&s, 2);
    let dom = rendered(&format!("{}/#key={GLOBEX_KEY}", s.base));
    assert!(
        dom.contains("<section id=\"dashboards\" hidden=\"\">"),
        "operator numbers span tenants"
    );
    assert!(
        !dom.contains("#execution="),
        "acme's execution is not listed for globex"
    );
}
