//! Engine overhead per node: chains of the trivial `noop.pass` (parameters
//! templated from `$json`) loaded from its `.so` and linked statically, and
//! a fan-out/fan-in. Divide a measured time by the node count for the
//! per-node cost (`chain/1000` is 1,000 nodes, `fan_out_in/1000` is 1,002).

use criterion::{criterion_group, criterion_main, Criterion};
use plugin_abi::request::ExecContext;
use registry_core::{Engine, RunOptions, RunStatus};

fn options() -> RunOptions {
    RunOptions {
        context: ExecContext {
            tenant_id: Some("acme".into()),
            execution_id: "bench".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn chains(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (dynamic, _dir) = plugflow_benches::dynamic_noop();
    let linked = plugflow_benches::static_noop();
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    for (n, label, registry) in [
        (1000, "chain/1000/dynamic", &dynamic),
        (1000, "chain/1000/static", &linked),
        (10_000, "chain/10000/static", &linked),
    ] {
        let compiled = plugflow_benches::chain(n);
        let engine = Engine::new(registry.clone());
        group.bench_function(label, |b| {
            b.to_async(&runtime).iter(|| async {
                let result = engine.run(&compiled, options()).await.expect("valid");
                assert_eq!(result.status, RunStatus::Success);
                result
            });
        });
    }
    let compiled = plugflow_benches::fan_out_in(1000);
    let engine = Engine::new(linked.clone());
    group.bench_function("fan_out_in/1000/static", |b| {
        b.to_async(&runtime).iter(|| async {
            let result = engine.run(&compiled, options()).await.expect("valid");
            assert_eq!(result.metrics.nodes_succeeded, 1002);
            result
        });
    });
    group.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
