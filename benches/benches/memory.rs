//! Memory of a registry holding 1,000 node types, each with metadata, a
//! distinct compiled JSON Schema and an executor, measured in a process of
//! its own (RSS before and after, and peak). Writes
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

fn main() {
    const TYPES: usize = 1000;
    let before = plugflow_benches::rss_bytes();
    let registry = Registry::new();
    for i in 0..TYPES {
        registry
            .register_with_metadata(executor_box(Noop), metadata(i))
            .expect("registers");
    }
    // Touch every entry once, as a host answering requests would.
    for i in 0..TYPES {
        assert!(registry.get(&format!("bench.type{i}")).is_some());
    }
    let after = plugflow_benches::rss_bytes();
    let peak = plugflow_benches::peak_rss_bytes();
    assert_eq!(registry.len(), TYPES);
    let document = json!({
        "nodeTypes": TYPES,
        "rssBeforeMb": mb(before),
        "rssAfterMb": mb(after),
        "registryMb": mb(after) - mb(before),
        "peakRssMb": mb(peak),
    });
    println!("memory: {document}");
    plugflow_benches::write_result("memory", &document);
}
