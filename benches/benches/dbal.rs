//! The dbal at a million rows: one entity of 1,000,000 records for one
//! tenant among ten (nine others hold 20,000 each), declared (typed
//! columns, tenant-leading indexes) beside the same records undeclared
//! (a JSON document per row), in one run. Node time of `dbal-read` /
//! `dbal-write` through `Registry::execute` (the dbal linked in):
//!
//! * `dbal/point_lookup/{declared,undeclared}`: `read` by `sku` (one match);
//! * `dbal/count_filtered/{declared,undeclared}`: `count` on `category`
//!   and a `stock` range;
//! * `dbal/read_sorted_page/{declared,undeclared}`: `read` of `category`,
//!   sorted by `price`, limit 50;
//! * `dbal/bulk_create_10k/{declared,undeclared}`: one `create` of 10,000
//!   records into the million-row tenant (divide for rows/s); the records
//!   of the previous sample are deleted, untimed, before each.
//!
//! The database file's size is written to
//! `<target>/plugflow-bench/dbal.json`.
//!
//! Run: `cargo bench -p plugflow-benches --bench dbal` (with mimalloc, the
//! allocator of the `plugflow` binary).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use plugin_abi::request::ExecContext;
use registry_core::{NodeCall, NodeStatus, Registry};
use serde_json::{json, Value};

// The allocator the `plugflow` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records of the measured tenant.
const ROWS: u64 = 1_000_000;
/// Records of each other tenant.
const OTHER_ROWS: u64 = 20_000;
/// Records per create call while loading.
const BATCH: u64 = 10_000;

const SCHEMA: &str = r#"{"entity": "item", "fields": {
    "sku": {"type": "string", "required": true, "unique": true},
    "category": {"type": "enum", "values": ["c0","c1","c2","c3","c4","c5","c6","c7","c8","c9"], "required": true},
    "price": {"type": "decimal", "required": true, "min": 0},
    "stock": {"type": "integer", "required": true}
  },
  "indexes": [
    {"fields": ["category", "stock"], "name": "category_stock"},
    {"fields": ["category", "price"], "name": "category_price"}
  ]}"#;

fn registry(dir: &Path) -> Registry {
    let entities = dir.join("entities");
    std::fs::create_dir_all(&entities).expect("entities dir");
    std::fs::write(entities.join("item.json"), SCHEMA).expect("schema");
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).expect("dbal");
    let mut config = serde_json::Map::new();
    config.insert("database".into(), json!(dir.join("bench.db")));
    config.insert("entities".into(), json!(entities));
    for node_type in ["dbal-read", "dbal-write"] {
        registry.set_node_config(node_type, config.clone());
    }
    registry
}

fn run(registry: &Registry, tenant: &str, node_type: &str, parameters: &Value) -> Value {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        ..Default::default()
    };
    let call = NodeCall::new(node_type, "n", parameters).context(&context);
    // One runtime for the whole run, as in `plugflow serve`: a runtime per
    // call would start a fresh blocking thread (and a fresh allocator heap)
    // for every node.
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    });
    let done = runtime.block_on(registry.execute(&call));
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    done.output
}

fn item(n: u64) -> Value {
    json!({"sku": format!("sku-{n}"), "category": format!("c{}", n % 10),
           "price": (n % 1000) as f64 / 10.0, "stock": n % 500})
}

/// A record of a measured bulk create (its `sku` marks it for removal).
fn bulk_item(n: u64) -> Value {
    let mut record = item(n);
    record["sku"] = json!(format!("bulk-{n}"));
    record
}

/// `rows` records for `tenant` in `entity`, `BATCH` per create.
fn load(registry: &Registry, tenant: &str, entity: &str, rows: u64) {
    let mut start = 0;
    while start < rows {
        let end = (start + BATCH).min(rows);
        let data: Vec<Value> = (start..end).map(item).collect();
        run(
            registry,
            tenant,
            "dbal-write",
            &json!({"operation": "create", "entity": entity, "data": data}),
        );
        start = end;
    }
}

fn dbal(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = registry(dir.path());
    // `item` is declared; `item_doc` is the same records undeclared.
    for entity in ["item", "item_doc"] {
        load(&registry, "t0", entity, ROWS);
        for t in 1..10 {
            load(&registry, &format!("t{t}"), entity, OTHER_ROWS);
        }
    }
    let mut group = c.benchmark_group("dbal");
    for (label, entity) in [("declared", "item"), ("undeclared", "item_doc")] {
        let lookup = json!({"entity": entity, "filter": {"sku": "sku-777777"}});
        group.bench_function(format!("point_lookup/{label}"), |b| {
            b.iter(|| run(&registry, "t0", "dbal-read", &lookup))
        });
        let count = json!({"operation": "count", "entity": entity,
            "filter": {"category": "c3", "stock": {"$gte": 100, "$lt": 200}}});
        group.bench_function(format!("count_filtered/{label}"), |b| {
            b.iter(|| run(&registry, "t0", "dbal-read", &count))
        });
        let page =
            json!({"entity": entity, "filter": {"category": "c5"}, "sort": "price", "limit": 50});
        group.bench_function(format!("read_sorted_page/{label}"), |b| {
            b.iter(|| run(&registry, "t0", "dbal-read", &page))
        });
    }
    group.sample_size(10);
    // Each create adds 10,000 records to the measured tenant's million;
    // the set-up (not timed) deletes the previous ones, so every sample
    // writes into the same million-row entity instead of a growing one.
    // Checkpoints of the log fall where SQLite's automatic ones fall, in
    // timed creates or untimed deletes alike.
    static NEXT: AtomicU64 = AtomicU64::new(10_000_000);
    for (label, entity) in [("declared", "item"), ("undeclared", "item_doc")] {
        let added = json!({"operation": "delete", "entity": entity,
            "filter": {"sku": {"$gte": "bulk-", "$lt": "bulk."}}});
        group.bench_function(format!("bulk_create_10k/{label}"), |b| {
            b.iter_batched(
                || {
                    run(&registry, "t0", "dbal-write", &added);
                    let first = NEXT.fetch_add(BATCH, Ordering::Relaxed);
                    let data: Vec<Value> = (first..first + BATCH).map(bulk_item).collect();
                    json!({"operation": "create", "entity": entity, "data": data})
                },
                |parameters| run(&registry, "t0", "dbal-write", &parameters),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    let bytes = std::fs::metadata(dir.path().join("bench.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let results = plugflow_benches::results_dir();
    let _ = std::fs::create_dir_all(&results);
    let figures = json!({"databaseMb": bytes as f64 / 1e6, "rows": ROWS + 9 * OTHER_ROWS});
    let _ = std::fs::write(results.join("dbal.json"), figures.to_string());
    println!("dbal database file after loading both entities: {figures}");
}

criterion_group!(benches, dbal);
criterion_main!(benches);
