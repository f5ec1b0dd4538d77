//! The ABI promise: a plugin built against the frozen copy of plugin ABI
//! v1 (`tests/abi-v1/plugin-abi`, as it shipped) loads and runs in this
//! host unchanged — every request field arrives, outputs, output indexes,
//! variable changes, errors, panics and the plugin's own check come back —
//! whether it is opened at discovery or known from the plugin cache and
//! opened on first use.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use loader::{DiscoveryConfig, FileOutcome, Loader};
use registry_core::{ErrorCode, ExecContext, NodeCall, NodeExecution, NodeStatus, Registry};
use serde_json::{json, Map, Value};

/// Builds the v1 plugin the way its author did: its own crate, lock file
/// and target directory (never this workspace's, which the outer cargo
/// holds locked while tests run).
fn built_v1_plugin() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("abi-v1/fixture-v1");
        let target = crate_dir.join("target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the v1 plugin failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug").join(format!(
            "{}fixture_v1{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    })
}

/// A plugin directory holding only the v1 plugin.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let built = built_v1_plugin();
    std::fs::copy(built, dir.path().join(built.file_name().unwrap())).unwrap();
    dir
}

/// A registry with the v1 plugin opened at discovery.
fn registry() -> &'static (Registry, tempfile::TempDir) {
    static REGISTRY: OnceLock<(Registry, tempfile::TempDir)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let dir = plugin_dir();
        let registry = Registry::new();
        let report =
            Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
        assert_eq!(report.totals.loaded, 1, "{report:#?}");
        (registry, dir)
    })
}

fn context() -> ExecContext {
    ExecContext {
        tenant_id: Some("acme".into()),
        execution_id: "exec-v1".into(),
        ..Default::default()
    }
}

fn run(registry: &Registry, node_type: &str, parameters: Value) -> NodeExecution {
    let context = context();
    let input = json!({"from": "upstream", "n": [1, 2.5, null]});
    let mut variables = Map::new();
    variables.insert("region".into(), json!("eu"));
    let call = NodeCall::new(node_type, "n1", &parameters)
        .context(&context)
        .input(&input)
        .variables(&variables);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(registry.execute(&call))
}

#[test]
fn a_v1_plugin_loads_with_every_node_type() {
    let dir = plugin_dir();
    let registry = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
    match &report.files[0].outcome {
        FileOutcome::Loaded { node_types, .. } => {
            assert_eq!(node_types, &["v1.echo", "v1.route", "v1.fail", "v1.picky"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_v1_plugin_receives_every_field_of_its_request() {
    let done = run(
        &registry().0,
        "v1.echo",
        json!({"text": "héllo \"x\"", "deep": {"a": [true]}}),
    );
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    assert_eq!(
        done.output,
        json!({
            "nodeType": "v1.echo", "nodeId": "n1",
            "parameters": {"text": "héllo \"x\"", "deep": {"a": [true]}},
            "input": {"from": "upstream", "n": [1, 2.5, null]},
            "tenantId": "acme", "executionId": "exec-v1",
            "variables": {"region": "eu"},
        })
    );
}

#[test]
fn a_v1_plugins_output_index_and_variable_changes_come_back() {
    let done = run(&registry().0, "v1.route", json!({"branch": 1}));
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    assert_eq!(done.output_index, Some(1));
    assert_eq!(done.variables.set["last"], json!(1));
}

#[test]
fn a_v1_plugins_error_keeps_its_code_and_message() {
    let done = run(&registry().0, "v1.fail", json!({}));
    assert_eq!(done.error_code(), Some(ErrorCode::InvalidParameters));
    assert!(done.error.unwrap().message.contains("refused on purpose"));
}

#[test]
fn a_v1_plugins_panic_is_contained() {
    let done = run(&registry().0, "v1.fail", json!({"panic": true}));
    assert_eq!(done.error_code(), Some(ErrorCode::ExecutionError));
    assert!(done.error.unwrap().message.contains("panicked"));
    // And it runs again.
    assert_eq!(
        run(&registry().0, "v1.echo", json!({})).status,
        NodeStatus::Success
    );
}

#[test]
fn a_v1_plugins_own_check_still_runs() {
    let refused = run(&registry().0, "v1.picky", json!({"name": "root"}));
    assert_eq!(refused.error_code(), Some(ErrorCode::InvalidParameters));
    let accepted = run(&registry().0, "v1.picky", json!({"name": "ada"}));
    assert_eq!(accepted.output, json!({"result": "ada"}));
}

#[test]
fn a_v1_plugin_known_from_the_cache_runs_when_first_used() {
    let dir = plugin_dir();
    let cache = tempfile::tempdir().unwrap();
    let config = DiscoveryConfig {
        cache_file: Some(cache.path().join("plugins.json")),
        ..DiscoveryConfig::with_directories([dir.path()])
    };
    Loader::new(config.clone()).discover(&Registry::new());
    let registry = Registry::new();
    let report = Loader::new(config).discover(&registry);
    assert!(report.files[0].from_cache, "{report:#?}");
    let done = run(&registry, "v1.echo", json!({"k": 1}));
    assert_eq!(done.status, NodeStatus::Success, "{:?}", done.error);
    assert_eq!(done.output["parameters"], json!({"k": 1}));
    assert_eq!(done.output["tenantId"], "acme");
}

#[test]
fn a_v1_plugin_opened_at_discovery_is_called_through_its_json_call() {
    let node = registry().0.get("v1.echo").unwrap();
    assert!(
        node.wire().is_none(),
        "a v1 library has no binary call to use"
    );
}
