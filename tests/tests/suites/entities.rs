// Declared entities: the behaviours every store must show, included by
// `entities.rs` (SQLite) and `entities_postgres.rs` (PostgreSQL). The
// including file defines `Db`, `db()`, `db_with(extra)`, `repoint(db,
// dir)` (the same database, another schema directory) and
// `assert_indexed(db, entity, field, filter)`.

fn exec(db: &Db, tenant: &str, node_type: &str, params: Value) -> NodeExecution {
    run_with(db, tenant, Value::Null, node_type, params)
}

/// Runs a node for `tenant` as `user` (`null`: a system run).
fn run_with(db: &Db, tenant: &str, user: Value, node_type: &str, params: Value) -> NodeExecution {
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        user,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(
        db.registry
            .execute(&NodeCall::new(node_type, "n", &params).context(&context)),
    )
}

fn ok(db: &Db, tenant: &str, node_type: &str, params: Value) -> Value {
    let done = exec(db, tenant, node_type, params);
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    done.output
}

fn failure(done: &NodeExecution) -> (ErrorCode, String) {
    let error = done.error.as_ref().expect("a failure");
    (error.code, error.message.clone())
}

fn create(db: &Db, tenant: &str, entity: &str, data: Value) -> NodeExecution {
    exec(
        db,
        tenant,
        "dbal-write",
        json!({"operation": "create", "entity": entity, "data": data}),
    )
}

fn count(db: &Db, tenant: &str, entity: &str) -> i64 {
    ok(
        db,
        tenant,
        "dbal-read",
        json!({"operation": "count", "entity": entity}),
    )["count"]
        .as_i64()
        .unwrap()
}

fn ada() -> Value {
    json!({"username": "ada", "email": "ada@example.com"})
}

/// Points `db` at a new schema directory holding `schema` as `file`.
fn evolve(db: &Db, file: &str, schema: &str) {
    let dir = db
        .entities
        .parent()
        .unwrap()
        .join(format!("entities-{file}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), schema).unwrap();
    repoint(db, &dir);
}

/// A widget with a colour stored, then the colour removed from the schema.
fn widget_then_colour_removed(db: &Db) {
    evolve(
        db,
        "widget.json",
        r#"{"entity": "widget", "fields": {"name": {"type": "string"}, "colour": {"type": "string"}}}"#,
    );
    let created = create(db, "acme", "widget", json!({"name": "w1", "colour": "red"}));
    assert_eq!(created.status, NodeStatus::Success, "{created:?}");
    evolve(db, "widget-v2.json", WIDGET_V1);
}

const WIDGET_V1: &str =
    r#"{"entity": "widget", "fields": {"name": {"type": "string", "required": true}}}"#;

fn exec_as(db: &Db, user: Value, node_type: &str, params: Value) -> NodeExecution {
    run_with(db, "acme", user, node_type, params)
}

fn ok_as(db: &Db, user: Value, node_type: &str, params: Value) -> Value {
    let done = exec_as(db, user, node_type, params);
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    done.output
}

/// Two users of tenant `acme`, created by a system run; their ids.
fn two_users(db: &Db) -> (String, String) {
    let ids: Vec<String> = ["ada", "bob"]
        .iter()
        .map(|name| {
            let out = ok(
                db,
                "acme",
                "dbal-write",
                json!({"operation": "create", "entity": "user",
                "data": {"username": name, "email": format!("{name}@example.com")}}),
            );
            out["id"].as_str().unwrap().to_owned()
        })
        .collect();
    (ids[0].clone(), ids[1].clone())
}

#[test]
fn a_declared_record_is_stored_typed_with_defaults_and_generated_values() {
    let db = db();
    let created = create(&db, "acme", "user", ada());
    assert_eq!(created.status, NodeStatus::Success, "{created:?}");
    let read = ok(&db, "acme", "dbal-read", json!({"entity": "user"}));
    let user = &read["records"][0];
    assert_eq!(user["username"], "ada");
    assert_eq!(user["role"], "user", "the default");
    assert_eq!(user["isInstanceOwner"], false, "a boolean, not 0");
    assert!(
        user["createdAt"].as_i64().unwrap() > 1_700_000_000_000,
        "{user}"
    );
    assert_eq!(user["id"].as_str().unwrap().len(), 36, "a generated UUID");
    assert_eq!(user["tenantId"], "acme");
}

#[test]
fn a_missing_required_field_names_the_record_and_field_and_nothing_is_written() {
    let db = db();
    let done = create(&db, "acme", "user", json!([ada(), {"username": "bob"}]));
    let (code, message) = failure(&done);
    assert_eq!(code, ErrorCode::ValidationFailed);
    assert!(message.contains("data/1/email: is required"), "{message}");
    assert_eq!(
        count(&db, "acme", "user"),
        0,
        "the valid record was not written either"
    );
}

#[test]
fn every_violation_of_a_record_is_named() {
    let db = db();
    let done = create(
        &db,
        "acme",
        "user",
        json!({"username": "a!", "email": "not-an-email", "role": "root"}),
    );
    let (code, message) = failure(&done);
    assert_eq!(code, ErrorCode::ValidationFailed);
    for expected in ["data/0/username", "data/0/email", "data/0/role"] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}

#[test]
fn an_undeclared_field_is_refused() {
    let db = db();
    let mut record = ada();
    record["nickname"] = json!("countess");
    let (code, message) = failure(&create(&db, "acme", "user", record));
    assert_eq!(code, ErrorCode::ValidationFailed);
    assert!(
        message.contains("data/0/nickname: is not a field of entity `user`"),
        "{message}"
    );
}

#[test]
fn the_same_username_in_two_tenants_is_fine() {
    let db = db();
    assert_eq!(
        create(&db, "acme", "user", ada()).status,
        NodeStatus::Success
    );
    assert_eq!(
        create(&db, "globex", "user", ada()).status,
        NodeStatus::Success
    );
}

#[test]
fn a_duplicate_username_in_one_tenant_names_the_field_not_the_other_record() {
    let db = db();
    let first = ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "create", "entity": "user", "data": ada()}),
    );
    let again = json!({"username": "ada", "email": "other@example.com"});
    let (code, message) = failure(&create(&db, "acme", "user", again));
    assert_eq!(code, ErrorCode::ValidationFailed);
    assert!(message.contains("data/0/username"), "{message}");
    assert!(message.contains("unique"), "{message}");
    let first_id = first["id"].as_str().unwrap();
    assert!(
        !message.contains(first_id),
        "the other record's id leaked: {message}"
    );
    assert!(
        !message.contains("ada@example.com"),
        "the other record leaked: {message}"
    );
}

#[test]
fn a_duplicate_deep_in_a_bulk_create_names_its_record_and_writes_nothing() {
    let db = db();
    // Past the first multi-row INSERT: record 150 repeats record 3.
    let mut users: Vec<Value> = (0..200)
        .map(|i| json!({"username": format!("user{i}"), "email": format!("u{i}@example.com")}))
        .collect();
    users[150]["username"] = json!("user3");
    let (code, message) = failure(&create(&db, "acme", "user", Value::Array(users)));
    assert_eq!(code, ErrorCode::ValidationFailed);
    assert!(message.contains("data/150/username"), "{message}");
    assert_eq!(count(&db, "acme", "user"), 0);
}

/// `n` valid users (more than a create checks before it writes: a large
/// create is checked on a second thread while it is written).
fn many_users(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"username": format!("user{i}"), "email": format!("u{i}@example.com")}))
        .collect()
}

/// A create of 5,000 users for acme with `changes` made to them (record,
/// field, value), refused as `VALIDATION_FAILED`: its message, and how
/// many users acme has after it.
fn refused_large_create(changes: &[(usize, &str, Value)]) -> (String, i64) {
    let db = db();
    let mut users = many_users(5_000);
    for (record, field, value) in changes {
        users[*record][*field] = value.clone();
    }
    let (code, message) = failure(&create(&db, "acme", "user", Value::Array(users)));
    assert_eq!(code, ErrorCode::ValidationFailed, "{message}");
    (message, count(&db, "acme", "user"))
}

#[test]
fn a_large_create_writes_every_record_in_order() {
    let db = db();
    let created = ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "create", "entity": "user", "data": many_users(5_000)}),
    );
    assert_eq!(created["count"], 5_000);
    assert_eq!(created["records"][4_999]["username"], "user4999");
    assert_eq!(count(&db, "acme", "user"), 5_000);
}

#[test]
fn a_violation_late_in_a_large_create_is_named_and_nothing_is_written() {
    // The blocks before it were already written when it is found.
    let (message, left) = refused_large_create(&[(4_900, "email", json!("not-an-email"))]);
    assert!(message.contains("data/4900/email"), "{message}");
    assert_eq!(left, 0);
}

#[test]
fn every_violation_of_a_large_create_is_named() {
    let (message, _) = refused_large_create(&[
        (10, "email", json!("not-an-email")),
        (4_990, "username", json!("a!")),
    ]);
    for expected in ["data/10/email", "data/4990/username"] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}

#[test]
fn a_large_create_reports_its_violations_before_a_duplicate_it_met_first() {
    // As when every record is checked before any is written: the record
    // that fails its checks is reported, not the earlier duplicate.
    let (message, left) = refused_large_create(&[
        (100, "username", json!("user3")),
        (4_000, "role", json!("root")),
    ]);
    assert!(message.contains("data/4000/role"), "{message}");
    assert!(!message.contains("data/100/"), "{message}");
    assert_eq!(left, 0);
}

#[test]
fn a_duplicate_deep_in_a_large_create_names_its_record_and_writes_nothing() {
    let (message, left) = refused_large_create(&[(4_500, "username", json!("user10"))]);
    assert!(message.contains("data/4500/username"), "{message}");
    assert_eq!(left, 0);
}

#[test]
fn a_composite_unique_index_allows_the_same_number_for_another_customer() {
    let db = db();
    let order =
        |customer: &str| json!({"orderNumber": "ORD-0001", "customerId": customer, "total": 10.5});
    assert_eq!(
        create(&db, "acme", "order", order("c1")).status,
        NodeStatus::Success
    );
    assert_eq!(
        create(&db, "acme", "order", order("c2")).status,
        NodeStatus::Success
    );
    let (code, message) = failure(&create(&db, "acme", "order", order("c1")));
    assert_eq!(code, ErrorCode::ValidationFailed);
    assert!(message.contains("customerId, orderNumber"), "{message}");
}

#[test]
fn ranges_patterns_and_enums_of_an_order_are_checked() {
    let db = db();
    let done = create(
        &db,
        "acme",
        "order",
        json!({"orderNumber": "42", "customerId": "c1", "total": -1, "quantity": 0, "status": "lost"}),
    );
    let (_, message) = failure(&done);
    for expected in [
        "data/0/orderNumber",
        "data/0/total",
        "data/0/quantity",
        "data/0/status",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}

#[test]
fn a_filter_on_a_field_the_entity_does_not_declare_is_refused() {
    let db = db();
    let done = exec(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "user", "filter": {"nickname": "x"}}),
    );
    let (code, message) = failure(&done);
    assert_eq!(code, ErrorCode::InvalidParameters);
    assert!(
        message.contains("entity `user` has no field `nickname`"),
        "{message}"
    );
}

#[test]
fn filters_sorts_and_aggregates_read_typed_columns() {
    let db = db();
    let orders: Vec<Value> = (0..5)
        .map(|i| json!({"orderNumber": format!("ORD-000{i}"), "customerId": if i < 3 { "c1" } else { "c2" }, "total": f64::from(i) * 10.0, "status": if i % 2 == 0 { "paid" } else { "pending" }}))
        .collect();
    assert_eq!(
        create(&db, "acme", "order", json!(orders)).status,
        NodeStatus::Success
    );
    let paid = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "order", "filter": {"status": "paid", "total": {"$gte": 10}}, "sort": "-total"}),
    );
    let totals: Vec<f64> = paid["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["total"].as_f64().unwrap())
        .collect();
    assert_eq!(totals, vec![40.0, 20.0]);
    let sums = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"operation": "aggregate", "entity": "order", "function": "sum", "field": "total", "groupBy": "customerId"}),
    );
    assert_eq!(
        sums["groups"],
        json!([{"key": "c1", "value": 30}, {"key": "c2", "value": 70}])
    );
}

#[test]
fn update_checks_the_data_it_sets() {
    let db = db();
    let user = ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "create", "entity": "user", "data": ada()}),
    );
    let id = user["id"].clone();
    let bad = exec(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "update", "entity": "user", "id": id, "data": {"role": "root"}}),
    );
    assert_eq!(failure(&bad).0, ErrorCode::ValidationFailed);
    ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "update", "entity": "user", "id": id, "data": {"role": "admin"}}),
    );
    let read = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"operation": "get", "entity": "user", "id": id}),
    );
    assert_eq!(read["record"]["role"], "admin");
}

#[test]
fn upsert_creates_then_updates_a_declared_record() {
    let db = db();
    let id = "7f0c7d0e-0000-4000-8000-000000000001";
    let first = ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "upsert", "entity": "user", "id": id, "data": ada()}),
    );
    assert_eq!(first["role"], "user");
    let second = ok(
        &db,
        "acme",
        "dbal-write",
        json!({"operation": "upsert", "entity": "user", "id": id, "data": {"bio": "mathematician"}}),
    );
    assert_eq!(second["bio"], "mathematician");
    assert_eq!(second["username"], "ada");
    assert_eq!(count(&db, "acme", "user"), 1);
}

#[test]
fn an_undeclared_entity_keeps_its_schemaless_behaviour() {
    let db = db();
    let done = create(
        &db,
        "acme",
        "note",
        json!({"anything": [1, 2], "goes": true}),
    );
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
    let read = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "note", "filter": {"goes": true}}),
    );
    assert_eq!(read["count"], 1);
}

#[test]
fn a_field_and_an_index_added_to_a_schema_are_migrated_in_place() {
    let db = db();
    evolve(&db, "widget.json", WIDGET_V1);
    assert_eq!(
        create(&db, "acme", "widget", json!({"name": "w1"})).status,
        NodeStatus::Success
    );
    evolve(
        &db,
        "widget-v2.json",
        r#"{"entity": "widget", "fields": {"name": {"type": "string", "required": true}, "size": {"type": "integer", "index": true, "default": 3}}}"#,
    );
    let read = ok(&db, "acme", "dbal-read", json!({"entity": "widget"}));
    assert_eq!(read["records"][0]["name"], "w1", "kept");
    assert_eq!(read["records"][0]["size"], 3, "the new field's default");
    assert_eq!(
        create(&db, "acme", "widget", json!({"name": "w2", "size": 9})).status,
        NodeStatus::Success
    );
    assert_indexed(&db, "widget", "size", json!({"size": 9}));
}

#[test]
fn a_field_removed_from_a_schema_is_refused_with_an_explanation() {
    let db = db();
    widget_then_colour_removed(&db);
    let done = exec(&db, "acme", "dbal-read", json!({"entity": "widget"}));
    let (_, message) = failure(&done);
    assert!(
        message.contains("changed destructively: field `colour` is no longer declared"),
        "{message}"
    );
}

#[test]
fn acl_a_user_sees_only_their_own_record_in_every_read_operation() {
    let db = db();
    let (ada, bob) = two_users(&db);
    let as_ada = json!({"id": ada, "role": "user"});
    let read = ok_as(&db, as_ada.clone(), "dbal-read", json!({"entity": "user"}));
    assert_eq!(read["count"], 1);
    assert_eq!(read["records"][0]["username"], "ada");
    let got = ok_as(
        &db,
        as_ada.clone(),
        "dbal-read",
        json!({"operation": "get", "entity": "user", "id": bob}),
    );
    assert_eq!(
        got["record"],
        Value::Null,
        "bob's record is invisible, not forbidden"
    );
    let counted = ok_as(
        &db,
        as_ada.clone(),
        "dbal-read",
        json!({"operation": "count", "entity": "user"}),
    );
    assert_eq!(counted["count"], 1);
    let aggregated = ok_as(
        &db,
        as_ada,
        "dbal-read",
        json!({"operation": "aggregate", "entity": "user", "function": "count"}),
    );
    assert_eq!(aggregated["value"], 1);
}

#[test]
fn acl_an_admin_sees_every_record() {
    let db = db();
    two_users(&db);
    let counted = ok_as(
        &db,
        json!({"id": "root", "role": "admin"}),
        "dbal-read",
        json!({"operation": "count", "entity": "user"}),
    );
    assert_eq!(counted["count"], 2);
}

#[test]
fn acl_a_higher_role_is_admitted_by_a_lower_key() {
    let db = db();
    two_users(&db);
    let counted = ok_as(
        &db,
        json!({"id": "g", "roles": ["god"]}),
        "dbal-read",
        json!({"operation": "count", "entity": "user"}),
    );
    assert_eq!(counted["count"], 2);
}

#[test]
fn acl_delete_without_the_role_is_access_denied() {
    let db = db();
    let (ada, _) = two_users(&db);
    let done = exec_as(
        &db,
        json!({"id": ada, "role": "user"}),
        "dbal-write",
        json!({"operation": "delete", "entity": "user", "id": ada}),
    );
    assert_eq!(failure(&done).0, ErrorCode::AccessDenied);
    assert_eq!(count(&db, "acme", "user"), 2);
}

#[test]
fn acl_an_update_under_self_touches_only_the_users_own_record() {
    let db = db();
    let (ada, _) = two_users(&db);
    let out = ok_as(
        &db,
        json!({"id": ada, "role": "user"}),
        "dbal-write",
        json!({"operation": "update", "entity": "user", "filter": {}, "data": {"bio": "mine"}}),
    );
    assert_eq!(out["count"], 1);
    let bios = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "user", "filter": {"bio": "mine"}}),
    );
    assert_eq!(bios["count"], 1);
}

#[test]
fn acl_a_public_create_is_open_to_an_anonymous_user() {
    let db = db();
    let done = exec_as(
        &db,
        json!({"role": "public"}),
        "dbal-write",
        json!({"operation": "create", "entity": "user", "data": ada()}),
    );
    assert_eq!(done.status, NodeStatus::Success, "{done:?}");
}

#[test]
fn acl_row_level_names_the_owner_field() {
    let db = db();
    for (customer, number) in [("c1", "ORD-0001"), ("c2", "ORD-0002")] {
        ok(
            &db,
            "acme",
            "dbal-write",
            json!({"operation": "create", "entity": "order",
            "data": {"orderNumber": number, "customerId": customer, "total": 1}}),
        );
    }
    let mine = ok_as(
        &db,
        json!({"id": "c1", "role": "user"}),
        "dbal-read",
        json!({"entity": "order"}),
    );
    assert_eq!(mine["count"], 1);
    assert_eq!(mine["records"][0]["customerId"], "c1");
}

#[test]
fn schemaless_records_move_into_the_columns_when_their_entity_gains_a_schema() {
    let db = db();
    for name in ["w1", "w2"] {
        assert_eq!(
            create(&db, "acme", "widget", json!({"name": name})).status,
            NodeStatus::Success
        );
    }
    assert_eq!(
        create(&db, "globex", "widget", json!({"name": "theirs"})).status,
        NodeStatus::Success
    );
    evolve(&db, "widget.json", WIDGET_V1);
    let read = ok(
        &db,
        "acme",
        "dbal-read",
        json!({"entity": "widget", "sort": "name"}),
    );
    let names: Vec<&str> = read["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w1", "w2"]);
    assert_eq!(
        count(&db, "globex", "widget"),
        1,
        "each tenant's records moved, still its own"
    );
}
