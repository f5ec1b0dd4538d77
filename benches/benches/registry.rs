//! The registry: a cache-hit lookup, registration (one node type with a
//! freshly compiled schema; 100 node types), and one `execute` of a trivial
//! pure node through the whole pipeline (static and `.so`).

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use plugin_abi::manifest::NodeTypeManifest;
use plugin_abi::request::ExecContext;
use plugin_abi::sdk::{executor_box, NodeError, NodeOutput, NodeRequest};
use registry_core::{NodeCall, NodeMetadata, NodeSource, Registry};
use serde_json::json;

struct Noop;
impl plugin_abi::sdk::Node for Noop {
    fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
        Ok(NodeOutput::default())
    }
}

static SCHEMA_SEQ: AtomicU64 = AtomicU64::new(0);

fn metadata(node_type: String) -> NodeMetadata {
    let mut manifest = NodeTypeManifest::new(node_type, "1.0.0");
    // A distinct schema each time, so the schema cache cannot answer.
    let seq = SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed);
    manifest.parameter_schema = json!({"type": "object", "$comment": seq.to_string(), "properties": {
        "value": {"type": "string", "maxLength": 100}, "count": {"type": "integer", "minimum": 0}}});
    manifest.required_fields = vec!["value".into()];
    NodeMetadata::new(manifest, NodeSource::InProcess)
}

fn lookup(c: &mut Criterion) {
    let registry = Registry::new();
    for i in 0..1000 {
        registry
            .register_with_metadata(executor_box(Noop), metadata(format!("bench.n{i}")))
            .expect("registers");
    }
    registry.get("bench.n500");
    c.bench_function("registry/lookup_hit", |b| {
        b.iter(|| registry.get("bench.n500").expect("hit"))
    });
}

fn register(c: &mut Criterion) {
    c.bench_function("registry/register_one_compiled_schema", |b| {
        b.iter_batched(
            || (Registry::new(), metadata("bench.one".into())),
            |(registry, m)| {
                registry
                    .register_with_metadata(executor_box(Noop), m)
                    .expect("registers");
                registry
            },
            BatchSize::SmallInput,
        );
    });
    c.bench_function("registry/register_100", |b| {
        b.iter_batched(
            || {
                (0..100)
                    .map(|i| metadata(format!("bench.n{i}")))
                    .collect::<Vec<_>>()
            },
            |all| {
                let registry = Registry::new();
                for m in all {
                    registry
                        .register_with_metadata(executor_box(Noop), m)
                        .expect("registers");
                }
                registry
            },
            BatchSize::SmallInput,
        );
    });
}

fn execute(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (dynamic, _dir) = plugflow_benches::dynamic_noop();
    let linked = plugflow_benches::static_noop();
    let params = json!({"value": 1});
    let context = ExecContext {
        tenant_id: Some("acme".into()),
        execution_id: "bench".into(),
        ..Default::default()
    };
    let mut group = c.benchmark_group("registry/execute_pipeline");
    for (label, registry) in [("static", &linked), ("dynamic", &dynamic)] {
        group.bench_function(label, |b| {
            b.to_async(&runtime).iter(|| async {
                let call = NodeCall::new("noop.pass", "n1", &params).context(&context);
                let done = registry.execute(&call).await;
                assert!(done.error.is_none());
                done
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lookup, register, execute);
criterion_main!(benches);
