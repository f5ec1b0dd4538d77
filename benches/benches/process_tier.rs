//! The process tier's cost beside the in-process call, in one run:
//!
//! * `process_tier/invoke/{in_process,process}`: one `Registry::invoke` of
//!   the trivial `noop.pass` loaded from its `.so`, called in this process
//!   and in its plugin-host process (a frame each way over the child's
//!   pipes, with its persistent connection). The difference is the
//!   per-call overhead of the tier.
//! * `process_tier/invoke_x8/{in_process,process}`: 8 threads making 50
//!   calls each per iteration (divide by 400 for a call's share): calls in
//!   flight together share the child's pipes and threads.
//! * `process_tier/start`: a fresh supervisor's first call: the child is
//!   spawned, takes its pipes, opens the library and answers.
//!
//! Memory of one plugin-host process (its `VmRSS` after the first call) is
//! written to `<target>/plugflow-bench/process_tier.json`.
//!
//! Run: `cargo bench -p plugflow-benches --bench process_tier`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use loader::{DiscoveryConfig, Loader};
use registry_core::{ExecutionTier, NodeCall, Registry};
use serde_json::json;

fn registry_on(tier: ExecutionTier) -> (Registry, Loader, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    plugflow_tests::install(dir.path(), &["fixture_noop"]);
    let program = env!("CARGO_BIN_EXE_bench-plugin-host").to_owned();
    let mut config = DiscoveryConfig::with_directories([dir.path()]);
    config.execution_isolation = tier;
    config.scanner = Some(vec![program.clone(), loader::SCANNER_ARG.to_owned()]);
    config.plugin_host.command = Some(vec![program, loader::PLUGIN_HOST_ARG.to_owned()]);
    let registry = Registry::new();
    let loader = Loader::new(config);
    let report = loader.discover(&registry);
    assert_eq!(report.totals.loaded, 1, "{report:?}");
    (registry, loader, dir)
}

/// Threads calling at once in `invoke_x8`.
const PARALLEL: usize = 8;
/// Calls each of them makes per iteration.
const CALLS_PER_THREAD: usize = 50;

fn invoke(registry: &Registry) {
    let parameters = json!({"value": 1});
    let done = registry
        .invoke(&NodeCall::new("noop.pass", "n", &parameters))
        .expect("noop runs");
    std::hint::black_box(done);
}

fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_tier");
    for (label, tier) in [
        ("in_process", ExecutionTier::InProcess),
        ("process", ExecutionTier::Process),
    ] {
        let (registry, _loader, _dir) = registry_on(tier);
        invoke(&registry);
        group.bench_function(format!("invoke/{label}"), |b| b.iter(|| invoke(&registry)));
        // Calls from several threads at once share the connection: the
        // figure is per call (each iteration is PARALLEL calls).
        group.bench_function(format!("invoke_x{PARALLEL}/{label}"), |b| {
            b.iter(|| {
                std::thread::scope(|scope| {
                    for _ in 0..PARALLEL {
                        scope.spawn(|| {
                            for _ in 0..CALLS_PER_THREAD {
                                invoke(&registry);
                            }
                        });
                    }
                });
            });
        });
    }
    group.sample_size(20);
    group.bench_function("start", |b| {
        b.iter_batched(
            || registry_on(ExecutionTier::Process),
            |(registry, loader, dir)| {
                invoke(&registry);
                (registry, loader, dir)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    write_memory();
}

/// `VmRSS` of a plugin-host process after its first call.
fn write_memory() {
    let (registry, loader, _dir) = registry_on(ExecutionTier::Process);
    invoke(&registry);
    let pid = loader
        .plugin_hosts()
        .status()
        .first()
        .and_then(|s| s.pid)
        .expect("a running host");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: Option<u64> = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let dir = plugflow_benches::results_dir();
    let _ = std::fs::create_dir_all(&dir);
    let figures = json!({"hostRssMb": kib.map(|k| k as f64 / 1024.0)});
    let _ = std::fs::write(dir.join("process_tier.json"), figures.to_string());
    println!("plugin-host process RSS after its first call: {figures}");
}

criterion_group!(benches, calls);
criterion_main!(benches);
