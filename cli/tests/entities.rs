//! Entity schemas from the configuration file: `[database] entities`
//! checked at start-up (a broken schema stops plugflow with the file,
//! entity and field named), and `plugflow db migrate` showing, then
//! making, the rebuild a removed field needs.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn plugflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugflow"))
        .current_dir(dir)
        .args(args)
        .args(["--config", "plugflow.toml", "--output", "json"])
        .env_remove("PLUGFLOW_CONFIG")
        .env_remove("PLUGFLOW_DB")
        .env("PLUGFLOW_PLUGIN_CACHE", "off")
        .output()
        .expect("plugflow runs")
}

fn setup(schema: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("entities")).unwrap();
    std::fs::write(dir.path().join("entities/widget.json"), schema).unwrap();
    std::fs::write(
        dir.path().join("plugflow.toml"),
        "[database]\npath = \"data.db\"\nentities = \"entities\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("create.json"),
        r#"{"nodes": [{"id": "w", "name": "w", "type": "dbal-write", "parameters": {"entity": "widget", "data": {"name": "w1", "colour": "red"}}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("read.json"),
        r#"{"nodes": [{"id": "r", "name": "r", "type": "dbal-read", "parameters": {"entity": "widget"}}]}"#,
    )
    .unwrap();
    dir
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const WITH_COLOUR: &str =
    r#"{"entity": "widget", "fields": {"name": {"type": "string"}, "colour": {"type": "string"}}}"#;
const WITHOUT_COLOUR: &str = r#"{"entity": "widget", "fields": {"name": {"type": "string"}}}"#;

#[test]
fn a_broken_entity_schema_stops_start_up_naming_file_entity_and_field() {
    let dir = setup(r#"{"entity": "widget", "fields": {"size": {"type": "number"}}}"#);
    let out = plugflow(dir.path(), &["run", "read.json", "--tenant", "acme"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("widget.json: entity `widget`, field `size`"),
        "{stderr}"
    );
}

#[test]
fn db_migrate_shows_the_rebuild_then_makes_it_with_apply() {
    let dir = setup(WITH_COLOUR);
    let created = plugflow(dir.path(), &["run", "create.json", "--tenant", "acme"]);
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    std::fs::write(dir.path().join("entities/widget.json"), WITHOUT_COLOUR).unwrap();

    let planned = json(&plugflow(dir.path(), &["db", "migrate"]));
    assert_eq!(planned["applied"], false);
    assert_eq!(
        planned["plans"][0]["changes"][0]["kind"], "drop",
        "{planned}"
    );
    let refused = plugflow(dir.path(), &["run", "read.json", "--tenant", "acme"]);
    assert_ne!(
        refused.status.code(),
        Some(0),
        "the plan alone changes nothing"
    );

    let applied = json(&plugflow(dir.path(), &["db", "migrate", "--apply"]));
    assert_eq!(applied["applied"], true, "{applied}");
    let read = plugflow(dir.path(), &["run", "read.json", "--tenant", "acme"]);
    assert_eq!(read.status.code(), Some(0), "{read:?}");
    let result = json(&read);
    assert_eq!(result["nodes"]["r"]["output"]["records"][0]["name"], "w1");
    assert!(result["nodes"]["r"]["output"]["records"][0]
        .get("colour")
        .is_none());
}

#[test]
fn with_a_database_url_the_dbal_writes_and_reads_postgresql() {
    let postgres = plugflow_tests::pg::TestDatabase::create();
    let dir = setup(WITH_COLOUR);
    let url = ["--database-url", postgres.url()];
    let created = plugflow(
        dir.path(),
        &["run", "create.json", "--tenant", "acme", url[0], url[1]],
    );
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    let read = json(&plugflow(
        dir.path(),
        &["run", "read.json", "--tenant", "acme", url[0], url[1]],
    ));
    assert_eq!(read["nodes"]["r"]["output"]["records"][0]["colour"], "red");
    assert!(
        !dir.path().join("data.db").exists(),
        "nothing went to the SQLite file"
    );
    let stored: i64 = postgres
        .client()
        .query_one("SELECT count(*) FROM d_widget", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
}

#[test]
fn db_migrate_on_postgresql_is_refused_with_what_to_do() {
    let postgres = plugflow_tests::pg::TestDatabase::create();
    let dir = setup(WITH_COLOUR);
    let out = plugflow(
        dir.path(),
        &["db", "migrate", "--database-url", postgres.url()],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PostgreSQL")),
        "{out:?}"
    );
}
