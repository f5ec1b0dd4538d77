//! Memory of a registry holding 1,000 node types, each with metadata, a
//! distinct JSON Schema and an executor, measured in a process of its own:
//! registered as the loader does (schemas compile on first use:
//! `registryMb`) and with every schema compiled (`registryCompiledMb`).
//! Writes
//! `<target>/plugflow-bench/memory.json`.
//!
//! Run: `cargo bench -p plugflow-benches --bench memory`.

use plugin_abi::manifest::NodeTypeManifest;
use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
use registry_core::{NodeMetadata, NodeSource, Registry};
use serde_json::json;

struct Noop;
impl Node for Noop {
    fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
        Ok(NodeOutput::default())
    }
}

fn metadata(i: usize) -> NodeMetadata {
    let mut manifest = NodeTypeManifest::new(format!("bench.type{i}"), "1.0.0");
    manifest.description = format!("Bench node type {i}: trims, pads and checks a value.");
    manifest.category = "bench".into();
    manifest.tags = vec!["bench".into(), format!("t{}", i % 10)];
    // Distinct per type, as real node types' schemas are.
    manifest.parameter_schema = json!({"type": "object", "$comment": format!("type {i}"), "properties": {
        "value": {"type": "string", "maxLength": 100 + i},
        "count": {"type": "integer", "minimum": 0, "maximum": 1000 + i},
        "mode": {"enum": ["a", "b", "c"]}}});
    manifest.required_fields = vec!["value".into()];
    NodeMetadata::new(manifest, NodeSource::InProcess)
}

fn mb(bytes: Option<u64>) -> f64 {
    bytes.map_or(f64::NAN, |b| b as f64 / 1e6)
}

/// Registers `TYPES` node types; `compiled`: schemas compiled at
/// registration (`register_with_metadata`), else as the loader registers
/// them (`register_checked`: compiled on first use). Returns the registry
/// and the RSS it added.
fn hold(compiled: bool) -> (Registry, f64) {
    let before = plugflow_benches::rss_bytes();
    let registry = Registry::new();
    for i in 0..TYPES {
        let metadata = metadata(i);
        let registered = if compiled {
            registry.register_with_metadata(executor_box(Noop), metadata)
        } else {
            registry.register_checked(executor_box(Noop), None, metadata)
        };
        registered.expect("registers");
    }
    // Touch every entry once, as a host answering requests would.
    for i in 0..TYPES {
        assert!(registry.get(&format!("bench.type{i}")).is_some());
    }
    assert_eq!(registry.len(), TYPES);
    let after = plugflow_benches::rss_bytes();
    (registry, mb(after) - mb(before))
}

const TYPES: usize = 1000;

fn main() {
    let before = plugflow_benches::rss_bytes();
    // Both kept alive, so the second cannot reuse the first's pages.
    let (_lazy, lazy_mb) = hold(false);
    let (_compiled, compiled_mb) = hold(true);
    let peak = plugflow_benches::peak_rss_bytes();
    let document = json!({
        "nodeTypes": TYPES,
        "rssBeforeMb": mb(before),
        "registryMb": lazy_mb,
        "registryCompiledMb": compiled_mb,
        "peakRssMb": mb(peak),
    });
    println!("memory: {document}");
    plugflow_benches::write_result("memory", &document);
}
