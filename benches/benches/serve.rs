//! Throughput of `plugflow serve` over HTTP on loopback: a 10-node webhook
//! workflow (webhook-trigger, eight `math.add`, webhook-response) driven
//! by a closed-loop load generator on one thread (keep-alive connections,
//! each sending its next request when the last is answered), with
//! executions kept in memory (not durable), in the SQLite file with node
//! progress off and on, and in PostgreSQL (the shared queue, one claim
//! loop in the process). Executions per second and p50/p95/p99 latency;
//! writes `<target>/plugflow-bench/serve.json`.
//!
//! Run: `cargo bench -p plugflow-benches --bench serve`
//! (`PLUGFLOW_SERVE_CLIENTS`, `PLUGFLOW_SERVE_REQUESTS` to change the load,
//! `PLUGFLOW_SERVE_ONLY` to run one case).

use std::time::Instant;

use plugflow_serve::{ApiKeyConfig, KeySource, ServeConfig, Server};
use serde_json::{json, Value};

// As the `plugflow` binary that `plugflow serve` runs in.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "bench-key-0123456789";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn workflow() -> Value {
    let mut nodes = vec![
        json!({"id": "hook", "name": "hook", "type": "trigger", "nodeType": "webhook-trigger", "typeVersion": 1, "position": [0, 0], "parameters": {"path": "/bench", "httpMethod": "POST"}}),
    ];
    let mut connections = serde_json::Map::new();
    let mut previous = "hook".to_owned();
    for i in 0..8 {
        let id = format!("add{i}");
        let value = if i == 0 {
            "{{ $json.n }}"
        } else {
            "{{ $input.result }}"
        };
        nodes.push(json!({"id": id, "name": id, "type": "operation", "nodeType": "math.add", "typeVersion": 1, "position": [i + 1, 0], "parameters": {"values": [value, 1]}}));
        connections.insert(
            previous.clone(),
            json!({"main": [[{"node": id, "type": "main", "index": 0}]]}),
        );
        previous = id;
    }
    nodes.push(json!({"id": "reply", "name": "reply", "type": "action", "nodeType": "webhook-response", "typeVersion": 1, "position": [9, 0], "parameters": {"body": {"total": "{{ $input.result }}"}}}));
    connections.insert(
        previous,
        json!({"main": [[{"node": "reply", "type": "main", "index": 0}]]}),
    );
    json!({"id": "bench", "name": "bench", "nodes": nodes, "connections": connections})
}

/// Where the served executions are recorded.
enum Store {
    /// `:memory:`: not durably.
    Memory,
    /// The SQLite file.
    File,
    /// PostgreSQL at this URL (the shared queue).
    Postgres(String),
}

/// Serves in a runtime of its own (two worker threads: the machine's
/// cores); returns the address and a stop handle.
fn serve(
    dir: &std::path::Path,
    durable: bool,
    store: Store,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).expect("workflows dir");
    std::fs::write(workflows.join("bench.json"), workflow().to_string()).expect("workflow");
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        workflows: Some(workflows),
        store: match store {
            Store::Memory => ":memory:".into(),
            _ => dir.join("executions.db"),
        },
        api_keys: vec![ApiKeyConfig {
            tenant_id: "bench".into(),
            key: KeySource::Value(KEY.into()),
            admin: false,
        }],
        save_execution_progress: durable,
        reload_interval_ms: 0,
        database_url: match store {
            Store::Postgres(url) => Some(url),
            _ => None,
        },
        ..ServeConfig::default()
    };
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let registry = plugflow_benches::static_builtins();
            let server = Server::bind(registry, config).await.expect("binds");
            address_tx
                .send(server.local_addr().expect("address"))
                .expect("sent");
            server
                .serve(async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serves");
        });
    });
    let address = address_rx.recv().expect("server starts");
    (address, stop_tx)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One keep-alive HTTP/1.1 connection sending `requests` webhook calls one
/// after another; returns each call's latency in milliseconds.
async fn client(address: std::net::SocketAddr, first: usize, requests: usize) -> Vec<f64> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let authorization = format!("Bearer {KEY}");
    let mut latencies = Vec::with_capacity(requests);
    for n in first..first + requests {
        let sent = Instant::now();
        let request = hyper::Request::post("/webhook/bench")
            .header("host", address.to_string())
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .body(Full::new(hyper::body::Bytes::from(format!(
                "{{\"n\":{n}}}"
            ))))
            .expect("request");
        sender.ready().await.expect("connection ready");
        let response = sender.send_request(request).await.expect("answer");
        assert_eq!(response.status(), 200, "status");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("JSON answer");
        assert!(body["total"].is_number(), "{body}");
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies
}

/// A closed-loop load generator on one thread (as wrk or oha): `clients`
/// connections, each sending its next request when the last is answered.
fn drive(address: std::net::SocketAddr, clients: usize, requests: usize) -> Value {
    let per_client = requests / clients;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let (latencies, elapsed) = runtime.block_on(async move {
        // Warm-up: compiled templates, caches, connections.
        client(address, 0, 50).await;
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| tokio::spawn(client(address, c * per_client, per_client)))
            .collect();
        let mut latencies = Vec::with_capacity(requests);
        for task in tasks {
            latencies.extend(task.await.expect("client"));
        }
        (latencies, started.elapsed().as_secs_f64())
    });
    let mut latencies = latencies;
    latencies.sort_by(f64::total_cmp);
    json!({
        "executions": latencies.len(),
        "clients": clients,
        "executionsPerSec": latencies.len() as f64 / elapsed,
        "p50Ms": percentile(&latencies, 0.5),
        "p95Ms": percentile(&latencies, 0.95),
        "p99Ms": percentile(&latencies, 0.99),
    })
}

fn main() {
    let clients = env("PLUGFLOW_SERVE_CLIENTS", 16);
    let requests = env("PLUGFLOW_SERVE_REQUESTS", 20_000);
    // `PLUGFLOW_SERVE_ONLY=volatile` (or durable, postgres) runs one case,
    // e.g. under a profiler.
    let only = std::env::var("PLUGFLOW_SERVE_ONLY").ok();
    let mut document = serde_json::Map::new();
    for (label, durable, store) in [
        ("memory", false, "memory"),
        ("volatile", false, "file"),
        ("durable", true, "file"),
        ("postgres", true, "postgres"),
    ] {
        if only.as_deref().is_some_and(|only| only != label) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let database = (store == "postgres").then(plugflow_tests::pg::TestDatabase::create);
        let store = match &database {
            Some(database) => Store::Postgres(database.url().to_owned()),
            None if store == "memory" => Store::Memory,
            None => Store::File,
        };
        let (address, stop) = serve(dir.path(), durable, store);
        let figures = drive(address, clients, requests);
        println!("serve/{label}: {figures}");
        document.insert(label.to_owned(), figures);
        let _ = stop.send(());
    }
    plugflow_benches::write_result("serve", &Value::Object(document));
}
