//! Node-type metadata and its validation.

use std::path::PathBuf;
use std::sync::Arc;

use plugin_abi::manifest::NodeTypeManifest;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// Where a node type's executor comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum NodeSource {
    /// Registered in-process by the host application.
    InProcess,
    /// A plugin linked statically into the host binary.
    Static {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        plugin_version: String,
    },
    /// A plugin loaded from a shared library.
    Library {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        plugin_version: String,
        /// The library's canonical path.
        path: PathBuf,
    },
}

impl NodeSource {
    /// A short description for listings: `in-process`, `static:NAME` or the
    /// library path.
    pub fn describe(&self) -> String {
        match self {
            NodeSource::InProcess => "in-process".to_owned(),
            NodeSource::Static { plugin, .. } => format!("static:{plugin}"),
            NodeSource::Library { path, .. } => path.display().to_string(),
        }
    }
}

/// Everything the registry knows about a node type besides its executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetadata {
    /// The node type's manifest entry.
    #[serde(flatten)]
    pub manifest: NodeTypeManifest,
    /// Where its executor comes from.
    pub source: NodeSource,
}

impl NodeMetadata {
    /// Metadata for `manifest` from `source`.
    pub fn new(manifest: NodeTypeManifest, source: NodeSource) -> Self {
        Self { manifest, source }
    }

    /// The node type.
    pub fn node_type(&self) -> &str {
        &self.manifest.node_type
    }
}

/// A compiled parameter schema.
pub(crate) type CompiledSchema = Arc<jsonschema::Validator>;

/// `true` when `name` is a well-formed node type: dot-separated segments of
/// ASCII letters, digits, `_` and `-`, each starting with a letter, at most
/// 128 characters (`string.concat`, `dbal-read`, `metabuilder.transform`).
pub(crate) fn is_valid_node_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.split('.').all(|segment| {
            let mut chars = segment.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// Problems with a manifest entry's fields (everything but the schema):
/// an ill-formed node type, a version or dependency requirement that is
/// not semver.
pub(crate) fn check_manifest_fields(manifest: &NodeTypeManifest) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_valid_node_type(&manifest.node_type) {
        problems.push(format!(
            "node type `{}` is ill-formed: use dot-separated segments of letters, digits, `_` and `-`, each starting with a letter",
            manifest.node_type
        ));
    }
    if let Err(e) = semver::Version::parse(&manifest.version) {
        problems.push(format!(
            "version `{}` is not semver ({e}); write it as MAJOR.MINOR.PATCH",
            manifest.version
        ));
    }
    for dependency in &manifest.dependencies {
        if !is_valid_node_type(&dependency.node_type) {
            problems.push(format!(
                "dependency `{}` is not a well-formed node type",
                dependency.node_type
            ));
        }
        if let Err(e) = semver::VersionReq::parse(&dependency.version) {
            problems.push(format!(
                "dependency `{}` has requirement `{}` that is not semver ({e})",
                dependency.node_type, dependency.version
            ));
        }
    }
    problems
}

/// Checks a manifest entry, compiling its schema with `compile`.
pub(crate) fn check_manifest_with(
    manifest: &NodeTypeManifest,
    compile: impl FnOnce(&serde_json::Value) -> Result<CompiledSchema, String>,
) -> Result<CompiledSchema, RegistryError> {
    let mut problems = check_manifest_fields(manifest);
    let schema = match compile(&manifest.parameter_schema) {
        Ok(schema) => Some(schema),
        Err(e) => {
            problems.push(format!("parameter schema does not compile: {e}"));
            None
        }
    };
    match schema {
        Some(schema) if problems.is_empty() => Ok(schema),
        _ => Err(RegistryError::InvalidMetadata {
            node_type: manifest.node_type.clone(),
            problems,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_node_type;

    #[test]
    fn node_type_names() {
        assert!(is_valid_node_type("string.padStart"));
        assert!(!is_valid_node_type("string..x"));
        assert!(!is_valid_node_type("rm -rf"));
    }
}
