//! The plugin manifest: what a plugin provides, as the host reads it.
//!
//! The manifest crosses the boundary as JSON text produced by
//! [`crate::PluginModule::manifest`]. Unknown fields are ignored and new
//! fields are optional, so the format can grow without an ABI bump.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything a plugin library declares about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginManifest {
    /// The plugin's name, unique among loaded plugins (for logs and reports).
    pub name: String,
    /// The plugin's own version, semver.
    pub version: String,
    /// The ABI version the plugin was built for.
    pub abi_version: u32,
    /// A one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The node types the plugin provides.
    #[serde(default)]
    pub node_types: Vec<NodeTypeManifest>,
}

/// How the host should run a node type's executor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExecutionClass {
    /// Cheap CPU work: run inline on the calling worker.
    #[default]
    Pure,
    /// I/O or long work: run on the host's blocking pool, with a timeout.
    Blocking,
}

/// A dependency of a node type on another node type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDependency {
    /// The node type depended on.
    pub node_type: String,
    /// A semver requirement on that node type's version, such as `^1.2`.
    #[serde(default = "any_version")]
    pub version: String,
}

fn any_version() -> String {
    "*".to_owned()
}

/// The description of one node type: its identity, documentation and the
/// JSON Schema of its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTypeManifest {
    /// The node type, such as `string.concat` or `dbal-read`.
    pub node_type: String,
    /// The node type's version, semver.
    pub version: String,
    /// A category for listings, such as `string` or `data`.
    #[serde(default)]
    pub category: String,
    /// What the node does and what it outputs.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the node's `parameters` object.
    #[serde(default = "empty_object_schema")]
    pub parameter_schema: Value,
    /// Parameters that must be present.
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// Free-form tags for search and filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// An icon name for editors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Experimental node types may change without notice.
    #[serde(default)]
    pub experimental: bool,
    /// Other node types this one needs loaded.
    #[serde(default)]
    pub dependencies: Vec<NodeDependency>,
    /// Whether the executor runs inline or on the blocking pool.
    #[serde(default)]
    pub execution: ExecutionClass,
    /// Whether the node reads or writes tenant data (filters and records
    /// are then scoped to the caller's tenant by the host).
    #[serde(default)]
    pub tenant_scoped: bool,
    /// Whether the executor's `validate` checks anything beyond the JSON
    /// Schema. `false` lets the host skip the call: the SDK says so for
    /// node types written as plain functions, which cannot check. Absent
    /// (older plugins): `true`, so their checks keep running.
    #[serde(default = "yes")]
    pub validates: bool,
    /// Whether running the node twice with the same request has the effect
    /// of running it once. A durable host runs a node that was in flight
    /// when it stopped again only when it is `pure` or idempotent; absent
    /// (older plugins): `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

fn yes() -> bool {
    true
}

fn empty_object_schema() -> Value {
    serde_json::json!({ "type": "object" })
}

impl PluginManifest {
    /// Parses manifest JSON text as a plugin returns it.
    ///
    /// ```
    /// let manifest = plugin_abi::manifest::PluginManifest::from_json(
    ///     r#"{"name":"p","version":"1.0.0","abiVersion":1,
    ///         "nodeTypes":[{"nodeType":"p.echo","version":"1.0.0"}]}"#,
    /// ).unwrap();
    /// assert_eq!(manifest.node_types[0].node_type, "p.echo");
    /// ```
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl NodeTypeManifest {
    /// A minimal manifest for `node_type` at `version`: object schema, pure,
    /// no dependencies. Mostly for executors registered in-process.
    pub fn new(node_type: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            node_type: node_type.into(),
            version: version.into(),
            category: String::new(),
            description: String::new(),
            parameter_schema: empty_object_schema(),
            required_fields: Vec::new(),
            tags: Vec::new(),
            icon: None,
            experimental: false,
            dependencies: Vec::new(),
            execution: ExecutionClass::Pure,
            tenant_scoped: false,
            validates: true,
            idempotent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_from_an_older_plugin_is_taken_to_validate() {
        let manifest: NodeTypeManifest =
            serde_json::from_str(r#"{"nodeType": "old.node", "version": "1.0.0"}"#).unwrap();
        assert!(manifest.validates);
    }

    #[test]
    fn a_function_node_type_says_it_has_no_check() {
        let spec = crate::sdk::NodeSpec::new("p.f", "1.0.0", "p", "d")
            .handler(|_| Ok(crate::sdk::NodeOutput::default()));
        assert!(!spec.manifest().validates);
    }

    #[test]
    fn a_node_type_with_an_executor_may_check() {
        struct N;
        impl crate::sdk::Node for N {
            fn execute(
                &self,
                _: &crate::sdk::NodeRequest,
            ) -> Result<crate::sdk::NodeOutput, crate::sdk::NodeError> {
                Ok(crate::sdk::NodeOutput::default())
            }
        }
        let spec = crate::sdk::NodeSpec::new("p.n", "1.0.0", "p", "d").executor(|| N);
        assert!(spec.manifest().validates);
    }
}
