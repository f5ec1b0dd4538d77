//! dbal-read / dbal-write through the registry pipeline (strict tenant
//! isolation), with two tenants sharing one database: a SQLite file once
//! through the `.so` and once statically linked, and a PostgreSQL database
//! of the test's own — every test, the same answers.

use loader::{DiscoveryConfig, Loader};
use plugflow_tests::install;
use plugin_abi::request::ExecContext;
use registry_core::{ErrorCode, NodeCall, NodeExecution, NodeStatus, Registry};
use serde_json::{json, Value};

struct Db {
    registry: Registry,
    _dirs: Vec<tempfile::TempDir>,
    _postgres: Option<plugflow_tests::pg::TestDatabase>,
}

fn setups() -> Vec<(&'static str, Db)> {
    let mut out = Vec::new();
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
    let postgres = plugflow_tests::pg::TestDatabase::create();
    plugflow_tests::host::set_database_url(&registry, postgres.url());
    out.push((
        "postgresql",
        Db {
            registry,
            _dirs: Vec::new(),
            _postgres: Some(postgres),
        },
    ));
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
                _postgres: None,
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
    db.registry
        .execute(&NodeCall::new(node_type, "n", &params).context(&context))
        .await
}

async fn ok(db: &Db, tenant: &str, node_type: &str, params: Value) -> Value {
    let done = exec(db, tenant, node_type, params.clone()).await;
    assert_eq!(
        done.status,
        NodeStatus::Success,
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

/// Three records of `Item` for tenant `a`, created in the order written.
async fn items(db: &Db) {
    ok(
        db,
        "a",
        "dbal-write",
        json!({"entity": "Item", "data": [
            {"name": "pear", "price": 3, "kind": "fruit"},
            {"name": "apple", "price": 1, "kind": "fruit"},
            {"name": "kale", "price": 2, "kind": "leaf"}]}),
    )
    .await;
}

async fn names_sorted_by(db: &Db, sort: Value) -> Vec<String> {
    let out = ok(
        db,
        "a",
        "dbal-read",
        json!({"entity": "Item", "sort": sort}),
    )
    .await;
    out["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_accepts_metabuilder_direction_numbers() {
    for (label, db) in setups() {
        items(&db).await;
        assert_eq!(
            names_sorted_by(&db, json!({"price": -1})).await,
            ["pear", "kale", "apple"],
            "{label}"
        );
        assert_eq!(
            names_sorted_by(&db, json!({"price": 1})).await,
            ["apple", "kale", "pear"],
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_accepts_asc_and_desc_words_and_lists() {
    for (label, db) in setups() {
        items(&db).await;
        assert_eq!(
            names_sorted_by(&db, json!({"name": "desc"})).await,
            ["pear", "kale", "apple"],
            "{label}"
        );
        assert_eq!(
            names_sorted_by(&db, json!([{"kind": "asc"}, {"price": -1}])).await,
            ["pear", "apple", "kale"],
            "{label}"
        );
        assert_eq!(
            names_sorted_by(&db, json!("-price")).await,
            ["pear", "kale", "apple"],
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_sort_direction_is_invalid_parameters() {
    for (label, db) in setups() {
        let done = exec(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Item", "sort": {"price": "up"}}),
        )
        .await;
        assert_eq!(
            done.error_code(),
            Some(ErrorCode::InvalidParameters),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_of_one_record_outputs_it_with_its_id_at_the_top_level() {
    for (label, db) in setups() {
        let out = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Item", "data": {"name": "fig"}}),
        )
        .await;
        assert_eq!(out["name"], "fig", "{label}");
        assert!(
            out["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{label}: {out}"
        );
        assert_eq!(out["records"][0]["id"], out["id"]);
        assert_eq!(out["count"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_outputs_the_stored_record_at_the_top_level() {
    for (label, db) in setups() {
        let out = ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Item", "operation": "upsert", "data": {"id": "i1", "name": "fig"}}),
        )
        .await;
        assert_eq!(out["id"], "i1", "{label}");
        assert_eq!(out["name"], "fig");
        assert_eq!(out["record"]["name"], "fig");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_create_then_read_by_id_gives_the_record() {
    for (label, db) in setups() {
        let created = ok(&db, "a", "metabuilder.database", json!({"operation": "database_create", "entity": "ForumThread", "data": {"title": "Hi", "postCount": 1}})).await;
        let id = created["id"]
            .as_str()
            .expect("created record has an id")
            .to_owned();
        let read = ok(
            &db,
            "a",
            "metabuilder.database",
            json!({"operation": "database_read", "entity": "ForumThread", "filter": {"id": id}}),
        )
        .await;
        assert_eq!(
            read["title"], "Hi",
            "{label}: pinned by id, one record: {read}"
        );
        assert_eq!(read["postCount"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_read_without_an_id_gives_a_list() {
    for (label, db) in setups() {
        items(&db).await;
        let read = ok(&db, "a", "metabuilder.database", json!({"operation": "database_read", "entity": "Item", "where": {"kind": "fruit"}, "sort": {"price": 1}})).await;
        let names: Vec<&str> = read
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["apple", "pear"], "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_count_is_a_number() {
    for (label, db) in setups() {
        items(&db).await;
        let count = ok(
            &db,
            "a",
            "metabuilder.operation",
            json!({"operation": "database_count", "entity": "Item", "filter": {"kind": "fruit"}}),
        )
        .await;
        assert_eq!(count, json!(2), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_update_by_id_gives_the_updated_record() {
    for (label, db) in setups() {
        let created = ok(&db, "a", "metabuilder.database", json!({"operation": "database_create", "entity": "ForumThread", "data": {"postCount": 1}})).await;
        let updated = ok(&db, "a", "metabuilder.database", json!({"operation": "database_update", "entity": "ForumThread", "filter": {"id": created["id"]}, "data": {"postCount": 2}})).await;
        assert_eq!(updated["postCount"], 2, "{label}: {updated}");
        assert_eq!(updated["id"], created["id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_aggregate_names_each_aggregation() {
    for (label, db) in setups() {
        items(&db).await;
        let totals = ok(&db, "a", "metabuilder.database", json!({"operation": "database_aggregate", "entity": "Item", "aggregations": {"n": "count", "total": "sum(price)"}})).await;
        assert_eq!(totals, json!({"n": 3, "total": 6}), "{label}");
        let grouped = ok(&db, "a", "metabuilder.database", json!({"operation": "database_aggregate", "entity": "Item", "groupBy": "kind", "aggregations": {"n": "count"}})).await;
        assert_eq!(
            grouped,
            json!([{"kind": "fruit", "tenantId": "a", "n": 2}, {"kind": "leaf", "tenantId": "a", "n": 1}]),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_operation_refuses_operations_it_does_not_run() {
    for (label, db) in setups() {
        let done = exec(
            &db,
            "a",
            "metabuilder.operation",
            json!({"operation": "bcrypt_hash", "input": "pw"}),
        )
        .await;
        assert_eq!(
            done.error_code(),
            Some(ErrorCode::InvalidParameters),
            "{label}"
        );
        assert!(done.error.unwrap().message.contains("bcrypt_hash"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabuilder_database_never_reaches_another_tenants_rows() {
    for (label, db) in setups() {
        items(&db).await;
        let count = ok(
            &db,
            "b",
            "metabuilder.database",
            json!({"operation": "database_count", "entity": "Item", "filter": {"tenantId": "a"}}),
        )
        .await;
        assert_eq!(count, json!(0), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_named_like_another_entitys_index_breaks_nothing() {
    for (label, db) in setups() {
        // Under the old naming, `Invoice_tenant`'s table took the name of
        // `Invoice`'s index, and every later `Invoice` statement failed.
        ok(
            &db,
            "b",
            "dbal-write",
            json!({"entity": "Invoice_tenant", "data": {"x": 1}}),
        )
        .await;
        ok(
            &db,
            "a",
            "dbal-write",
            json!({"entity": "Invoice", "data": {"n": 1}}),
        )
        .await;
        let count = ok(
            &db,
            "a",
            "dbal-read",
            json!({"entity": "Invoice", "operation": "count"}),
        )
        .await;
        assert_eq!(count["count"], 1, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_an_entity_reveals_nothing_about_other_tenants_entities() {
    for (label, db) in setups() {
        // Whether or not another tenant used `Payroll`, reading
        // `Payroll_tenant` behaves the same: empty, no error.
        let before = exec(&db, "a", "dbal-read", json!({"entity": "Payroll_tenant"})).await;
        ok(
            &db,
            "b",
            "dbal-write",
            json!({"entity": "Payroll", "data": {"x": 1}}),
        )
        .await;
        let after = exec(&db, "a", "dbal-read", json!({"entity": "Payroll_tenant"})).await;
        assert_eq!(before.status, after.status, "{label}");
        assert_eq!(before.output, after.output, "{label}");
    }
}

async fn write_in(db: &Db, execution_id: &str, node_id: &str, resumable: bool) -> Value {
    let context = ExecContext {
        tenant_id: Some("a".into()),
        execution_id: execution_id.into(),
        resumable,
        ..Default::default()
    };
    let params = json!({"entity": "Payment", "data": {"amount": 5}});
    let done = db
        .registry
        .execute(&NodeCall::new("dbal-write", node_id, &params).context(&context))
        .await;
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    done.output
}

async fn payments(db: &Db) -> usize {
    ok(db, "a", "dbal-read", json!({"entity": "Payment"})).await["records"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_resumable_executions_write_runs_again_without_writing_twice() {
    for (label, db) in setups() {
        let first = write_in(&db, "exec-1", "pay", true).await;
        let again = write_in(&db, "exec-1", "pay", true).await;
        assert_eq!(
            first, again,
            "{label}: the second run answers the first's output"
        );
        assert_eq!(payments(&db).await, 1, "{label}");
    }
}

#[tokio::test]
async fn writes_of_other_nodes_or_executions_are_not_deduplicated() {
    for (label, db) in setups() {
        write_in(&db, "exec-1", "pay", true).await;
        write_in(&db, "exec-1", "pay-again", true).await;
        write_in(&db, "exec-2", "pay", true).await;
        assert_eq!(payments(&db).await, 3, "{label}");
    }
}

#[tokio::test]
async fn without_a_resumable_execution_every_write_writes() {
    for (label, db) in setups() {
        write_in(&db, "exec-1", "pay", false).await;
        write_in(&db, "exec-1", "pay", false).await;
        assert_eq!(payments(&db).await, 2, "{label}");
    }
}
