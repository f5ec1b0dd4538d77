//! The dbal on PostgreSQL: row-level security stands behind the SQL
//! builder. Each test seeds two tenants through the dbal, then goes around
//! it — statements with no tenant predicate at all, run the way every dbal
//! call runs (tenant set for the transaction, the `plugflow_dbal` role) —
//! and sees only the one tenant's rows.

use plugin_abi::request::ExecContext;
use registry_core::{NodeCall, NodeStatus, Registry};
use serde_json::{json, Value};

struct Setup {
    registry: Registry,
    db: plugflow_tests::pg::TestDatabase,
}

fn setup() -> Setup {
    let registry = Registry::new();
    loader::register_static_plugin(&registry, plugflow_dbal::plugflow_module()).unwrap();
    let db = plugflow_tests::pg::TestDatabase::create();
    plugflow_tests::host::set_database_url(&registry, db.url());
    Setup { registry, db }
}

fn exec(
    setup: &Setup,
    tenant: &str,
    node_type: &str,
    params: Value,
) -> registry_core::NodeExecution {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let context = ExecContext {
        tenant_id: Some(tenant.into()),
        execution_id: "e".into(),
        ..Default::default()
    };
    runtime.block_on(
        setup
            .registry
            .execute(&NodeCall::new(node_type, "n", &params).context(&context)),
    )
}

/// Two tenants with three documents each.
fn seeded() -> Setup {
    let setup = setup();
    for tenant in ["alpha", "victim"] {
        let rows: Vec<Value> = (0..3)
            .map(|i| json!({"id": format!("d{i}"), "owner": tenant}))
            .collect();
        let done = exec(
            &setup,
            tenant,
            "dbal-write",
            json!({"entity": "Doc", "data": rows}),
        );
        assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    }
    setup
}

/// Runs `statement` as a dbal call of `tenant` would: in a transaction
/// with the tenant set locally, as the role `plugflow_dbal`.
fn as_dbal(
    setup: &Setup,
    tenant: &str,
    statement: &str,
) -> Result<Vec<postgres::Row>, postgres::Error> {
    let mut client = setup.db.client();
    let mut tx = client.transaction()?;
    tx.execute("SELECT set_config('plugflow.tenant', $1, true)", &[&tenant])?;
    tx.batch_execute("SET LOCAL ROLE plugflow_dbal")?;
    let rows = tx.query(statement, &[])?;
    tx.commit()?;
    Ok(rows)
}

#[test]
fn a_statement_without_a_tenant_predicate_reads_only_its_tenants_rows() {
    let setup = seeded();
    let rows = as_dbal(
        &setup,
        "alpha",
        "SELECT DISTINCT \"tenantId\" FROM \"t_Doc\"",
    )
    .unwrap();
    let tenants: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(tenants, ["alpha"]);
}

#[test]
fn an_update_without_a_tenant_predicate_changes_only_its_tenants_rows() {
    let setup = seeded();
    as_dbal(
        &setup,
        "alpha",
        "UPDATE \"t_Doc\" SET data = '{\"owner\": \"overwritten\"}' RETURNING id",
    )
    .unwrap();
    let victim = exec(&setup, "victim", "dbal-read", json!({"entity": "Doc"}));
    for record in victim.output["records"].as_array().unwrap() {
        assert_eq!(record["owner"], "victim", "{record}");
    }
}

#[test]
fn an_insert_of_another_tenants_row_is_refused_by_the_policy() {
    let setup = seeded();
    let refused = as_dbal(
        &setup,
        "alpha",
        "INSERT INTO \"t_Doc\" (id, \"tenantId\", data, \"createdAt\", \"updatedAt\") VALUES ('x', 'victim', '{}', '', '')",
    )
    .unwrap_err();
    let message = refused
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("row-level security"), "{message}");
}

#[test]
fn without_a_tenant_setting_the_dbal_role_sees_no_rows() {
    let setup = seeded();
    let mut client = setup.db.client();
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("SET LOCAL ROLE plugflow_dbal").unwrap();
    let count: i64 = tx
        .query_one("SELECT count(*) FROM \"t_Doc\"", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[test]
fn the_dbal_role_cannot_bypass_row_level_security_and_owns_no_table() {
    let setup = seeded();
    let mut client = setup.db.client();
    let role = client
        .query_one(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'plugflow_dbal'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (
            role.get::<_, bool>(0),
            role.get::<_, bool>(1),
            role.get::<_, bool>(2)
        ),
        (false, false, false)
    );
    let owned: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tableowner = 'plugflow_dbal'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owned, 0);
    let forced: bool = client
        .query_one(
            "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 't_Doc'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(forced);
}

#[test]
fn an_entity_name_postgresql_would_cut_is_refused() {
    let setup = setup();
    let long = "E".repeat(62);
    let done = exec(&setup, "alpha", "dbal-read", json!({"entity": long}));
    assert_eq!(done.status, NodeStatus::Error);
    assert!(
        done.error
            .is_some_and(|e| e.message.contains("61 characters")),
        "the name is refused, not cut"
    );
}
