//! Shared set-up for the benchmarks in `benches/`: registries holding the
//! trivial `noop.pass` node loaded from its `.so` or linked statically, and
//! generated workflows (chains, fan-out/fan-in).

use std::sync::Arc;

use loader::{DiscoveryConfig, Loader};
use plugflow_engine::{CompiledWorkflow, Workflow};
use plugin_abi::sdk::PluginDefinition;
use registry_core::Registry;
use serde_json::{json, Value};

/// Every built-in plugin library.
pub const BUILTIN_LIBRARIES: [&str; 9] = [
    "plugflow_convert",
    "plugflow_core",
    "plugflow_dbal",
    "plugflow_dict",
    "plugflow_list",
    "plugflow_logic",
    "plugflow_math",
    "plugflow_string",
    "plugflow_var",
];

/// The built-in plugins' definitions, for linking (as the CLI does).
pub fn builtin_definitions() -> Vec<&'static PluginDefinition> {
    vec![
        plugflow_convert::plugflow_definition(),
        plugflow_core::plugflow_definition(),
        plugflow_dict::plugflow_definition(),
        plugflow_list::plugflow_definition(),
        plugflow_logic::plugflow_definition(),
        plugflow_math::plugflow_definition(),
        plugflow_string::plugflow_definition(),
        plugflow_var::plugflow_definition(),
        plugflow_dbal::plugflow_definition(),
    ]
}

/// A registry with `noop.pass` loaded from its shared library (the
/// temporary directory must outlive the registry's use).
pub fn dynamic_noop() -> (Arc<Registry>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    plugflow_tests::install(dir.path(), &["fixture_noop"]);
    let registry = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
    assert_eq!(report.totals.loaded, 1, "{report:?}");
    (Arc::new(registry), dir)
}

/// A registry with `noop.pass` linked statically.
pub fn static_noop() -> Arc<Registry> {
    let registry = Registry::new();
    loader::register_static_plugin(&registry, fixture_noop::plugflow_module())
        .expect("noop registers");
    Arc::new(registry)
}

fn noop(id: String, value: Value) -> Value {
    json!({"id": id, "name": id, "type": "noop.pass", "typeVersion": 1, "position": [0, 0], "parameters": {"value": value}})
}

fn link(to: &str) -> Value {
    json!({"main": [[{"node": to, "type": "main", "index": 0}]]})
}

/// A chain of `n` `noop.pass` nodes, each templated from its input.
pub fn chain(n: usize) -> CompiledWorkflow {
    let nodes: Vec<Value> = (0..n)
        .map(|i| {
            noop(
                format!("n{i}"),
                if i == 0 {
                    json!(1)
                } else {
                    json!("{{ $input.result }}")
                },
            )
        })
        .collect();
    let mut connections = serde_json::Map::new();
    for i in 1..n {
        connections.insert(format!("n{}", i - 1), link(&format!("n{i}")));
    }
    compile(
        json!({"id": "chain", "name": "chain", "nodes": nodes, "connections": connections, "settings": {"executionTimeout": 0}}),
    )
}

/// A start node fanning out to `width` nodes that all join into one.
pub fn fan_out_in(width: usize) -> CompiledWorkflow {
    compile(fan_out_in_value(width))
}

/// [`fan_out_in`]'s workflow file text.
pub fn fan_out_in_text(width: usize) -> String {
    fan_out_in_value(width).to_string()
}

fn fan_out_in_value(width: usize) -> Value {
    let mut nodes = vec![noop("start".into(), json!(1))];
    let mut connections = serde_json::Map::new();
    let targets: Vec<Value> = (0..width)
        .map(|i| json!({"node": format!("w{i}"), "type": "main", "index": 0}))
        .collect();
    connections.insert("start".into(), json!({"main": [targets]}));
    for i in 0..width {
        nodes.push(noop(format!("w{i}"), json!("{{ $input.result }}")));
        connections.insert(format!("w{i}"), link("join"));
    }
    nodes.push(noop("join".into(), json!("{{ $input.w0.result }}")));
    json!({"id": "fan", "name": "fan", "nodes": nodes, "connections": connections})
}

/// The workflow text of a chain of `n` `math.add` nodes, each adding 1 to
/// its predecessor's result (`{{ $input.result }}`): the chain the
/// whole-process figures are measured on.
pub fn math_chain_text(n: usize) -> String {
    let mut text = String::with_capacity(n * 200 + 64);
    text.push_str(r#"{"id": "chain", "name": "chain", "nodes": ["#);
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        let values = if i == 0 {
            "[1, 1]"
        } else {
            r#"["{{ $input.result }}", 1]"#
        };
        text.push_str(&format!(
            r#"{{"id": "n{i}", "name": "n{i}", "type": "math.add", "typeVersion": 1, "position": [{i}, 0], "parameters": {{"values": {values}}}}}"#
        ));
    }
    text.push_str(r#"], "connections": {"#);
    for i in 1..n {
        if i > 1 {
            text.push(',');
        }
        text.push_str(&format!(
            r#""n{}": {{"main": [[{{"node": "n{i}", "type": "main", "index": 0}}]]}}"#,
            i - 1
        ));
    }
    text.push_str("}}");
    text
}

/// A registry with every built-in plugin linked statically.
pub fn static_builtins() -> Arc<Registry> {
    let registry = Registry::new();
    for definition in builtin_definitions() {
        loader::register_linked_plugin(&registry, definition).expect("built-in registers");
    }
    Arc::new(registry)
}

/// A registry with every built-in plugin loaded from its shared library
/// (the temporary directory must outlive the registry's use).
pub fn dynamic_builtins() -> (Arc<Registry>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    plugflow_tests::install(dir.path(), &BUILTIN_LIBRARIES);
    let registry = Registry::new();
    let report = Loader::new(DiscoveryConfig::with_directories([dir.path()])).discover(&registry);
    assert_eq!(report.totals.rejected, 0, "{report:?}");
    (Arc::new(registry), dir)
}

/// Compiles a workflow given as JSON.
pub fn compile(workflow: Value) -> CompiledWorkflow {
    let workflow =
        Workflow::from_json_str(&workflow.to_string(), "bench").expect("bench workflow parses");
    CompiledWorkflow::compile(workflow)
}

pub use plugflow_tests::{peak_rss_bytes, rss_bytes};

/// Where benchmark binaries that are not criterion benchmarks (the load
/// generator, the memory probe) write their JSON results:
/// `<target>/plugflow-bench/`, next to criterion's `<target>/criterion/`.
pub fn results_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            // Benches live in <target>/release/deps/, binaries in
            // <target>/release/.
            let exe = std::env::current_exe().ok()?;
            let mut dir = exe.parent()?;
            if dir.file_name().is_some_and(|n| n == "deps") {
                dir = dir.parent()?;
            }
            Some(dir.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    target.join("plugflow-bench")
}

/// Writes one result document to [`results_dir`]`/<name>.json`.
pub fn write_result(name: &str, document: &Value) {
    let dir = results_dir();
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(document).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        eprintln!("cannot write {}: {e}", dir.display());
    }
}

/// `<target>/release/plugflow`, beside the running bench's `deps/`
/// directory (build it first: `cargo build --release -p plugflow`).
///
/// # Panics
///
/// When the binary is not there, saying how to build it.
pub fn plugflow_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("bench executable path");
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("bench runs from <target>/release/deps");
    let binary = release.join(format!("plugflow{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --release -p plugflow` first",
        binary.display()
    );
    binary
}
