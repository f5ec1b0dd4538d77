//! `plugflow serve` as a real process: started from a configuration file,
//! killed with SIGKILL in the middle of an execution, started again — the
//! execution resumes, finished nodes are not run again, and a node with
//! side effects that was in flight is not run twice.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plugflow_tests::install;
use serde_json::{json, Value};

const KEY: &str = "serve-test-key-0123456789";
const ADMIN_KEY: &str = "serve-admin-key-0123456789";

struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get(url: &str) -> Option<(u16, Value)> {
    get_as(KEY, url)
}

fn get_as(key: &str, url: &str) -> Option<(u16, Value)> {
    let mut response = agent()
        .get(url)
        .header("Authorization", &format!("Bearer {key}"))
        .call()
        .ok()?;
    let status = response.status().as_u16();
    Some((
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    ))
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    post_as(KEY, url, body)
}

fn post_as(key: &str, url: &str, body: &Value) -> (u16, Value) {
    let mut response = agent()
        .post(url)
        .header("Authorization", &format!("Bearer {key}"))
        .send_json(body)
        .expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

/// A directory with the configuration, a workflows directory holding
/// `workflows`, and a plugin directory with the fault fixture.
fn setup(workflows: &[(&str, Value)]) -> (tempfile::TempDir, PathBuf, u16) {
    setup_with(workflows, "")
}

/// [`setup`] with `extra` lines in `[serve]`.
fn setup_with(workflows: &[(&str, Value)], extra: &str) -> (tempfile::TempDir, PathBuf, u16) {
    setup_full(workflows, extra, "", &["fixture_faults"])
}

/// [`setup`] with `extra` lines in `[serve]`, `plugins_extra` in
/// `[plugins]`, and `libraries` in the plugin directory.
fn setup_full(
    workflows: &[(&str, Value)],
    extra: &str,
    plugins_extra: &str,
    libraries: &[&str],
) -> (tempfile::TempDir, PathBuf, u16) {
    let dir = tempfile::tempdir().unwrap();
    let workflows_dir = dir.path().join("workflows");
    std::fs::create_dir(&workflows_dir).unwrap();
    for (name, workflow) in workflows {
        std::fs::write(workflows_dir.join(name), workflow.to_string()).unwrap();
    }
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    install(&plugins, libraries);
    let port = plugflow_tests::free_port();
    let config = dir.path().join("plugflow.toml");
    std::fs::write(
        &config,
        format!(
            "database = {database:?}\n\n[plugins]\ndirectories = [{plugins:?}]\n{plugins_extra}\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\nworkflows = {workflows_dir:?}\nstore = {store:?}\n{extra}\n\n[[serve.api-keys]]\ntenantId = \"acme\"\nkey = {{ value = \"{KEY}\" }}\n\n[[serve.api-keys]]\ntenantId = \"ops\"\nadmin = true\nkey = {{ value = \"{ADMIN_KEY}\" }}\n",
            store = dir.path().join("executions.db"),
            database = dir.path().join("data.db"),
        ),
    )
    .unwrap();
    (dir, config, port)
}

fn start(config: &Path, port: u16) -> Service {
    let child = Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--plugin-cache", "off"])
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugflow serve starts");
    let service = Service {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{}/health/ready", service.base)).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "the service never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    service
}

fn kill_9(mut service: Service) {
    // `Child::kill` is SIGKILL on Unix: no shutdown code runs.
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

fn wait_for_end(service: &Service, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, record) = get(&format!("{}/v1/executions/{id}", service.base)).unwrap();
        assert_eq!(status, 200, "{record}");
        if record["status"] != "running" {
            return record;
        }
        assert!(Instant::now() < deadline, "never finished: {record}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node(id: &str, node_type: &str, x: i64, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type, "typeVersion": 1, "position": [x, 0], "parameters": parameters})
}

/// start → shout (pure) → pause (`waitNode`, ms) → after (pure).
fn three_steps(wait_node: Value) -> Value {
    json!({"id": "steps", "name": "steps", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        node("shout", "string.upper", 1, json!({"value": "{{ $json.name }}"})),
        wait_node,
        node("after", "string.lower", 3, json!({"value": "{{ $json.name }}"}))],
      "connections": {
        "start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]},
        "shout": {"main": [[{"node": "pause", "type": "main", "index": 0}]]},
        "pause": {"main": [[{"node": "after", "type": "main", "index": 0}]]}}})
}

fn run_and_kill(workflow: Value) -> (Service, String) {
    let (dir, config, port) = setup(&[("steps.json", workflow)]);
    let first = start(&config, port);
    let (status, accepted) = post(
        &format!("{}/v1/workflows/steps/executions", first.base),
        &json!({"input": {"name": "Ada"}, "wait": false}),
    );
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    // `shout` is done at once; `pause` is in flight for seconds.
    std::thread::sleep(Duration::from_millis(700));
    kill_9(first);
    let again = start(&config, port);
    // The directory must outlive the second process.
    std::mem::forget(dir);
    (again, id)
}

#[test]
fn an_execution_interrupted_by_kill_9_resumes_without_running_finished_nodes_again() {
    let wait = node("pause", "wait", 2, json!({"duration": 1500, "unit": "ms"}));
    let (service, id) = run_and_kill(three_steps(wait));
    let record = wait_for_end(&service, &id);
    assert_eq!(record["status"], "success", "{record}");
    let nodes = &record["result"]["nodes"];
    assert_eq!(nodes["shout"]["output"]["result"], "ADA");
    assert!(
        nodes["shout"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not run again"),
        "shout was run again: {}",
        nodes["shout"]
    );
    assert_eq!(
        nodes["pause"]["status"], "success",
        "an idempotent node in flight runs again"
    );
    assert_eq!(nodes["after"]["output"]["result"], "ada");
}

#[test]
fn a_node_with_side_effects_in_flight_at_kill_9_is_not_run_twice() {
    let chaos = node(
        "pause",
        "fault.chaos",
        2,
        json!({"plan": "timeout", "sleepMs": 3000}),
    );
    let (service, id) = run_and_kill(three_steps(chaos));
    let record = wait_for_end(&service, &id);
    assert_eq!(record["status"], "error", "{record}");
    let pause = &record["result"]["nodes"]["pause"];
    assert_eq!(pause["errorCode"], "EXECUTION_ERROR", "{pause}");
    assert!(
        pause["error"]
            .as_str()
            .unwrap_or("")
            .contains("not run again"),
        "{pause}"
    );
    assert_eq!(
        record["result"]["nodes"]["after"]["status"], "pending",
        "{record}"
    );
}

fn signal(service: &Service, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_lets_running_executions_finish_before_the_process_exits() {
    let wait = node("pause", "wait", 2, json!({"duration": 800, "unit": "ms"}));
    let (_dir, config, port) = setup(&[("steps.json", three_steps(wait))]);
    let mut first = start(&config, port);
    let (status, accepted) = post(
        &format!("{}/v1/workflows/steps/executions", first.base),
        &json!({"input": {"name": "Ada"}, "wait": false}),
    );
    assert_eq!(status, 202);
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(200));
    signal(&first, "TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = first.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the process did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let again = start(&config, port);
    let (_, record) = get(&format!("{}/v1/executions/{id}", again.base)).unwrap();
    assert_eq!(
        record["status"], "success",
        "finished before the exit: {record}"
    );
    let pause = &record["result"]["nodes"]["pause"];
    assert!(
        pause["reason"].is_null(),
        "not resumed but finished in the first process: {pause}"
    );
}

#[test]
fn sighup_reloads_the_workflows_directory() {
    let wait = node("pause", "wait", 2, json!({"duration": 1, "unit": "ms"}));
    let (dir, config, port) = setup_with(
        &[("steps.json", three_steps(wait))],
        "reload-interval-ms = 0",
    );
    let service = start(&config, port);
    let mut other = three_steps(node(
        "pause",
        "wait",
        2,
        json!({"duration": 1, "unit": "ms"}),
    ));
    other["id"] = json!("other");
    std::fs::write(dir.path().join("workflows/other.json"), other.to_string()).unwrap();
    signal(&service, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = get(&format!("{}/v1/workflows", service.base)).unwrap();
        if listed["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == "other")
        {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_write_before_kill_9_is_made_exactly_once_when_the_execution_resumes() {
    let workflow = json!({"id": "steps", "name": "steps", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        node("save", "dbal-write", 1, json!({"entity": "Order", "data": {"name": "{{ $json.name }}"}})),
        node("pause", "wait", 2, json!({"duration": 1500, "unit": "ms"})),
        node("after", "string.lower", 3, json!({"value": "{{ $json.name }}"}))],
      "connections": {
        "start": {"main": [[{"node": "save", "type": "main", "index": 0}]]},
        "save": {"main": [[{"node": "pause", "type": "main", "index": 0}]]},
        "pause": {"main": [[{"node": "after", "type": "main", "index": 0}]]}}});
    let (dir, config, port) = setup(&[("steps.json", workflow)]);
    let first = start(&config, port);
    let (_, accepted) = post(
        &format!("{}/v1/workflows/steps/executions", first.base),
        &json!({"input": {"name": "Ada"}, "wait": false}),
    );
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(700));
    kill_9(first);
    let again = start(&config, port);
    let record = wait_for_end(&again, &id);
    assert_eq!(record["status"], "success", "{record}");
    let rows: i64 = rusqlite::Connection::open(dir.path().join("data.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM t_Order", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the order is written exactly once");
}

/// A service whose plugins run on the process tier (quarantined after one
/// crash), serving `start → boom (runtime.abort)`; the boom execution has
/// ended when this returns.
fn crashed_once() -> (tempfile::TempDir, Service, Value) {
    let workflow = json!({"id": "boom", "name": "boom", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        node("boom", "runtime.abort", 1, json!({}))],
      "connections": {"start": {"main": [[{"node": "boom", "type": "main", "index": 0}]]}}});
    let (dir, config, port) = setup_full(
        &[("boom.json", workflow)],
        "",
        "execution-isolation = \"process\"\n\n[plugins.plugin-host]\nmax-crashes = 1",
        &["fixture_runtime_crash"],
    );
    let service = start(&config, port);
    let (status, accepted) = post(
        &format!("{}/v1/workflows/boom/executions", service.base),
        &json!({"input": {}, "wait": false}),
    );
    assert_eq!(status, 202, "{accepted}");
    let record = wait_for_end(&service, accepted["executionId"].as_str().unwrap());
    (dir, service, record)
}

#[test]
fn a_crashing_process_tier_plugin_fails_its_node_and_the_service_serves_on() {
    let (_dir, service, record) = crashed_once();
    assert_eq!(record["status"], "error", "{record}");
    assert_eq!(
        record["result"]["nodes"]["boom"]["errorCode"], "PLUGIN_CRASHED",
        "{record}"
    );
    let (status, _) = get(&format!("{}/health/ready", service.base)).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn admins_see_a_quarantined_plugin_host_and_its_metrics() {
    let (_dir, service, _) = crashed_once();
    let (status, listed) = get_as(
        ADMIN_KEY,
        &format!("{}/v1/admin/plugin-hosts", service.base),
    )
    .unwrap();
    assert_eq!(status, 200, "{listed}");
    let host = &listed["hosts"][0];
    assert_eq!(host["plugin"], "fixture-runtime-crash", "{listed}");
    assert_eq!(host["state"], "quarantined", "{listed}");
    let metrics = agent()
        .get(&format!("{}/metrics", service.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains(
            "plugflow_plugin_host_quarantined{plugin=\"fixture-runtime-crash\",tenant=\"\"} 1"
        ),
        "{metrics}"
    );
}

#[test]
fn tenants_cannot_list_plugin_hosts() {
    let (_dir, service, _) = crashed_once();
    let (status, _) = get(&format!("{}/v1/admin/plugin-hosts", service.base)).unwrap();
    assert_eq!(status, 403);
}

#[test]
fn an_admin_clears_a_quarantine_and_the_plugin_runs_again() {
    let (_dir, service, _) = crashed_once();
    let (status, cleared) = post_as(
        ADMIN_KEY,
        &format!(
            "{}/v1/admin/plugin-hosts/fixture-runtime-crash/clear",
            service.base
        ),
        &json!({}),
    );
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["cleared"], 1, "{cleared}");
    let (_, listed) = get_as(
        ADMIN_KEY,
        &format!("{}/v1/admin/plugin-hosts", service.base),
    )
    .unwrap();
    assert_ne!(listed["hosts"][0]["state"], "quarantined", "{listed}");
}

#[test]
fn a_store_of_memory_in_the_configuration_file_names_no_file() {
    let greet = json!({"id": "greet", "name": "greet", "nodes": [
        {"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}},
        node("shout", "string.upper", 1, json!({"value": "{{ $json.name }}"}))],
      "connections": {"start": {"main": [[{"node": "shout", "type": "main", "index": 0}]]}}});
    let (dir, config, port) = setup(&[("greet.json", greet)]);
    let text = std::fs::read_to_string(&config).unwrap();
    let store = format!("store = {:?}", dir.path().join("executions.db"));
    std::fs::write(&config, text.replace(&store, "store = \":memory:\"")).unwrap();
    let service = start(&config, port);
    let (status, done) = post(
        &format!("{}/v1/workflows/greet/executions", service.base),
        &json!({"input": {"name": "ada"}, "wait": true}),
    );
    assert_eq!(
        (status, &done["status"]),
        (200, &json!("success")),
        "{done}"
    );
    let id = done["executionId"].as_str().unwrap();
    assert_eq!(wait_for_end(&service, id)["status"], "success");
    let stores: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("memory") || name.starts_with("executions"))
        .collect();
    assert!(stores.is_empty(), "{stores:?}");
}
