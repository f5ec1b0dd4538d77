//! Scale-out on PostgreSQL with real processes: an API-only `plugflow
//! serve` and `plugflow worker`s sharing one database (created for each
//! test and dropped after it), killed with SIGKILL, with the PostgreSQL
//! server itself restarted under load.
//!
//! The tests of this file take one lock: one of them restarts the server
//! every other one talks to.

#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use plugflow_tests::http_server::{self, Response};
use plugflow_tests::pg::{restart_local_server, TestDatabase};
use plugflow_tests::smtp_server::smtp_server;
use serde_json::{json, Value};

const KEY: &str = "scale-out-key-0123456789";

/// One test at a time in this file (one restarts PostgreSQL).
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn kill_9(mut self) {
        // `Child::kill` is SIGKILL: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn get(url: &str) -> Option<(u16, Value)> {
    let mut response = agent()
        .get(url)
        .header("Authorization", &format!("Bearer {KEY}"))
        .call()
        .ok()?;
    let status = response.status().as_u16();
    Some((
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    ))
}

fn get_text(url: &str) -> String {
    agent()
        .get(url)
        .call()
        .expect("answers")
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn post(url: &str, body: &Value) -> Option<(u16, Value)> {
    let mut response = agent()
        .post(url)
        .header("Authorization", &format!("Bearer {KEY}"))
        .send_json(body)
        .ok()?;
    let status = response.status().as_u16();
    Some((
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    ))
}

/// Waits until `done` holds, at most `limit`, failing with `what`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets http-request reach the test's own servers on 127.0.0.1.
const LOCAL_EGRESS: &str = "[http-egress]\n\"*\" = [\"127.0.0.1\"]\n";

fn node(id: &str, node_type: &str, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type, "typeVersion": 1,
           "position": [0, 0], "parameters": parameters})
}

/// A chain of `nodes`, first to last.
fn chain(id: &str, nodes: Vec<Value>, settings: Value) -> Value {
    let mut connections = serde_json::Map::new();
    for pair in nodes.windows(2) {
        connections.insert(
            pair[0]["id"].as_str().unwrap().to_owned(),
            json!({"main": [[{"node": pair[1]["id"], "type": "main", "index": 0}]]}),
        );
    }
    json!({"id": id, "name": id, "nodes": nodes, "connections": connections, "settings": settings})
}

/// The test's directory, database and configuration.
struct Cluster {
    dir: tempfile::TempDir,
    db: TestDatabase,
    config: PathBuf,
    api_port: u16,
}

impl Cluster {
    /// `workflows` served; `extra` appended to the configuration.
    fn new(workflows: &[Value], extra: &str) -> Self {
        let db = TestDatabase::create();
        let dir = tempfile::tempdir().unwrap();
        let workflows_dir = dir.path().join("workflows");
        std::fs::create_dir(&workflows_dir).unwrap();
        for workflow in workflows {
            std::fs::write(
                workflows_dir.join(format!("{}.json", workflow["id"].as_str().unwrap())),
                workflow.to_string(),
            )
            .unwrap();
        }
        let api_port = plugflow_tests::free_port();
        let config = dir.path().join("plugflow.toml");
        std::fs::write(
            &config,
            format!(
                "{extra}\n\n[database]\nurl = {url:?}\n\n[serve]\nlisten = \"127.0.0.1:{api_port}\"\nworkflows = {workflows_dir:?}\nlease-ms = 2000
max-concurrent-executions = 8\npoll-interval-ms = 200\nreload-interval-ms = 0\n\n[[serve.api-keys]]\ntenantId = \"acme\"\nkey = {{ value = \"{KEY}\" }}\n",
                url = db.url(),
            ),
        )
        .unwrap();
        Self {
            dir,
            db,
            config,
            api_port,
        }
    }

    fn spawn(&self, args: &[&str], port: u16) -> Process {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("processes.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_plugflow"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .args(["--plugin-cache", "off", "--log-level", "warn"])
            .env_remove("PLUGFLOW_PLUGIN_DIRS")
            .env_remove("PLUGFLOW_CONFIG")
            .env_remove("PLUGFLOW_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("plugflow starts");
        let process = Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&format!("{}/health/ready", process.base)).map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "never became ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    }

    /// Adds `line` to the configuration's `[serve]` table.
    fn serve_setting(&self, line: &str) {
        let config = std::fs::read_to_string(&self.config).unwrap();
        let config = config.replace("[serve]\n", &format!("[serve]\n{line}\n"));
        std::fs::write(&self.config, config).unwrap();
    }

    /// `plugflow serve --workers N`.
    fn api(&self, workers: usize) -> Process {
        self.spawn(&["serve", "--workers", &workers.to_string()], self.api_port)
    }

    /// `plugflow worker` on a port of its own.
    fn worker(&self) -> Process {
        let port = plugflow_tests::free_port();
        self.spawn(&["worker", "--listen", &format!("127.0.0.1:{port}")], port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("processes.log")).unwrap_or_default()
    }

    fn run(&self, workflow: &str, input: Value, wait: bool) -> Option<(u16, Value)> {
        post(
            &format!(
                "http://127.0.0.1:{}/v1/workflows/{workflow}/executions",
                self.api_port
            ),
            &json!({"input": input, "wait": wait}),
        )
    }

    fn execution(&self, id: &str) -> Value {
        get(&format!(
            "http://127.0.0.1:{}/v1/executions/{id}",
            self.api_port
        ))
        .expect("the API answers")
        .1
    }

    /// Waits until `id` has ended; returns it.
    fn wait_for_end(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let record = self.execution(id);
            if !matches!(record["status"].as_str(), Some("queued" | "running")) {
                return record;
            }
            assert!(Instant::now() < deadline, "never finished: {record}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `add`: one `math.add` of 1 and 2.
fn adder() -> Value {
    chain(
        "add",
        vec![node("sum", "math.add", json!({"values": [1, 2]}))],
        json!({}),
    )
}

fn pause_node(ms: u64) -> Value {
    node("pause", "wait", json!({"duration": ms, "unit": "ms"}))
}

#[test]
fn an_api_only_process_enqueues_and_a_worker_runs_the_execution() {
    let _one = exclusive();
    let workflow = chain(
        "add",
        vec![node(
            "sum",
            "math.add",
            json!({"values": [1, "{{ $trigger.n }}"]}),
        )],
        json!({}),
    );
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(0);
    let worker = cluster.worker();
    let (status, finished) = cluster.run("add", json!({"n": 41}), true).unwrap();
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["status"], "success", "{finished}");
    assert_eq!(
        finished["result"]["nodes"]["sum"]["output"]["result"], 42,
        "{finished}"
    );
    let metrics = get_text(&format!("{}/metrics", worker.base));
    assert!(
        metrics.contains("plugflow_queue_claims_total 1"),
        "{metrics}"
    );
}

#[test]
fn an_execution_waits_queued_until_a_worker_starts() {
    let _one = exclusive();
    let workflow = adder();
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(0);
    let (status, accepted) = cluster.run("add", json!({}), false).unwrap();
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cluster.execution(&id)["status"], "queued");
    let _worker = cluster.worker();
    let ended = cluster.wait_for_end(&id, Duration::from_secs(30));
    assert_eq!(ended["status"], "success", "{ended}");
}

#[test]
fn a_delayed_execution_stays_queued_until_it_is_due() {
    let _one = exclusive();
    let workflow = adder();
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(1);
    let asked = Instant::now();
    let (status, accepted) = post(
        &format!(
            "http://127.0.0.1:{}/v1/workflows/add/executions",
            cluster.api_port
        ),
        &json!({"input": {}, "wait": false, "delayMs": 1_500}),
    )
    .unwrap();
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(cluster.execution(&id)["status"], "queued");
    let ended = cluster.wait_for_end(&id, Duration::from_secs(20));
    assert_eq!(ended["status"], "success", "{ended}");
    assert!(asked.elapsed() >= Duration::from_millis(1_500));
}

/// `id` waits as a queue row: queued, due later, no worker holding it.
fn assert_suspended(cluster: &Cluster, id: &str) {
    let row = cluster
        .db
        .client()
        .query_one(
            "SELECT status, lease_owner IS NULL, due_at > now() FROM plugflow_executions WHERE execution_id = $1",
            &[&id],
        )
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2)
        ),
        ("queued".to_owned(), true, true)
    );
}

#[test]
fn a_long_wait_suspends_its_execution_as_a_due_row_that_survives_a_worker_restart() {
    let _one = exclusive();
    let hits = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&hits);
    let port = http_server::serve(move |request, _| {
        seen.lock().unwrap().push(request.path.clone());
        Response::json(200, &json!({"ok": true}))
    });
    let call = |id: &str| {
        node(
            id,
            "http-request",
            json!({"url": format!("http://127.0.0.1:{port}/{id}"), "method": "POST", "body": {}}),
        )
    };
    let workflow = chain(
        "later",
        vec![call("before"), pause_node(3_000), call("after")],
        json!({}),
    );
    let cluster = Cluster::new(&[workflow], LOCAL_EGRESS);
    cluster.serve_setting("suspend-waits-after-ms = 1000");
    let _api = cluster.api(0);
    let first = cluster.worker();
    let (_, accepted) = cluster.run("later", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "the first call never came", || {
        !hits.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    // Suspended: a queue row with a due time, no worker holding it.
    assert_suspended(&cluster, &id);
    first.kill_9();
    let _second = cluster.worker();
    let ended = cluster.wait_for_end(&id, Duration::from_secs(30));
    assert_eq!(ended["status"], "success", "{ended}");
    assert_eq!(
        *hits.lock().unwrap(),
        ["/before", "/after"],
        "each call made once, the second after the wait"
    );
}

#[test]
fn a_long_retry_backoff_suspends_its_execution_as_a_due_row_that_survives_a_worker_restart() {
    let _one = exclusive();
    let hits = Arc::new(Mutex::new(0_u32));
    let seen = Arc::clone(&hits);
    // Unavailable once, then fine.
    let port = http_server::serve(move |_, _| {
        let mut n = seen.lock().unwrap();
        *n += 1;
        if *n == 1 {
            Response::json(503, &json!({"busy": true}))
        } else {
            Response::json(200, &json!({"ok": true}))
        }
    });
    let mut flaky = node(
        "flaky",
        "http-request",
        json!({"url": format!("http://127.0.0.1:{port}/flaky"), "method": "POST", "body": {}}),
    );
    flaky["retryPolicy"] = json!({"maxAttempts": 3, "backoffType": "fixed", "initialDelay": 3000});
    let workflow = chain(
        "retrying",
        vec![flaky, node("after", "math.add", json!({"values": [1, 2]}))],
        json!({}),
    );
    let cluster = Cluster::new(&[workflow], LOCAL_EGRESS);
    cluster.serve_setting("suspend-waits-after-ms = 1000");
    let _api = cluster.api(0);
    let first = cluster.worker();
    let (_, accepted) = cluster.run("retrying", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "the first call never came", || {
        *hits.lock().unwrap() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    // The retry waits as a queue row with a due time, no worker holding it.
    assert_suspended(&cluster, &id);
    first.kill_9();
    let _second = cluster.worker();
    let ended = cluster.wait_for_end(&id, Duration::from_secs(30));
    assert_eq!(ended["status"], "success", "{ended}");
    assert_eq!(*hits.lock().unwrap(), 2, "one failed call, one retry");
    let flaky = &ended["result"]["nodes"]["flaky"];
    assert_eq!(
        (&flaky["retries"], &flaky["recoveryApplied"]),
        (&json!(1), &json!(true))
    );
}

#[test]
fn a_killed_workers_execution_resumes_on_another_without_running_finished_nodes_again() {
    let _one = exclusive();
    let hits = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&hits);
    let port = http_server::serve(move |request, _| {
        seen.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&request.body).into_owned());
        Response::json(200, &json!({"ok": true}))
    });
    let workflow = chain(
        "steps",
        vec![
            node(
                "call",
                "http-request",
                json!({"url": format!("http://127.0.0.1:{port}/before"), "method": "POST", "body": {"step": "before"}}),
            ),
            pause_node(4_000),
            node("after", "math.add", json!({"values": [1, 2]})),
        ],
        json!({}),
    );
    let cluster = Cluster::new(&[workflow], LOCAL_EGRESS);
    let _api = cluster.api(0);
    let first = cluster.worker();
    let (_, accepted) = cluster.run("steps", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "the call never came", || {
        !hits.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    first.kill_9();
    let _second = cluster.worker();
    let ended = cluster.wait_for_end(&id, Duration::from_secs(30));
    assert_eq!(ended["status"], "success", "{ended}");
    assert_eq!(
        hits.lock().unwrap().len(),
        1,
        "the finished http call was replayed, not made again"
    );
}

#[test]
fn a_worker_without_a_plugin_does_not_claim_its_workflow_and_says_so() {
    let _one = exclusive();
    let workflow = chain(
        "needs-echo",
        vec![node("e", "fixture.echo", json!({"message": "hi"}))],
        json!({}),
    );
    let cluster = Cluster::new(&[workflow], "");
    // The API process has the plugin (it checks what it enqueues); the
    // worker is started without it.
    let plugins = cluster.dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    plugflow_tests::install(&plugins, &["fixture_echo"]);
    let api = {
        let port = cluster.api_port;
        let log = std::fs::File::create(cluster.dir.path().join("api.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_plugflow"))
            .args(["serve", "--workers", "0", "--config"])
            .arg(&cluster.config)
            .arg("--plugins")
            .arg(&plugins)
            .args(["--plugin-cache", "off"])
            .env_remove("PLUGFLOW_PLUGIN_DIRS")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&format!("{}/health/ready", process.base)).map(|r| r.0) != Some(200) {
            assert!(Instant::now() < deadline, "the API never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        process
    };
    let worker = cluster.worker();
    let (_, accepted) = cluster.run("needs-echo", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(cluster.execution(&id)["status"], "queued");
    let (_, ready) = get(&format!("{}/health/ready", worker.base)).unwrap();
    assert_eq!(
        ready["worker"]["unrunnable"],
        json!([{"workflow": "needs-echo", "missingNodeTypes": ["fixture.echo"]}]),
        "{ready}"
    );
    let metrics = get_text(&format!("{}/metrics", worker.base));
    assert!(
        metrics.contains("plugflow_worker_unrunnable_workflows 1"),
        "{metrics}"
    );
    drop(api);
}

#[test]
fn max_concurrent_executions_holds_across_workers() {
    let _one = exclusive();
    let workflow = chain(
        "limited",
        vec![pause_node(300)],
        json!({"maxConcurrentExecutions": 2}),
    );
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(0);
    let _workers: Vec<Process> = (0..3).map(|_| cluster.worker()).collect();
    let ids: Vec<String> = (0..8)
        .map(|_| {
            let (_, accepted) = cluster.run("limited", json!({}), false).unwrap();
            accepted["executionId"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut client = cluster.db.client();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: i64 = client
            .query_one(
                "SELECT count(*) FROM plugflow_executions WHERE workflow_id = 'limited' AND status = 'running'",
                &[],
            )
            .unwrap()
            .get(0);
        most = most.max(running);
        let open: i64 = client
            .query_one(
                "SELECT count(*) FROM plugflow_executions WHERE status IN ('queued', 'running')",
                &[],
            )
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "executions never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(most, 2, "at most two at once, and the limit was reached");
    for id in ids {
        assert_eq!(cluster.execution(&id)["status"], "success");
    }
}

#[test]
fn a_queued_execution_is_cancelled_at_once() {
    let _one = exclusive();
    let workflow = chain("add", vec![pause_node(10)], json!({}));
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(0);
    let (_, accepted) = cluster.run("add", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &format!(
            "http://127.0.0.1:{}/v1/executions/{id}/cancel",
            cluster.api_port
        ),
        &json!({}),
    )
    .unwrap();
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("cancelled")),
        "{body}"
    );
    let _worker = cluster.worker();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cluster.execution(&id)["status"], "cancelled");
}

#[test]
fn a_cancel_reaches_the_worker_running_the_execution() {
    let _one = exclusive();
    let workflow = chain("slow", vec![pause_node(20_000)], json!({}));
    let cluster = Cluster::new(&[workflow], "");
    let _api = cluster.api(0);
    let _worker = cluster.worker();
    let (_, accepted) = cluster.run("slow", json!({}), false).unwrap();
    let id = accepted["executionId"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(20), "never claimed", || {
        cluster.execution(&id)["status"] == "running"
    });
    let (status, body) = post(
        &format!(
            "http://127.0.0.1:{}/v1/executions/{id}/cancel",
            cluster.api_port
        ),
        &json!({}),
    )
    .unwrap();
    assert_eq!(status, 202, "{body}");
    let ended = cluster.wait_for_end(&id, Duration::from_secs(10));
    assert_eq!(ended["status"], "cancelled", "{ended}");
}

#[test]
fn another_tenant_cannot_see_an_execution_in_the_shared_store() {
    let _one = exclusive();
    let workflow = adder();
    let cluster = Cluster::new(&[workflow], "");
    // A second key, for another tenant.
    let mut config = std::fs::read_to_string(&cluster.config).unwrap();
    config.push_str("\n[[serve.api-keys]]\ntenantId = \"globex\"\nkey = { value = \"globex-key-0123456789\" }\n");
    std::fs::write(&cluster.config, config).unwrap();
    let _api = cluster.api(1);
    let (_, finished) = cluster.run("add", json!({}), true).unwrap();
    let id = finished["executionId"].as_str().unwrap();
    let mut response = agent()
        .get(&format!(
            "http://127.0.0.1:{}/v1/executions/{id}",
            cluster.api_port
        ))
        .header("Authorization", "Bearer globex-key-0123456789")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.body_mut().read_json().unwrap();
    assert!(!body.to_string().contains(id) || body["error"]["code"] == "NOT_FOUND");
}

#[test]
fn migrations_apply_once_when_processes_start_together() {
    let _one = exclusive();
    let workflow = chain("add", vec![pause_node(1)], json!({}));
    let cluster = Cluster::new(&[workflow], "");
    let started: Vec<Process> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| cluster.worker())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut client = cluster.db.client();
    let applied: i64 = client
        .query_one(
            "SELECT count(*) FROM plugflow_migrations WHERE component = 'executions'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied, 4, "each migration applied once");
    drop(started);
}

/// Executions of the mixed workflow in the soak below
/// (`PLUGFLOW_SCALE_OUT_EXECUTIONS`, default 10,000).
/// The value of the sample `series` (name and labels as exposed) in
/// Prometheus text.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn the_workers_metrics_and_audit_lines_add_up_to_the_results() {
    let _one = exclusive();
    const RUNS: i64 = 300;
    let calls = Arc::new(Mutex::new(0_i64));
    let counted = Arc::clone(&calls);
    let port = http_server::serve(move |_, _| {
        *counted.lock().unwrap() += 1;
        Response::json(200, &json!({"ok": true}))
    });
    let workflow = chain(
        "audited",
        vec![
            node(
                "calc",
                "math.add",
                json!({"values": ["{{ $trigger.n }}", 1]}),
            ),
            node(
                "call",
                "http-request",
                json!({"url": format!("http://127.0.0.1:{port}/n"), "method": "POST", "body": {"n": "{{ $trigger.n }}"}}),
            ),
        ],
        json!({}),
    );
    let cluster = Cluster::new(
        &[workflow],
        &format!("{LOCAL_EGRESS}\n[[policies]]\ntenantId = \"acme\"\nauditLogging = true\n"),
    );
    let _api = cluster.api(0);
    // Each worker keeps its own hash-chained audit log.
    let logs: Vec<PathBuf> = (0..2)
        .map(|i| cluster.dir.path().join(format!("audit-{i}.jsonl")))
        .collect();
    let workers: Vec<Process> = logs
        .iter()
        .map(|log| {
            let port = plugflow_tests::free_port();
            cluster.spawn(
                &[
                    "worker",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--audit-log",
                    log.to_str().unwrap(),
                ],
                port,
            )
        })
        .collect();
    let ids: Vec<String> = (0..RUNS)
        .map(|n| {
            let (status, accepted) = cluster.run("audited", json!({"n": n}), false).unwrap();
            assert_eq!(status, 202, "{accepted}");
            accepted["executionId"].as_str().unwrap().to_owned()
        })
        .collect();
    let succeeded = ids
        .iter()
        .filter(|id| cluster.wait_for_end(id, Duration::from_secs(60))["status"] == "success")
        .count() as u64;
    assert_eq!(succeeded, RUNS as u64, "results");
    assert_eq!(*calls.lock().unwrap(), RUNS, "side effects");
    let metrics: Vec<String> = workers
        .iter()
        .map(|w| get_text(&format!("{}/metrics", w.base)))
        .collect();
    let total = |series: &str| metrics.iter().map(|m| sample(m, series)).sum::<u64>();
    assert_eq!(
        total("plugflow_executions_finished_total{status=\"success\"}"),
        succeeded,
        "executions in the workers' metrics"
    );
    assert_eq!(
        total("plugflow_executions_total{status=\"success\"}"),
        2 * succeeded,
        "node runs in the workers' metrics"
    );
    let mut lines = 0;
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        lines += text.lines().count() as u64;
        let verified = Command::new(env!("CARGO_BIN_EXE_plugflow"))
            .args(["audit", "verify", log.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(verified.status.success(), "{log:?} verifies");
    }
    assert_eq!(lines, 2 * succeeded, "audit lines: one per node run");
}

fn soak_executions() -> usize {
    std::env::var("PLUGFLOW_SCALE_OUT_EXECUTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn four_workers_finish_every_execution_exactly_once_through_kill_9_and_a_postgres_restart() {
    let _one = exclusive();
    let total = soak_executions();
    // A local HTTP service and SMTP responder count the side effects.
    let calls = Arc::new(Mutex::new(BTreeMap::<i64, usize>::new()));
    let counted = Arc::clone(&calls);
    let port = http_server::serve(move |request, _| {
        let n = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| b["n"].as_i64())
            .unwrap_or(-1);
        *counted.lock().unwrap().entry(n).or_default() += 1;
        Response::json(200, &json!({"ok": true}))
    });
    let (smtp_port, mails) = smtp_server();
    let workflow = chain(
        "mixed",
        vec![
            node(
                "calc",
                "math.add",
                json!({"values": ["{{ $trigger.n }}", 1]}),
            ),
            node(
                "save",
                "dbal-write",
                json!({"entity": "Order", "data": {"n": "{{ $trigger.n }}"}}),
            ),
            node(
                "call",
                "http-request",
                json!({"url": format!("http://127.0.0.1:{port}/orders"), "method": "POST", "body": {"n": "{{ $trigger.n }}"}}),
            ),
            node(
                "mail",
                "email-send",
                json!({"to": "ops@example.com", "subject": "order {{ $trigger.n }}", "body": "n={{ $trigger.n }}"}),
            ),
            pause_node(5),
        ],
        json!({}),
    );
    let cluster = Cluster::new(
        &[workflow],
        &format!("{LOCAL_EGRESS}\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"plugflow@example.com\"\n"),
    );
    let _api = cluster.api(0);
    let mut workers: Vec<Process> = (0..4).map(|_| cluster.worker()).collect();

    // Enqueue from four threads while workers are killed and restarted
    // and PostgreSQL restarts once.
    let ids = Mutex::new(BTreeMap::<i64, String>::new());
    let refused = Mutex::new(Vec::<String>::new());
    let enqueuers_done = std::sync::atomic::AtomicUsize::new(0);
    let mut kills = 0;
    std::thread::scope(|s| {
        for t in 0..4 {
            let (ids, refused, cluster, done) = (&ids, &refused, &cluster, &enqueuers_done);
            s.spawn(move || {
                for n in (t..total).step_by(4) {
                    let n = i64::try_from(n).unwrap();
                    match cluster.run("mixed", json!({"n": n}), false) {
                        Some((202, accepted)) => {
                            ids.lock()
                                .unwrap()
                                .insert(n, accepted["executionId"].as_str().unwrap().to_owned());
                        }
                        other => refused.lock().unwrap().push(format!("{n}: {other:?}")),
                    }
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // Kills all through the enqueueing (at least six), PostgreSQL
        // restarted at the third.
        let mut seed = 0x5eed_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        while kills < 6 || enqueuers_done.load(std::sync::atomic::Ordering::SeqCst) < 4 {
            std::thread::sleep(Duration::from_millis(400 + next() % 1_600));
            if kills == 3 {
                restart_local_server();
            }
            let victim = usize::try_from(next() % 4).unwrap();
            let killed = std::mem::replace(&mut workers[victim], cluster.worker());
            killed.kill_9();
            kills += 1;
        }
    });
    let ids = ids.into_inner().unwrap();
    let refused = refused.into_inner().unwrap();
    assert!(
        refused.is_empty(),
        "every request was accepted: {refused:?}"
    );
    assert_eq!(ids.len(), total);

    // Every execution ends; every side effect happens at most once, and
    // exactly once for an execution that succeeded.
    let mut statuses = BTreeMap::<String, usize>::new();
    let mut failures = BTreeSet::new();
    for (n, id) in &ids {
        let ended = cluster.wait_for_end(id, Duration::from_secs(120));
        let status = ended["status"].as_str().unwrap().to_owned();
        *statuses.entry(status.clone()).or_default() += 1;
        let calls = calls.lock().unwrap().get(n).copied().unwrap_or(0);
        let sent = mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.header("Subject").as_deref() == Some(&format!("order {n}")))
            .count();
        assert!(calls <= 1, "execution {n}: {calls} http calls");
        assert!(sent <= 1, "execution {n}: {sent} emails");
        if status == "success" {
            assert_eq!((calls, sent), (1, 1), "execution {n} succeeded");
        } else {
            // Only a side effect in flight when its worker died may stop
            // an execution (it is not run twice).
            assert_eq!(status, "error", "{ended}");
            assert!(
                ended["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("was running when")),
                "{ended}"
            );
            failures.insert(*n);
        }
    }
    // The dbal write (on PostgreSQL) is idempotent: exactly one record per
    // execution that got past it.
    let mut client = cluster.db.client();
    let per_n: BTreeMap<i64, i64> = client
        .query(
            "SELECT (data ->> 'n')::bigint, count(*) FROM \"t_Order\" GROUP BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    for n in ids.keys() {
        let records = per_n.get(n).copied().unwrap_or(0);
        assert!(records <= 1, "execution {n}: {records} records");
        if !failures.contains(n) {
            assert_eq!(records, 1, "execution {n}: its record");
        }
    }
    let open: i64 = client
        .query_one(
            "SELECT count(*) FROM plugflow_executions WHERE status IN ('queued', 'running')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
    eprintln!("soak: {total} executions, {statuses:?}");
    // Kills of workers running at most eight executions each, and a
    // restart: only what was in flight may have failed.
    eprintln!("soak: {kills} workers killed");
    assert!(
        statuses.get("success").copied().unwrap_or(0) + (kills + 1) * 8 >= total,
        "only executions in flight on a killed worker may fail: {statuses:?}"
    );
}
