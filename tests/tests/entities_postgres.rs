//! Declared entities on PostgreSQL: the SQLite suite's behaviours
//! (`entities.rs`) against typed columns in a database of the test's own —
//! checks on write, per-tenant uniqueness that never names the other
//! record, typed filters, sorts and aggregates, additive migrations, and
//! the schemas' `acl` — under row-level security.

use std::path::{Path, PathBuf};

use plugin_abi::request::ExecContext;
use registry_core::{ErrorCode, NodeCall, NodeExecution, NodeStatus, Registry};
use serde_json::{json, Value};

struct Db {
    registry: Registry,
    entities: PathBuf,
    _dir: tempfile::TempDir,
    _postgres: plugflow_tests::pg::TestDatabase,
}

/// A registry with the dbal linked, a fresh PostgreSQL database, and a
/// copy of the test schemas (with `extra` files written beside them).
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
    let postgres = plugflow_tests::pg::TestDatabase::create();
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
    point_at(&registry, postgres.url(), &entities);
    Db {
        registry,
        entities,
        _dir: dir,
        _postgres: postgres,
    }
}

fn db() -> Db {
    db_with(&[])
}

fn point_at(registry: &Registry, url: &str, entities: &Path) {
    let mut config = serde_json::Map::new();
    config.insert("databaseUrl".into(), json!(url));
    config.insert("entities".into(), json!(entities));
    for node_type in plugflow_tests::host::plugflow_dbal_node_types() {
        registry.set_node_config(node_type, config.clone());
    }
}

/// Points `db` at another schema directory, the same database.
fn repoint(db: &Db, entities: &Path) {
    point_at(&db.registry, db._postgres.url(), entities);
}

/// `entity`'s table has an index on `field`, led by the tenant (the
/// filter is what a lookup would ask; PostgreSQL's plan for a few rows is
/// a scan whatever the indexes, so the catalogue is what is checked).
fn assert_indexed(db: &Db, entity: &str, field: &str, _filter: Value) {
    let indexed: i64 = db
        ._postgres
        .client()
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE $2",
            &[
                &format!("d_{entity}"),
                &format!("%(\"tenantId\", {field})%"),
            ],
        )
        .unwrap()
        .get(0);
    assert_eq!(indexed, 1, "an index on `{field}` led by the tenant");
}

include!("suites/entities.rs");

#[test]
fn a_declared_table_is_under_the_same_row_level_policy() {
    let db = db();
    assert_eq!(
        create(&db, "acme", "user", ada()).status,
        NodeStatus::Success
    );
    let mut client = db._postgres.client();
    let forced: bool = client
        .query_one(
            "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'd_user'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(forced);
    let mut tx = client.transaction().unwrap();
    tx.execute("SELECT set_config('plugflow.tenant', 'globex', true)", &[])
        .unwrap();
    tx.batch_execute("SET LOCAL ROLE plugflow_dbal").unwrap();
    let seen: i64 = tx
        .query_one("SELECT count(*) FROM d_user", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        seen, 0,
        "another tenant's statement sees none of acme's rows"
    );
}
