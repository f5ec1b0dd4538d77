//! Adversarial tenants through the whole stack: two tenants share one
//! SQLite database and one registry; generated dbal reads and writes by the
//! attacker try every way to reach the victim's rows (`$or` with the
//! victim's id, nested `$not`, explicit `tenantId` in filters and written
//! data, update and delete by the victim's record ids, field names with SQL
//! metacharacters, JSON paths with quotes). After every case the victim's
//! rows are unchanged and were never returned.
//!
//! The suite runs four times: against an undeclared entity (JSON
//! documents) and the same entity declared by a schema (typed columns), on
//! SQLite and on PostgreSQL, where row-level security stands behind the SQL
//! builder.
//!
//! 10,000 cases by default; `PROPTEST_CASES=1000000` for a long run.

use plugin_abi::request::ExecContext;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use registry_core::{NodeCall, NodeStatus, Registry};
use serde_json::{json, Map, Value};

const ATTACKER: &str = "alpha";
const VICTIM: &str = "victim";
const MARK: &str = "VICTIM-SECRET";
const IDS: [&str; 4] = ["v1", "v2", "v3", "shared"];

const HOSTILE_FIELDS: [&str; 10] = [
    "a\"; DROP TABLE e_Doc; --",
    "x') OR ('1'='1",
    "tenantId\" OR 1=1 --",
    "data->>'$.tenantId'",
    "$.tenantId",
    "meta.\"tenantId\"",
    "meta['tenantId']",
    "id`",
    "secret/*",
    "'",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"tenantId": VICTIM})),
        Just(json!({"tenantId": {"$ne": ATTACKER}})),
        Just(json!({"tenantId": {"$in": [VICTIM, ATTACKER]}})),
        Just(json!({"tenantId": {"$nin": [ATTACKER]}})),
        Just(json!({"id": {"$exists": true}})),
        Just(json!({})),
        prop::sample::select(&IDS[..]).prop_map(|id| json!({"id": id})),
        (0..4usize).prop_map(|n| json!({"secret": format!("{MARK}-{n}")})),
        (
            prop::sample::select(&HOSTILE_FIELDS[..]),
            prop_oneof![Just(json!(VICTIM)), Just(json!(1)), Just(json!(null))]
        )
            .prop_map(|(field, value)| {
                let mut m = Map::new();
                m.insert(field.to_owned(), value);
                Value::Object(m)
            }),
    ]
}

fn filter() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(|fs| json!({"$or": fs})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|fs| json!({"$and": fs})),
            inner.prop_map(|f| json!({"$not": f})),
        ]
    })
}

/// One attack: (node type, parameters).
fn attack() -> impl Strategy<Value = (&'static str, Value)> {
    let id = prop::sample::select(&IDS[..]);
    prop_oneof![
        filter().prop_map(|f| ("dbal-read", json!({"entity": "Doc", "filter": f}))),
        filter().prop_map(|f| ("dbal-read", json!({"entity": "Doc", "operation": "count", "filter": f}))),
        filter().prop_map(|f| ("dbal-read", json!({"entity": "Doc", "operation": "aggregate", "function": "sum", "field": "n", "groupBy": "secret", "filter": f}))),
        id.clone().prop_map(|id| ("dbal-read", json!({"entity": "Doc", "operation": "get", "id": id}))),
        filter().prop_map(|f| ("dbal-write", json!({"entity": "Doc", "operation": "update", "filter": f,
                                                   "data": {"secret": "pwned", "tenantId": VICTIM}}))),
        id.clone().prop_map(|id| ("dbal-write", json!({"entity": "Doc", "operation": "update", "id": id,
                                                      "data": {"secret": "pwned", "n": 0}}))),
        filter().prop_map(|f| ("dbal-write", json!({"entity": "Doc", "operation": "delete", "filter": f}))),
        id.clone().prop_map(|id| ("dbal-write", json!({"entity": "Doc", "operation": "delete", "id": id}))),
        id.prop_map(|id| ("dbal-write", json!({"entity": "Doc", "data": {"id": id, "tenantId": VICTIM, "secret": "planted", "n": 1}}))),
    ]
}

fn context(tenant: &str) -> ExecContext {
    ExecContext {
        tenant_id: Some(tenant.into()),
        execution_id: "attack".into(),
        ..Default::default()
    }
}

async fn exec(
    registry: &Registry,
    tenant: &str,
    node_type: &str,
    params: &Value,
) -> registry_core::NodeExecution {
    let context = context(tenant);
    registry
        .execute(&NodeCall::new(node_type, "n", params).context(&context))
        .await
}

/// The victim's rows as the victim sees them, in id order.
async fn victim_rows(registry: &Registry) -> Value {
    let done = exec(
        registry,
        VICTIM,
        "dbal-read",
        &json!({"entity": "Doc", "sort": "id"}),
    )
    .await;
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    done.output["records"].clone()
}

/// `Doc` as a declared entity: the fields the attacks write and read.
const DOC_SCHEMA: &str = r#"{"entity": "Doc", "fields": {
    "secret": {"type": "string"}, "n": {"type": "integer"}}}"#;

#[test]
fn no_generated_attack_ever_reads_or_changes_the_other_tenants_rows() {
    attack_suite(false);
}

#[test]
fn no_generated_attack_on_a_declared_entity_reads_or_changes_the_other_tenants_rows() {
    attack_suite(true);
}

#[test]
fn no_generated_attack_on_postgresql_reads_or_changes_the_other_tenants_rows() {
    let db = plugflow_tests::pg::TestDatabase::create();
    attack_suite_on(false, Some(db.url()));
}

#[test]
fn no_generated_attack_on_a_declared_entity_on_postgresql_reads_or_changes_the_other_tenants_rows()
{
    let db = plugflow_tests::pg::TestDatabase::create();
    attack_suite_on(true, Some(db.url()));
}

fn attack_suite(declared: bool) {
    attack_suite_on(declared, None);
}

fn attack_suite_on(declared: bool, url: Option<&str>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
    let mut config = Map::new();
    match url {
        Some(url) => config.insert("databaseUrl".into(), json!(url)),
        None => config.insert("database".into(), json!(data.path().join("shared.db"))),
    };
    if declared {
        let entities = data.path().join("entities");
        std::fs::create_dir(&entities).unwrap();
        std::fs::write(entities.join("doc.json"), DOC_SCHEMA).unwrap();
        config.insert("entities".into(), json!(entities));
    }
    for node_type in plugflow_tests::host::plugflow_dbal_node_types() {
        registry.set_node_config(node_type, config.clone());
    }

    let seed = |tenant: &str, secret: &str| {
        let rows: Vec<Value> = IDS
            .iter()
            .enumerate()
            .map(|(n, id)| json!({"id": id, "secret": format!("{secret}-{n}"), "n": n}))
            .collect();
        let done = runtime.block_on(exec(
            &registry,
            tenant,
            "dbal-write",
            &json!({"entity": "Doc", "data": rows}),
        ));
        assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    };
    seed(VICTIM, MARK);
    seed(ATTACKER, "alpha-own");
    let before = runtime.block_on(victim_rows(&registry));
    assert_eq!(before.as_array().map(Vec::len), Some(IDS.len()));

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let result = runner.run(&attack(), |(node_type, params)| {
        let done = runtime.block_on(exec(&registry, ATTACKER, node_type, &params));
        let seen = serde_json::to_string(&done).unwrap_or_default();
        prop_assert!(
            !seen.contains(MARK),
            "{node_type} {params} returned the victim's data: {seen}"
        );
        let after = runtime.block_on(victim_rows(&registry));
        prop_assert_eq!(
            &after,
            &before,
            "{} {} changed the victim's rows",
            node_type,
            params
        );
        *outcomes
            .borrow_mut()
            .entry(format!("{node_type} {}", done.status.as_str()))
            .or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The suite is not vacuous: attacks ran, most of them successfully
    // (scoped to the attacker), some refused as bad input.
    let outcomes = outcomes.into_inner();
    eprintln!("tenant attacks by outcome: {outcomes:?}");
    let ran: u32 = outcomes.values().sum();
    assert_eq!(ran, cases);
    assert!(
        outcomes.get("dbal-read success").copied().unwrap_or(0) > cases / 10,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("dbal-write success").copied().unwrap_or(0) > cases / 10,
        "{outcomes:?}"
    );
}
