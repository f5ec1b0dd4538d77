//! Plugin loading and the cost of the `.so` boundary.
//!
//! * `load/discover_register/{1,all}`: scan a directory, check, open and
//!   register one plugin library, and every built-in library.
//! * `startup/{cold,warm_hash,warm_trust_mtime}`: discovery of the
//!   built-in libraries plus 50 copies of a plugin (59 files) without a
//!   plugin cache (every library opened), and with a warm cache (nothing
//!   opened; node types registered lazily), hashing every file or trusting
//!   unchanged size and modification time.
//! * `boundary/{dynamic,static}`: one `Registry::invoke` of `string.upper`
//!   through the plugin loaded from its `.so` and through the same crate
//!   linked statically. The ratio of the medians is the boundary's cost.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use loader::{DiscoveryConfig, Loader};
use plugflow_benches::BUILTIN_LIBRARIES;
use plugflow_tests::install;
use registry_core::{NodeCall, Registry};
use serde_json::json;

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    for (label, libs) in [
        ("1", &BUILTIN_LIBRARIES[7..8]),
        ("all", &BUILTIN_LIBRARIES[..]),
    ] {
        group.bench_function(format!("discover_register/{label}"), |b| {
            // Each iteration needs fresh copies: a library already mapped in
            // the process would be reused by the dynamic linker.
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    install(dir.path(), libs);
                    dir
                },
                |dir| {
                    let registry = Registry::new();
                    let report = Loader::new(DiscoveryConfig::with_directories([dir.path()]))
                        .discover(&registry);
                    assert_eq!(report.totals.loaded, libs.len());
                    (registry, dir)
                },
                BatchSize::PerIteration,
            );
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
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                startup_dir(dir.path());
                dir
            },
            |dir| {
                let registry = Registry::new();
                let report = Loader::new(DiscoveryConfig::with_directories([dir.path()]))
                    .discover(&registry);
                assert_eq!(report.files.len(), 59);
                (registry, dir)
            },
            BatchSize::PerIteration,
        );
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
criterion_main!(benches);
