//! The registry: node types, their metadata and their executors.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use plugin_abi::NodeExecutorBox;
use serde::Serialize;

use crate::error::RegistryError;
use crate::metadata::{validate_manifest, CompiledSchema, NodeMetadata};

/// A node type as the registry holds it: metadata, compiled parameter
/// schema and executor. Cheap to clone (`Arc`s inside).
#[derive(Clone)]
pub struct RegisteredNode {
    metadata: Arc<NodeMetadata>,
    schema: CompiledSchema,
    executor: Arc<NodeExecutorBox>,
}

impl RegisteredNode {
    /// The node type's metadata.
    pub fn metadata(&self) -> &Arc<NodeMetadata> {
        &self.metadata
    }

    /// The compiled JSON Schema of its parameters.
    pub fn schema(&self) -> &CompiledSchema {
        &self.schema
    }

    /// Its executor.
    pub fn executor(&self) -> &Arc<NodeExecutorBox> {
        &self.executor
    }
}

impl std::fmt::Debug for RegisteredNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredNode")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// Which node types [`Registry::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this category.
    pub category: Option<String>,
    /// Only node types carrying this tag.
    pub tag: Option<String>,
}

/// What a registration replaced, if anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replaced {
    /// The metadata of the node type that was replaced.
    pub previous: NodeMetadata,
}

/// The node registry. Thread-safe; share it behind an `Arc`.
///
/// ```
/// use plugin_abi::manifest::NodeTypeManifest;
/// use plugin_abi::sdk::{executor_box, Node, NodeError, NodeOutput, NodeRequest};
/// use registry_core::{NodeMetadata, NodeSource, Registry};
///
/// struct Hello;
/// impl Node for Hello {
///     fn execute(&self, _: &NodeRequest) -> Result<NodeOutput, NodeError> {
///         Ok(NodeOutput::new("hello".into()))
///     }
/// }
///
/// let registry = Registry::new();
/// let metadata = NodeMetadata::new(NodeTypeManifest::new("demo.hello", "1.0.0"), NodeSource::InProcess);
/// registry.register_with_metadata(executor_box(Hello), metadata).unwrap();
/// assert!(registry.has("demo.hello"));
/// assert_eq!(registry.list(&Default::default()).len(), 1);
/// ```
#[derive(Default)]
pub struct Registry {
    nodes: RwLock<HashMap<String, RegisteredNode>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `executor` under its metadata's node type after checking
    /// the metadata (well-formed node type, semver, schema compiles).
    ///
    /// Registering a node type again replaces it; the replaced metadata is
    /// returned and a warning is logged.
    pub fn register_with_metadata(
        &self,
        executor: NodeExecutorBox,
        metadata: NodeMetadata,
    ) -> Result<Option<Replaced>, RegistryError> {
        let schema = validate_manifest(&metadata.manifest)?;
        let node_type = metadata.manifest.node_type.clone();
        let entry = RegisteredNode {
            metadata: Arc::new(metadata),
            schema,
            executor: Arc::new(executor),
        };
        let previous = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_type.clone(), entry);
        let replaced = previous.map(|old| Replaced {
            previous: (*old.metadata).clone(),
        });
        if let Some(replaced) = &replaced {
            tracing::warn!(
                component = "registry",
                event = "node_type_replaced",
                node_type = %node_type,
                previous_source = %replaced.previous.source.describe(),
                "node type registered again; the previous executor is replaced"
            );
        } else {
            tracing::debug!(component = "registry", event = "node_type_registered", node_type = %node_type);
        }
        Ok(replaced)
    }

    /// The node type, if registered.
    pub fn get(&self, node_type: &str) -> Option<RegisteredNode> {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_type)
            .cloned()
    }

    /// Whether the node type is registered.
    pub fn has(&self, node_type: &str) -> bool {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(node_type)
    }

    /// Metadata of every registered node type matching `filter`, sorted by
    /// node type.
    pub fn list(&self, filter: &ListFilter) -> Vec<Arc<NodeMetadata>> {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        let mut listed: Vec<_> = nodes
            .values()
            .map(|n| n.metadata.clone())
            .filter(|m| {
                filter
                    .category
                    .as_ref()
                    .is_none_or(|c| &m.manifest.category == c)
                    && filter
                        .tag
                        .as_ref()
                        .is_none_or(|t| m.manifest.tags.contains(t))
            })
            .collect();
        listed.sort_by(|a, b| a.manifest.node_type.cmp(&b.manifest.node_type));
        listed
    }

    /// Removes the node type; returns its metadata if it was registered.
    pub fn unregister(&self, node_type: &str) -> Option<NodeMetadata> {
        let removed = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node_type);
        removed.map(|n| (*n.metadata).clone())
    }

    /// How many node types are registered.
    pub fn len(&self) -> usize {
        self.nodes.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no node type is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
