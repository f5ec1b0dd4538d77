//! Plugin loading and the cost of the `.so` boundary.
//!
//! * `load/discover_register/{1,all}`: scan a directory, check, open and
//!   register one plugin library, and every built-in library.
//! * `startup/{cold,warm_hash,warm_trust_mtime}`: discovery of the
//!   built-in libraries plus 50 copies of a plugin (59 files) without a
//!   plugin cache (every library opened), and with a warm cache (nothing
//!   opened; node types registered lazily), hashing every file or trusting
//!   unchanged size and modification time.
//!
//! The cold cases (`load/*`, `startup/cold`) are timed in a fresh process
//! each: this binary runs itself with the directory to discover, and the
//! child times its one discovery (not its own start). Libraries are never
//! unloaded, so timing them in this process would load thousands of
//! copies into one address space, which no real process does, and each
//! `dlopen` grows slower with every library already open (1.0 ms per
//! library after 180 loads, 1.5 ms after 2,700).
//! * `boundary/{dynamic,static}`: one `Registry::invoke` of `string.upper`
//!   through the plugin loaded from its `.so` and through the same crate
//!   linked statically. The ratio of the medians is the boundary's cost.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, Criterion, SamplingMode};
use loader::{DiscoveryConfig, Loader};
use plugflow_benches::BUILTIN_LIBRARIES;
use plugflow_tests::install;
use registry_core::{NodeCall, Registry};
use serde_json::json;

// The allocator the `plugflow` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in a child: the directory it discovers once, then prints the
/// nanoseconds that took.
const CHILD_DIR: &str = "PLUGFLOW_BENCH_DISCOVER_DIR";
/// Set in a child: how many libraries its discovery must load.
const CHILD_EXPECT: &str = "PLUGFLOW_BENCH_DISCOVER_EXPECT";

/// The child's whole job: one discovery of `dir`, timed.
fn discover_once(dir: &Path) {
    let expected: usize = std::env::var(CHILD_EXPECT)
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("expected count");
    let registry = Registry::new();
    let started = std::time::Instant::now();
    let report = Loader::new(DiscoveryConfig::with_directories([dir])).discover(&registry);
    let took = started.elapsed();
    assert_eq!(report.totals.loaded, expected, "{report:?}");
    println!("{}", took.as_nanos());
}

/// The time of `iters` discoveries, each of fresh copies made by `fill`,
/// each in a fresh process.
fn cold_discoveries(iters: u64, expected: usize, fill: impl Fn(&Path)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("temp dir");
        fill(dir.path());
        let out = Command::new(std::env::current_exe().expect("this binary"))
            .env(CHILD_DIR, dir.path())
            .env(CHILD_EXPECT, expected.to_string())
            .output()
            .expect("child runs");
        assert!(out.status.success(), "{out:?}");
        let nanos: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("child prints nanoseconds");
        total += Duration::from_nanos(nanos);
    }
    total
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for (label, libs) in [
        ("1", &BUILTIN_LIBRARIES[7..8]),
        ("all", &BUILTIN_LIBRARIES[..]),
    ] {
        group.bench_function(format!("discover_register/{label}"), |b| {
            b.iter_custom(|iters| {
                cold_discoveries(iters, libs.len(), |dir| {
                    install(dir, libs);
                })
            });
        });
    }
    group.finish();
}

/// The built-ins plus 50 copies of `noop` in `dir`.
fn startup_dir(dir: &std::path::Path) {
    install(dir, &BUILTIN_LIBRARIES);
    let noop = plugflow_tests::library("fixture_noop");
    for i in 0..50 {
        std::fs::copy(&noop, dir.join(format!("libnoop_copy{i}.so"))).expect("copy");
    }
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("startup");
    group.sample_size(10);
    group.bench_function("cold", |b| {
        // The 50 copies of one plugin lose to the first: 10 libraries load.
        b.iter_custom(|iters| cold_discoveries(iters, 10, startup_dir));
    });
    let dir = tempfile::tempdir().expect("temp dir");
    startup_dir(dir.path());
    let cache = dir.path().join("cache").join("plugins.json");
    for (label, trust) in [("warm_hash", false), ("warm_trust_mtime", true)] {
        let mut config = DiscoveryConfig::with_directories([dir.path()]);
        config.cache_file = Some(cache.clone());
        config.trust_size_mtime = trust;
        // Fills the cache.
        let report = Loader::new(config.clone()).discover(&Registry::new());
        assert_eq!(report.files.len(), 59);
        group.bench_function(label, |b| {
            b.iter(|| {
                let registry = Registry::new();
                let report = Loader::new(config.clone()).discover(&registry);
                assert!(
                    report.files.iter().all(|f| f.from_cache),
                    "warm starts open nothing"
                );
                registry
            });
        });
    }
    group.finish();
}

fn boundary(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    install(dir.path(), &["plugflow_string"]);
    let dynamic = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&dynamic);
    assert_eq!(report.totals.loaded, 1);
    let linked = Registry::new();
    loader::register_static_plugin(&linked, plugflow_string::plugflow_module())
        .expect("static plugin");

    let parameters = json!({"value": "hello"});
    let call = NodeCall::new("string.upper", "n", &parameters);
    let mut group = c.benchmark_group("boundary");
    group.bench_function("dynamic", |b| {
        b.iter(|| dynamic.invoke(&call).expect("runs"))
    });
    group.bench_function("static", |b| b.iter(|| linked.invoke(&call).expect("runs")));
    group.finish();
}

criterion_group!(benches, load, startup, boundary);

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        discover_once(Path::new(&dir));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
