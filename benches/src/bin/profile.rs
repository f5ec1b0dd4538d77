//! Fixed workloads for instruction counts (`valgrind --tool=callgrind`),
//! each phase in a function of its own so that its inclusive cost can be
//! read from one profile (`benches/instructions.sh` does this):
//!
//! ```text
//! profile phases-static N    chain of N math.add nodes, built-ins linked:
//!                            measure_parse, measure_compile,
//!                            measure_validate, measure_run, measure_output
//! profile phases-dynamic N   the same with the built-ins loaded from .so
//! profile execute N          N executes of one math.add node through the
//!                            whole registry pipeline (measure_execute)
//! profile execute-dynamic N  the same with math.add loaded from its .so
//! profile startup-warm N     N discoveries of 59 plugin files with a warm
//!                            cache (measure_startup)
//! profile fan-out N         a start node, N nodes, one join (the
//!                            `engine` benchmark's fan-out), linked noop:
//!                            measure_compile of its text, measure_run
//! profile load-cold N       N discoveries of the 9 built-in libraries,
//!                            fresh copies each time, no cache
//!                            (measure_load)
//! profile write-chain N PATH the chain's workflow file, for the CLI
//! profile dbal-bulk N        N creates of 10,000 records of the `dbal`
//!                            benchmark's declared entity (node time only)
//! profile dbal-bulk-big N    the same beside 1,000,000 preloaded records
//!                            (PROFILE_BENCH_SHAPE=1: and nine tenants of
//!                            20,000; PROFILE_TENANT: the tenant written)
//! ```
//!
//! Two values of N, subtracted, give the marginal cost per node, free of
//! set-up. The allocator is the CLI's (mimalloc), so the phases add up to
//! what `plugflow run` pays.

use std::hint::black_box;
use std::sync::Arc;

use loader::{DiscoveryConfig, Loader};
use plugflow_engine::{CompiledWorkflow, Engine, ExecutionResult, RunOptions, RunStatus, Workflow};
use registry_core::{ExecContext, NodeCall, Registry};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn options() -> RunOptions {
    RunOptions {
        context: ExecContext {
            tenant_id: Some("acme".into()),
            execution_id: "profile".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[inline(never)]
fn measure_parse(text: &str) -> Workflow {
    Workflow::parse(text, "chain.json").expect("chain parses")
}

#[inline(never)]
fn measure_compile(workflow: Workflow) -> CompiledWorkflow {
    CompiledWorkflow::compile(workflow)
}

#[inline(never)]
fn measure_validate(engine: &Engine, compiled: &CompiledWorkflow) -> usize {
    let report = engine.validate(compiled, &options());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    report.warnings.len()
}

#[inline(never)]
fn measure_run(
    runtime: &tokio::runtime::Runtime,
    engine: &Engine,
    compiled: &CompiledWorkflow,
) -> ExecutionResult {
    let result = runtime
        .block_on(engine.run(compiled, options()))
        .expect("valid");
    assert_eq!(result.status, RunStatus::Success, "{:?}", result.error);
    result
}

#[inline(never)]
fn measure_output(result: &ExecutionResult) -> usize {
    // As `plugflow run --output json` writes it: into a buffer sized for
    // the nodes.
    let mut text = Vec::with_capacity(512 * result.nodes.len());
    result.write_pretty_json(&mut text);
    text.len()
}

fn phases(registry: Arc<Registry>, n: usize) {
    let text = plugflow_benches::math_chain_text(n);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::new(registry);
    let workflow = measure_parse(&text);
    let compiled = measure_compile(workflow);
    black_box(measure_validate(&engine, &compiled));
    let result = measure_run(&runtime, &engine, &compiled);
    assert_eq!(
        result.nodes[&format!("n{}", n - 1)].output,
        json!({"result": n + 1})
    );
    black_box(measure_output(&result));
}

#[inline(never)]
fn measure_execute(registry: &Registry, n: usize) {
    let context = options().context;
    for i in 0..n {
        let parameters = json!({"values": [i, 1]});
        let call = NodeCall::new("math.add", "n", &parameters).context(&context);
        let done = registry.execute_now(&call).expect("math.add runs inline");
        assert!(done.error.is_none(), "{:?}", done.error);
        black_box(done);
    }
}

#[inline(never)]
fn measure_startup(config: &DiscoveryConfig) -> Registry {
    let registry = Registry::new();
    let report = Loader::new(config.clone()).discover(&registry);
    assert!(
        report.files.iter().all(|f| f.from_cache),
        "warm starts open nothing"
    );
    registry
}

#[inline(never)]
fn measure_load(dir: &std::path::Path) -> Registry {
    let registry = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir])).discover(&registry);
    assert_eq!(
        report.totals.loaded,
        plugflow_benches::BUILTIN_LIBRARIES.len()
    );
    registry
}

/// `n` creates of 10,000 declared records each, after `preload` such
/// creates for another tenant (0: into a fresh database). Prints the time
/// of the measured creates.
fn dbal_bulk(n: usize, preload: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let entities = dir.path().join("entities");
    std::fs::create_dir_all(&entities).expect("entities");
    std::fs::write(
        entities.join("item.json"),
        // The `dbal` benchmark's entity.
        r#"{"entity": "item", "fields": {
            "sku": {"type": "string", "required": true, "unique": true},
            "category": {"type": "enum", "values": ["c0","c1","c2","c3","c4","c5","c6","c7","c8","c9"], "required": true},
            "price": {"type": "decimal", "required": true, "min": 0},
            "stock": {"type": "integer", "required": true}},
          "indexes": [{"fields": ["category", "stock"], "name": "category_stock"},
                      {"fields": ["category", "price"], "name": "category_price"}]}"#,
    )
    .expect("schema");
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).expect("dbal");
    let mut config = serde_json::Map::new();
    config.insert("database".into(), json!(dir.path().join("p.db")));
    config.insert("entities".into(), json!(entities));
    registry.set_node_config("dbal-write", config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let create = |tenant: &str, round: usize| {
        let mut context = options().context;
        context.tenant_id = Some(tenant.into());
        let data: Vec<serde_json::Value> = (0..10_000)
            .map(|i| {
                json!({"sku": format!("s-{round}-{i}"), "category": format!("c{}", i % 10),
                            "price": (i % 1000) as f64 / 10.0, "stock": i % 500})
            })
            .collect();
        let parameters = json!({"operation": "create", "entity": "item", "data": data});
        let call = NodeCall::new("dbal-write", "n", &parameters).context(&context);
        // Only the node is timed, not building its records.
        let started = std::time::Instant::now();
        let done = runtime.block_on(registry.execute(&call));
        let took = started.elapsed();
        assert!(done.error.is_none(), "{:?}", done.error);
        black_box(done);
        took
    };
    for round in 0..preload {
        create("big", round);
    }
    if std::env::var_os("PROFILE_BENCH_SHAPE").is_some() {
        // The `dbal` benchmark's shape: nine more tenants of 20,000.
        for t in 1..10 {
            for round in 0..2 {
                create(&format!("t{t}"), round);
            }
        }
    }
    let into = std::env::var("PROFILE_TENANT").unwrap_or_else(|_| "t".to_owned());
    let took: std::time::Duration = (0..n).map(|round| create(&into, round + 1_000)).sum();
    eprintln!(
        "{n} creates of 10,000 after {preload} preloaded: {:.1} ms each, {:.0} rows/s",
        took.as_secs_f64() * 1e3 / n as f64,
        (n * 10_000) as f64 / took.as_secs_f64()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "phases-static".into());
    let n: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1000);
    match workload.as_str() {
        "phases-static" => phases(plugflow_benches::static_builtins(), n),
        "phases-dynamic" => {
            let (registry, _dir) = plugflow_benches::dynamic_builtins();
            phases(registry, n);
        }
        "execute" => {
            let registry = plugflow_benches::static_builtins();
            // One warm-up call fills the caches.
            measure_execute(&registry, 1);
            measure_execute(&registry, n);
        }
        "execute-dynamic" => {
            let (registry, _dir) = plugflow_benches::dynamic_builtins();
            measure_execute(&registry, 1);
            measure_execute(&registry, n);
        }
        "fan-out" => {
            let registry = plugflow_benches::static_noop();
            let engine = Engine::new(registry);
            let text = plugflow_benches::fan_out_in_text(n);
            let compiled = measure_compile(measure_parse(&text));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let result = measure_run(&runtime, &engine, &compiled);
            assert_eq!(result.metrics.nodes_succeeded, n + 2);
        }
        "load-cold" => {
            // Fresh copies each time (a library already mapped would be
            // reused by the dynamic linker), made just before, as in the
            // `plugins` benchmark.
            let mut took = std::time::Duration::ZERO;
            for _ in 0..n {
                let dir = tempfile::tempdir().expect("temp dir");
                plugflow_tests::install(dir.path(), &plugflow_benches::BUILTIN_LIBRARIES);
                let started = std::time::Instant::now();
                let registry = measure_load(dir.path());
                took += started.elapsed();
                drop((registry, dir));
            }
            eprintln!(
                "{n} discoveries of {} libraries: {:.2} ms per library",
                plugflow_benches::BUILTIN_LIBRARIES.len(),
                took.as_secs_f64() * 1e3 / (n * plugflow_benches::BUILTIN_LIBRARIES.len()) as f64
            );
        }
        "startup-warm" => {
            let dir = tempfile::tempdir().expect("temp dir");
            plugflow_tests::install(dir.path(), &plugflow_benches::BUILTIN_LIBRARIES);
            let noop = plugflow_tests::library("fixture_noop");
            for i in 0..50 {
                std::fs::copy(&noop, dir.path().join(format!("libnoop_copy{i}.so"))).expect("copy");
            }
            let mut config = DiscoveryConfig::with_directories([dir.path()]);
            config.cache_file = Some(dir.path().join("cache").join("plugins.json"));
            config.trust_size_mtime = true;
            // Fills the cache.
            Loader::new(config.clone()).discover(&Registry::new());
            for _ in 0..n {
                black_box(measure_startup(&config));
            }
        }
        "dbal-bulk" => dbal_bulk(n, 0),
        "dbal-bulk-big" => dbal_bulk(n, 100),
        "write-chain" => {
            let path = args.next().expect("profile write-chain N PATH");
            std::fs::write(&path, plugflow_benches::math_chain_text(n)).expect("chain written");
        }
        other => {
            eprintln!("unknown workload `{other}`; see the module documentation");
            std::process::exit(2);
        }
    }
}
