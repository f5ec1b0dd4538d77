//! dbal-read / dbal-write through the registry pipeline (strict tenant
//! isolation), with two tenants sharing one SQLite file, once through the
//! `.so` and once statically linked.

use loader::{DiscoveryConfig, Loader};
use plugflow_tests::install;
use plugin_abi::request::ExecContext;
use registry_core::{
    ErrorCode, ExecState, ExecStatus, NodeExecution, NodeInvocation, RecoveryStrategy, Registry,
};
use serde_json::{json, Map, Value};

struct Db {
    registry: Registry,
    _dirs: Vec<tempfile::TempDir>,
}

fn setups() -> Vec<(&'static str, Db)> {
    let mut out = Vec::new();
    for label in ["dynamic", "static"] {
        let data = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let mut dirs = vec![];
        if label == "dynamic" {
            let plugins = tempfile::tempdir().unwrap();
            install(plugins.path(), &["plugflow_dbal"]);
            let report = Loader::new(DiscoveryConfig::with_directories([plugins.path()]))
                .discover(&registry);
            assert_eq!(report.totals.loaded, 1, "{report:#?}");
            dirs.push(plugins);
        } else {
            loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
        }
        plugflow_tests::set_database(&registry, &data.path().join("shared.db"));
        dirs.push(data);
        out.push((
            label,
            Db {
                registry,
                _dirs: dirs,
            },
        ));
    }
    out
}

async fn exec(db: &Db, tenant: &str, node_type: &str, params: Value) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        execution_id: "e".into(),
        ..Default::default()
    };
    let variables = Map::new();
    let state = ExecState::new(&Value::Null, &variables);
    db.registry
        .execute(
            node_type,
            &NodeInvocation::new("n", &params),
            &context,
            &state,
            &RecoveryStrategy::Fail,
        )
        .await
}

async fn ok(db: &Db, tenant: &str, node_type: &str, params: Value) -> Value {
    let done = exec(db, tenant, node_type, params.clone()).await;
    assert_eq!(
        done.status,
        ExecStatus::Success,
        "{node_type} {params}: {:?}",
        done.error
    );
    done.output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_sort_limit_count_and_aggregate() {
    for (label, db) in setups() {
        let created = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Order", "data": [
            {"id": "o1", "item": "apple", "qty": 3, "price": 1.5},
            {"id": "o2", "item": "pear", "qty": 1, "price": 2.0},
            {"id": "o3", "item": "apple", "qty": 7, "price": 1.5}]}),
        )
        .await;
        assert_eq!(created["count"], 3, "{label}");
        assert_eq!(created["records"][0]["tenantId"], "a");

        let read = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Order", "filter": {"item": "apple"}, "sort": "-qty"}),
        )
        .await;
        let ids: Vec<&str> = read["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["o3", "o1"], "{label}");
        let page = ok(&db, "a", "dbal-read", json!({"entity": "Order", "sort": [{"field": "qty", "order": "asc"}], "limit": 1, "offset": 1})).await;
        assert_eq!(page["records"][0]["id"], "o1");
        let got = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Order", "operation": "get", "id": "o2"}),
        )
        .await;
        assert_eq!(got["record"]["item"], "pear");
        let count = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Order", "operation": "count", "filter": {"qty": {"$gte": 3}}}),
        )
        .await;
        assert_eq!(count["count"], 2);
        let sum = ok(&db, "a", "dbal-read", json!({"entity": "Order", "operation": "aggregate", "function": "sum", "field": "qty", "groupBy": "item"})).await;
        assert_eq!(
            sum["groups"],
            json!([{"key": "apple", "value": 10}, {"key": "pear", "value": 1}])
        );

        let updated = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Order", "operation": "update", "id": "o1", "data": {"qty": 4}}),
        )
        .await;
        assert_eq!(updated["count"], 1);
        let upserted = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Order", "operation": "upsert", "data": {"id": "o9", "item": "fig"}}),
        )
        .await;
        assert_eq!(upserted["record"]["item"], "fig");
        let deleted = ok(&db, "a", "dbal-write", json!({"entity": "Order", "operation": "delete", "filter": {"item": {"$in": ["pear", "fig"]}}})).await;
        assert_eq!(deleted["count"], 2);
        let left = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Order", "operation": "count"}),
        )
        .await;
        assert_eq!(left["count"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tenant_ever_reads_or_touches_another_tenants_rows() {
    for (label, db) in setups() {
        ok(&db, "a", "dbal-write", json!({"entity": "Doc", "data": [{"id": "a1", "secret": "A"}, {"id": "shared", "secret": "A2"}]})).await;
        ok(&db, "b", "dbal-write", json!({"entity": "Doc", "data": [{"id": "b1", "secret": "B"}, {"id": "shared", "secret": "B2"}]})).await;
        let attacks = [
            json!({"entity": "Doc", "filter": {"$or": [{"tenantId": "b"}, {"secret": "B"}]}}),
            json!({"entity": "Doc", "filter": {"tenantId": "b"}}),
            json!({"entity": "Doc", "filter": {"$not": {"tenantId": "a"}}}),
            json!({"entity": "Doc", "filter": {"$or": [{"id": {"$exists": true}}, {"tenantId": {"$ne": "a"}}]}}),
            json!({"entity": "Doc", "operation": "get", "id": "b1"}),
        ];
        for attack in attacks {
            let out = ok(&db, "a", "dbal-read", attack.clone()).await;
            let text = out.to_string();
            assert!(
                !text.contains("\"B\"") && !text.contains("B2"),
                "{label}: {attack} leaked {text}"
            );
        }
        for op in ["count", "aggregate"] {
            let out = ok(&db, "a", "dbal-read", json!({"entity": "Doc", "operation": op, "filter": {"$or": [{"tenantId": "b"}, {}]}})).await;
            assert!(
                out.to_string().contains('2'),
                "{label}: tenant a has exactly 2 rows: {out}"
            );
        }
        // Writes by a cannot reach b's rows, even by id or explicit tenantId.
        let upd = ok(&db, "a", "dbal-write", json!({"entity": "Doc", "operation": "update", "id": "b1", "data": {"secret": "pwned"}})).await;
        assert_eq!(upd["count"], 0);
        let upd = ok(&db, "a", "dbal-write", json!({"entity": "Doc", "operation": "update", "filter": {"tenantId": "b"}, "data": {"secret": "pwned", "tenantId": "a"}})).await;
        assert_eq!(upd["count"], 0);
        let del = ok(&db, "a", "dbal-write", json!({"entity": "Doc", "operation": "delete", "filter": {"$or": [{"tenantId": "b"}, {"id": "b1"}]}})).await;
        assert_eq!(del["count"], 0);
        let created = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Doc", "data": {"id": "x", "tenantId": "b", "secret": "planted"}}),
        )
        .await;
        assert_eq!(
            created["records"][0]["tenantId"], "a",
            "written records take the context's tenant"
        );
        let b_rows = ok(
            &db,
            "b",
            "dbal-read",
            json!({"entity": "Doc", "sort": "id"}),
        )
        .await;
        assert_eq!(
            b_rows["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["secret"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["B", "B2"],
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_field_names_and_bad_parameters_are_clear_errors() {
    for (_, db) in setups() {
        for bad in [
            json!({"a\"; DROP TABLE e_Doc; --": 1}),
            json!({"x') OR ('1'='1": 1}),
            json!({"$where": "1=1"}),
        ] {
            let done = exec(
                &db,
                "a",
                "dbal-read",
                json!({"entity": "Doc", "filter": bad}),
            )
            .await;
            assert_eq!(
                done.error_code(),
                Some(ErrorCode::InvalidParameters),
                "{bad}"
            );
        }
        let done = exec(&db, "a", "dbal-read", json!({"entity": "Doc; DROP"})).await;
        assert_eq!(done.error_code(), Some(ErrorCode::InvalidParameters));
        assert!(done.error.unwrap().message.contains("entity"));
        let done = exec(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Doc", "limit": 20000}),
        )
        .await;
        assert_eq!(done.error_code(), Some(ErrorCode::ValidationFailed));
        // A failed multi-record write changes nothing.
        ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "T", "data": {"id": "dup"}}),
        )
        .await;
        let done = exec(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "T", "data": [{"id": "new1"}, {"id": "dup"}]}),
        )
        .await;
        assert_eq!(done.error_code(), Some(ErrorCode::InvalidParameters));
        let count = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "T", "operation": "count"}),
        )
        .await;
        assert_eq!(count["count"], 1, "the transaction rolled back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_the_input_against_metabuilder_rules() {
    for (_, db) in setups() {
        let rules = json!({"amount": "required|number|min:1|max:1000000", "email": "required|email", "code": "regex:^[A-Z]{2}-\\d+$"});
        let fine = ok(&db, "a", "dbal-read", json!({"entity": "X", "operation": "validate", "rules": rules, "input": {"amount": 5, "email": "a@b.io", "code": "AB-12"}})).await;
        assert_eq!(fine["amount"], 5);
        let done = exec(&db, "a", "dbal-read", json!({"entity": "X", "operation": "validate", "rules": rules, "input": {"amount": 0, "email": "nope", "code": "ab"}})).await;
        assert_eq!(done.error_code(), Some(ErrorCode::ValidationFailed));
        let error = done.error.unwrap();
        assert_eq!(
            error.details.unwrap()["errors"].as_array().unwrap().len(),
            3,
            "{}",
            error.message
        );
    }
}
