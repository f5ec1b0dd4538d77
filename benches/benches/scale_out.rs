//! Scale-out on PostgreSQL: executions per second of a 10-node workflow
//! (ten `math.add`) drained from the shared queue by 1, 2 and 4 `plugflow
//! worker` processes on this machine, with where the time goes: database
//! calls per execution (the workers' own count), CPU seconds per execution
//! of the workers and of PostgreSQL (from /proc), and the claim round
//! trip's p50/p99 (the workers' `/metrics`).
//!
//! The queue is filled in one statement (copies of one execution the API
//! enqueued, so the fingerprint is real) while the workers idle, then they
//! drain it: the figure is the workers' throughput, not the API's.
//! Writes `<target>/plugflow-bench/scale_out.json`.
//!
//! Run: `cargo build --release -p plugflow && cargo bench -p plugflow-benches --bench scale_out`
//! (`PLUGFLOW_SCALE_OUT_BENCH_EXECUTIONS`, default 20,000; PostgreSQL as
//! for the tests: `PLUGFLOW_TEST_DATABASE_URL` or the local server).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plugflow_tests::pg::TestDatabase;
use serde_json::{json, Value};

const KEY: &str = "bench-key-0123456789";

fn workflow() -> Value {
    let nodes: Vec<Value> = (0..10)
        .map(|i| {
            let value = if i == 0 { "{{ $trigger.n }}" } else { "{{ $input.result }}" };
            json!({"id": format!("add{i}"), "name": format!("add{i}"), "type": "operation", "nodeType": "math.add",
                   "typeVersion": 1, "position": [i, 0], "parameters": {"values": [value, 1]}})
        })
        .collect();
    let mut connections = serde_json::Map::new();
    for i in 1..10 {
        connections.insert(
            format!("add{}", i - 1),
            json!({"main": [[{"node": format!("add{i}"), "type": "main", "index": 0}]]}),
        );
    }
    json!({"id": "ten", "name": "ten", "nodes": nodes, "connections": connections})
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn spawn(config: &Path, args: &[&str], port: u16) -> Process {
    let child = Command::new(plugflow_benches::plugflow_binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .args(["--plugin-cache", "off"])
        .env_remove("PLUGFLOW_PLUGIN_DIRS")
        .env_remove("PLUGFLOW_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugflow starts");
    let ready = format!("http://127.0.0.1:{port}/health/ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(&ready).call().map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Process(child)
}

/// CPU seconds (user + system) of `pid`, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// CPU seconds of every PostgreSQL process on the machine.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim().starts_with("postgres"))
        })
        .map(cpu_seconds)
        .sum()
}

/// A series of a worker's `/metrics`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn measure(workers: usize, executions: i64) -> Value {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("workflows dir");
    std::fs::write(workflows.join("ten.json"), workflow().to_string()).expect("workflow");
    let api_port = plugflow_tests::free_port();
    let config = dir.path().join("plugflow.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = {url:?}\n\n[serve]\nlisten = \"127.0.0.1:{api_port}\"\nworkflows = {workflows:?}\nreload-interval-ms = 0\n\n[[serve.api-keys]]\ntenantId = \"bench\"\nkey = {{ value = \"{KEY}\" }}\n",
            url = db.url()
        ),
    )
    .expect("config");
    let _api = spawn(&config, &["serve", "--workers", "0"], api_port);
    // One real execution, enqueued by the API: its row is the template.
    let mut response = agent()
        .post(&format!(
            "http://127.0.0.1:{api_port}/v1/workflows/ten/executions"
        ))
        .header("Authorization", &format!("Bearer {KEY}"))
        .send_json(json!({"input": {"n": 1}, "wait": false}))
        .expect("enqueued");
    let accepted: Value = response.body_mut().read_json().expect("JSON");
    let template = accepted["executionId"].as_str().expect("an id").to_owned();
    let mut client = db.client();
    client
        .execute(
            "INSERT INTO plugflow_executions (execution_id, tenant, workflow_id, workflow_hash, fingerprint, status, started_at_ms, due_at, input)
             SELECT 'bench-' || n, tenant, workflow_id, workflow_hash, fingerprint, 'queued', started_at_ms, now() + interval '1 hour', json_build_object('n', n)
             FROM plugflow_executions, generate_series(1, $2::bigint) AS n WHERE execution_id = $1",
            &[&template, &executions],
        )
        .expect("the queue is filled");
    client
        .execute(
            "DELETE FROM plugflow_executions WHERE execution_id = $1",
            &[&template],
        )
        .expect("template removed");
    let ports: Vec<u16> = (0..workers).map(|_| plugflow_tests::free_port()).collect();
    let processes: Vec<Process> = ports
        .iter()
        .map(|port| {
            spawn(
                &config,
                &["worker", "--listen", &format!("127.0.0.1:{port}")],
                *port,
            )
        })
        .collect();
    let cpu = |ps: &[Process]| ps.iter().map(|p| cpu_seconds(p.0.id())).sum::<f64>();
    let (workers_cpu_before, db_cpu_before) = (cpu(&processes), postgres_cpu_seconds());
    let started = Instant::now();
    client
        .execute(
            "UPDATE plugflow_executions SET due_at = now() WHERE status = 'queued'",
            &[],
        )
        .expect("due now");
    client
        .execute("SELECT pg_notify('plugflow_queue', '')", &[])
        .expect("notified");
    loop {
        let done: i64 = client
            .query_one(
                "SELECT count(*) FROM plugflow_executions WHERE status NOT IN ('queued', 'running')",
                &[],
            )
            .expect("counted")
            .get(0);
        if done >= executions {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (workers_cpu, db_cpu) = (
        cpu(&processes) - workers_cpu_before,
        postgres_cpu_seconds() - db_cpu_before,
    );
    let succeeded: i64 = client
        .query_one(
            "SELECT count(*) FROM plugflow_executions WHERE status = 'success'",
            &[],
        )
        .expect("counted")
        .get(0);
    assert_eq!(succeeded, executions, "every execution succeeded");
    let metrics: Vec<String> = ports
        .iter()
        .map(|port| {
            agent()
                .get(&format!("http://127.0.0.1:{port}/metrics"))
                .call()
                .expect("metrics")
                .body_mut()
                .read_to_string()
                .expect("text")
        })
        .collect();
    let calls: f64 = metrics
        .iter()
        .map(|m| metric(m, "plugflow_db_calls_total"))
        .sum();
    let claims: f64 = metrics
        .iter()
        .map(|m| metric(m, "plugflow_queue_claims_total"))
        .sum();
    let quantile = |q: &str| {
        metrics
            .iter()
            .map(|m| metric(m, &format!("plugflow_queue_claim_ms{{quantile=\"{q}\"}}")))
            .fold(0.0_f64, f64::max)
    };
    let n = executions as f64;
    let figures = json!({
        "workers": workers,
        "executions": executions,
        "executionsPerSec": n / elapsed,
        "perWorkerPerSec": n / elapsed / workers as f64,
        "dbCallsPerExecution": calls / n,
        "workerCpuMsPerExecution": workers_cpu * 1000.0 / n,
        "dbCpuMsPerExecution": db_cpu * 1000.0 / n,
        "claimMsP50": quantile("0.5"),
        "claimMsP99": quantile("0.99"),
        "claimedByMetrics": claims,
    });
    drop(processes);
    figures
}

fn main() {
    let executions = std::env::var("PLUGFLOW_SCALE_OUT_BENCH_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut runs = Vec::new();
    for workers in [1, 2, 4] {
        let figures = measure(workers, executions);
        println!("scale_out/{workers} workers: {figures}");
        runs.push(figures);
    }
    plugflow_benches::write_result("scale_out", &json!({"runs": runs}));
}
