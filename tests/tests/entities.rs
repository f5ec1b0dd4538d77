//! Declared entities: MetaBuilder-shaped schemas (tests/entities/) drive
//! typed tables in a real SQLite file. Records are checked on write with
//! every violation named by record index and field; a failed write changes
//! nothing; unique values are unique per tenant and a clash never names
//! the other record; lookups, counts and sorted pages on indexed fields use
//! an index (EXPLAIN QUERY PLAN); schemas grow in place, destructive
//! changes are refused, and schemaless records move into the columns.

use std::path::{Path, PathBuf};

use plugin_abi::request::{ExecContext, NodeRequest};
use registry_core::{ErrorCode, NodeCall, NodeExecution, NodeStatus, Registry};
use serde_json::{json, Value};

struct Db {
    registry: Registry,
    database: PathBuf,
    entities: PathBuf,
    _dir: tempfile::TempDir,
}

/// A registry with the dbal linked, a fresh database file, and a copy of
/// the test schemas (with `extra` files written beside them).
fn db_with(extra: &[(&str, &str)]) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let entities = dir.path().join("entities");
    std::fs::create_dir(&entities).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("entities");
    for file in std::fs::read_dir(&source).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, entities.join(file.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(entities.join(name), text).unwrap();
    }
    let database = dir.path().join("data.db");
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
    point_at(&registry, &database, &entities);
    Db {
        registry,
        database,
        entities,
        _dir: dir,
    }
}

fn db() -> Db {
    db_with(&[])
}

fn point_at(registry: &Registry, database: &Path, entities: &Path) {
    let mut config = serde_json::Map::new();
    config.insert("database".into(), json!(database));
    config.insert("entities".into(), json!(entities));
    for node_type in plugflow_tests::host::plugflow_dbal_node_types() {
        registry.set_node_config(node_type, config.clone());
    }
}

/// Points `db` at another schema directory, the same database file.
fn repoint(db: &Db, entities: &Path) {
    point_at(&db.registry, &db.database, entities);
}

/// A read of `entity` filtered by `filter` uses an index on `field`.
fn assert_indexed(db: &Db, entity: &str, field: &str, filter: Value) {
    let steps = plan(db, json!({"entity": entity, "filter": filter}));
    assert!(
        uses_an_index(&steps),
        "a filter on `{field}` scans: {steps:?}"
    );
}

include!("suites/entities.rs");

fn plan(db: &Db, parameters: Value) -> Vec<String> {
    let request: NodeRequest = serde_json::from_value(json!({
        "nodeType": "dbal-read",
        "parameters": parameters,
        "context": {"tenantId": "acme"},
        "config": {"database": db.database, "entities": db.entities}
    }))
    .unwrap();
    plugflow_dbal::query_plan(&request).unwrap()
}

fn uses_an_index(steps: &[String]) -> bool {
    steps.iter().any(|s| {
        s.contains("USING INDEX")
            || s.contains("USING COVERING INDEX")
            || s.contains("USING PRIMARY KEY")
    }) && !steps.iter().any(|s| s.starts_with("SCAN"))
}

#[test]
fn a_lookup_by_an_indexed_field_uses_an_index() {
    let db = db();
    let steps = plan(
        &db,
        json!({"entity": "user", "filter": {"username": "ada"}}),
    );
    assert!(uses_an_index(&steps), "{steps:?}");
}

#[test]
fn a_count_on_two_indexed_fields_uses_an_index() {
    let db = db();
    let steps = plan(
        &db,
        json!({"operation": "count", "entity": "order", "filter": {"status": "paid", "placedAt": {"$gte": 0}}}),
    );
    assert!(uses_an_index(&steps), "{steps:?}");
}

#[test]
fn a_sorted_page_on_an_indexed_field_needs_no_sort_step() {
    let db = db();
    let steps = plan(
        &db,
        json!({"entity": "order", "filter": {"customerId": "c1"}, "sort": "orderNumber", "limit": 50}),
    );
    assert!(uses_an_index(&steps), "{steps:?}");
    assert!(
        !steps.iter().any(|s| s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
}

#[test]
fn migrate_plans_then_makes_the_rebuild_a_removed_field_needs() {
    let db = db();
    widget_then_colour_removed(&db);
    let dir = db
        .entities
        .parent()
        .unwrap()
        .join("entities-widget-v2.json");
    let plans = plugflow_dbal::migrate::plan(&db.database, &dir).unwrap();
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].records, 1);
    assert_eq!(
        (
            plans[0].changes[0].kind.as_str(),
            plans[0].changes[0].field.as_str()
        ),
        ("drop", "colour")
    );
    // The plan changed nothing: the store still refuses the table.
    assert!(exec(&db, "acme", "dbal-read", json!({"entity": "widget"}))
        .error
        .is_some());
    plugflow_dbal::migrate::apply(&db.database, &dir).unwrap();
    let read = ok(&db, "acme", "dbal-read", json!({"entity": "widget"}));
    assert_eq!(
        read["records"][0],
        json!({"id": read["records"][0]["id"], "tenantId": "acme", "name": "w1"})
    );
}

/// `n` orders of customer c1 whose statuses run against the order of the
/// entity's `status_recent` index.
fn orders(n: usize) -> Vec<Value> {
    let statuses = ["shipped", "pending", "paid", "cancelled"];
    (0..n)
        .map(|i| {
            json!({"orderNumber": format!("ORD-{i:04}"), "customerId": "c1",
                   "status": statuses[i % 4], "total": 1})
        })
        .collect()
}

#[test]
fn a_bulk_create_keeps_its_records_in_creation_order() {
    let db = db();
    let given = orders(300);
    let created = create(&db, "acme", "order", Value::Array(given.clone()));
    assert_eq!(created.status, NodeStatus::Success, "{created:?}");
    let read = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "order", "limit": 1000}),
    );
    let numbers: Vec<&Value> = read["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["orderNumber"])
        .collect();
    let expected: Vec<&Value> = given.iter().map(|r| &r["orderNumber"]).collect();
    assert_eq!(numbers, expected);
}
