//! Plugin loading and the cost of the `.so` boundary.
//!
//! * `load/discover_register/{1,all}`: scan a directory, check, open and
//!   register one plugin library, and every built-in library.
//! * `boundary/{dynamic,static}`: one `Registry::invoke` of `string.upper`
//!   through the plugin loaded from its `.so` and through the same crate
//!   linked statically. The ratio of the medians is the boundary's cost.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use loader::{DiscoveryConfig, Loader};
use plugflow_benches::BUILTIN_LIBRARIES;
use plugflow_tests::install;
use plugin_abi::request::ExecContext;
use registry_core::{NodeCall, Registry};
use serde_json::{json, Map, Value};

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
    let input = Value::Null;
    let context = ExecContext::default();
    let variables = Map::new();
    let call = NodeCall {
        node_id: "n",
        parameters: &parameters,
        input: &input,
        context: &context,
        variables: &variables,
    };
    let mut group = c.benchmark_group("boundary");
    group.bench_function("dynamic", |b| {
        b.iter(|| dynamic.invoke("string.upper", call).expect("runs"))
    });
    group.bench_function("static", |b| {
        b.iter(|| linked.invoke("string.upper", call).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, load, boundary);
criterion_main!(benches);
