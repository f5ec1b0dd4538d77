//! Recovery of `plugflow serve` after `kill -9` under load: a server
//! process (this binary, run again as a child) accepts asynchronous
//! executions of a 10-node workflow (four `math.add`, a 300 ms `wait`, four
//! `math.add`) from eight clients as fast as it answers; after a second it
//! is killed with SIGKILL and started again on the same store. Measured:
//! time from the restart to ready and to every interrupted execution
//! ended; executions lost (accepted, then unknown or not `success`); and
//! completed nodes run again (a node recorded as finished before the kill
//! whose outcome after the restart is not the recorded one). Writes
//! `<target>/plugflow-bench/recovery.json`.
//!
//! Run: `cargo bench -p plugflow-benches --bench recovery`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plugflow_serve::{ApiKeyConfig, ExecutionStore, KeySource, ServeConfig, Server, SqliteStore};
use serde_json::{json, Value};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "bench-key-0123456789";
const TENANT: &str = "bench";
/// Set in the child: the directory it serves from, and its port.
const CHILD: &str = "PLUGFLOW_RECOVERY_CHILD";

fn node(id: &str, node_type: &str, x: usize, parameters: Value) -> Value {
    json!({"id": id, "name": id, "type": "operation", "nodeType": node_type, "typeVersion": 1, "position": [x, 0], "parameters": parameters})
}

fn workflow() -> Value {
    let mut nodes = vec![
        json!({"id": "start", "name": "start", "type": "trigger", "nodeType": "manual-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {}}),
    ];
    let mut ids = vec!["start".to_owned()];
    for i in 0..9 {
        let id = if i == 4 {
            "pause".to_owned()
        } else {
            format!("add{i}")
        };
        let parameters = if i == 4 {
            json!({"duration": 300, "unit": "ms"})
        } else {
            json!({"values": ["{{ $trigger.n }}", i]})
        };
        let node_type = if i == 4 { "wait" } else { "math.add" };
        nodes.push(node(&id, node_type, i + 1, parameters));
        ids.push(id);
    }
    let connections: serde_json::Map<String, Value> = ids
        .windows(2)
        .map(|pair| {
            (
                pair[0].clone(),
                json!({"main": [[{"node": pair[1], "type": "main", "index": 0}]]}),
            )
        })
        .collect();
    json!({"id": "steps", "name": "steps", "nodes": nodes, "connections": connections})
}

/// The child: serves `dir` on `port` until killed.
fn child(spec: &str) {
    let (dir, port) = spec.rsplit_once('|').expect("dir|port");
    let dir = PathBuf::from(dir);
    let config = ServeConfig {
        listen: format!("127.0.0.1:{port}"),
        workflows: Some(dir.join("workflows")),
        store: dir.join("executions.db"),
        api_keys: vec![ApiKeyConfig {
            tenant_id: TENANT.into(),
            key: KeySource::Value(KEY.into()),
            admin: false,
        }],
        save_execution_progress: true,
        reload_interval_ms: 0,
        ..ServeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let server = Server::bind(plugflow_benches::static_builtins(), config)
            .await
            .expect("binds");
        server
            .serve(std::future::pending::<()>())
            .await
            .expect("serves");
    });
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(std::env::current_exe().expect("this binary"))
        .env(CHILD, format!("{}|{port}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts")
}

/// Waits until the server at `base` is ready.
fn ready(base: &str) {
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent
        .get(format!("{base}/health/ready"))
        .call()
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the server never became ready");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut response = agent
        .get(url)
        .header("Authorization", &format!("Bearer {KEY}"))
        .call()
        .expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

/// Sends asynchronous runs from eight clients until `stop`; returns the
/// accepted execution ids.
fn load(base: &str, stop: &AtomicBool) -> Vec<String> {
    let accepted = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for c in 0..8 {
            let accepted = &accepted;
            s.spawn(move || {
                let agent = agent();
                let mut n = c;
                while !stop.load(Ordering::Relaxed) {
                    let answer = agent
                        .post(format!("{base}/v1/workflows/steps/executions"))
                        .header("Authorization", &format!("Bearer {KEY}"))
                        .send_json(json!({"input": {"n": n}, "wait": false}));
                    // Requests cut off by the kill were never accepted.
                    let Ok(mut answer) = answer else { break };
                    if answer.status().as_u16() == 202 {
                        let body: Value = answer.body_mut().read_json().expect("JSON");
                        let id = body["executionId"].as_str().expect("id").to_owned();
                        accepted.lock().expect("ids").push(id);
                    }
                    n += 8;
                }
            });
        }
    });
    accepted.into_inner().expect("ids")
}

/// Each execution's nodes recorded as finished.
fn recorded(dir: &Path, ids: &[String]) -> BTreeMap<String, Vec<String>> {
    let store = SqliteStore::open(&dir.join("executions.db")).expect("store");
    ids.iter()
        .map(|id| {
            let finished = store
                .node_records(TENANT, id)
                .expect("node records")
                .into_iter()
                .filter_map(|(node, outcome)| outcome.map(|_| node))
                .collect();
            (id.clone(), finished)
        })
        .collect()
}

/// Whether a node's result says its recorded outcome was replayed.
fn replayed(node: &Value) -> bool {
    node["reason"]
        .as_str()
        .is_some_and(|reason| reason.starts_with("not run again"))
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir_all(&workflows).expect("workflows dir");
    std::fs::write(workflows.join("steps.json"), workflow().to_string()).expect("workflow");
    let port = plugflow_tests::free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut server = spawn(dir.path(), port);
    ready(&base);
    let stop = AtomicBool::new(false);
    let ids = std::thread::scope(|s| {
        let loading = s.spawn(|| load(&base, &stop));
        std::thread::sleep(Duration::from_secs(1));
        // SIGKILL: no shutdown code runs.
        server.kill().expect("killed");
        server.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        loading.join().expect("load")
    });
    let finished_before = recorded(dir.path(), &ids);
    let interrupted = SqliteStore::open(&dir.path().join("executions.db"))
        .and_then(|store| store.unfinished())
        .expect("unfinished executions")
        .len();

    let restarted = Instant::now();
    let mut server = spawn(dir.path(), port);
    ready(&base);
    let ready_ms = restarted.elapsed().as_secs_f64() * 1000.0;
    let agent = agent();
    let mut records = BTreeMap::new();
    for id in &ids {
        loop {
            let (status, record) = get(&agent, &format!("{base}/v1/executions/{id}"));
            if status != 200 || record["status"] != "running" {
                records.insert(id.clone(), (status, record));
                break;
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(120),
                "never ended: {record}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let resumed_ms = restarted.elapsed().as_secs_f64() * 1000.0;
    let _ = server.kill();
    let _ = server.wait();

    let lost = records
        .values()
        .filter(|(status, r)| *status != 200 || r["status"] != "success")
        .count();
    let rerun: usize = records
        .iter()
        .map(|(id, (_, record))| {
            finished_before[id]
                .iter()
                .filter(|node| !replayed(&record["result"]["nodes"][node.as_str()]))
                .count()
        })
        .sum();
    let finished_nodes: usize = finished_before.values().map(Vec::len).sum();
    let figures = json!({
        "accepted": ids.len(),
        "interrupted": interrupted,
        "nodesFinishedBeforeKill": finished_nodes,
        "lost": lost,
        "completedNodesRerun": rerun,
        "readyMs": ready_ms,
        "allEndedMs": resumed_ms,
    });
    println!("recovery: {figures}");
    plugflow_benches::write_result("recovery", &figures);
}
