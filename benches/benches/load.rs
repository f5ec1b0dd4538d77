//! Load generator: `CONCURRENCY` executions of a 10-node workflow at once
//! on a multi-threaded runtime, repeated `ROUNDS` times. Reports
//! executions/s, nodes/s, p50/p95/p99 per-node latency and peak RSS.
//!
//! Run: `cargo bench -p plugflow-benches --bench load` (env CONCURRENCY,
//! ROUNDS, WORKERS override the defaults 1000, 5, available cores).

use std::sync::Arc;
use std::time::Instant;

use plugflow_engine::{Engine, RunOptions, RunStatus};
use plugin_abi::request::ExecContext;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // Criterion passes `--bench`; this harness takes no arguments.
    let concurrency = env("CONCURRENCY", 1000);
    let rounds = env("ROUNDS", 5);
    let workers = env(
        "WORKERS",
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    let (registry, _dir) = plugflow_benches::dynamic_noop();
    let engine = Engine::new(registry);
    let compiled = Arc::new(plugflow_benches::chain(10));

    let mut latencies_us: Vec<f64> = Vec::with_capacity(concurrency * rounds * 10);
    let started = Instant::now();
    let mut executions = 0usize;
    for round in 0..rounds {
        let results = runtime.block_on(async {
            let mut tasks = Vec::with_capacity(concurrency);
            for i in 0..concurrency {
                let engine = engine.clone();
                let compiled = compiled.clone();
                tasks.push(tokio::spawn(async move {
                    let options = RunOptions {
                        context: ExecContext {
                            tenant_id: Some(format!("t{}", i % 8)),
                            execution_id: format!("r{round}-{i}"),
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    engine.run(&compiled, options).await.expect("valid")
                }));
            }
            let mut results = Vec::with_capacity(concurrency);
            for t in tasks {
                results.push(t.await.expect("task"));
            }
            results
        });
        for r in results {
            assert_eq!(r.status, RunStatus::Success);
            executions += 1;
            latencies_us.extend(r.nodes.values().map(|n| n.duration_ms * 1000.0));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies_us.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies_us[((latencies_us.len() as f64 - 1.0) * p) as usize];
    let nodes = latencies_us.len();
    let document = serde_json::json!({
        "executions": executions,
        "concurrency": concurrency,
        "workers": workers,
        "nodesPerExecution": 10,
        "executionsPerSec": executions as f64 / elapsed,
        "nodesPerSec": nodes as f64 / elapsed,
        "p50Us": pct(0.50),
        "p95Us": pct(0.95),
        "p99Us": pct(0.99),
        "peakRssMb": plugflow_benches::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / 1e6),
    });
    println!("load: {document}");
    plugflow_benches::write_result("load", &document);
}
