//! The registry: node types, their metadata and executors, the caches in
//! front of them, tenant policies, credentials, audit log and metrics.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use plugin_abi::manifest::NodeTypeManifest;
use plugin_abi::NodeExecutorBox;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::AuditLog;
use crate::cache::{CacheConfig, CacheStats, StatCache};
use crate::credentials::CredentialStore;
use crate::error::{ErrorCode, NodeFailure, RegistryError};
use crate::hashing::value_hash;
use crate::metadata::{CompiledSchema, NodeMetadata};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::process_tier::ProcessTier;
use crate::schema::LazySchema;
use crate::tenant::TenantPolicy;
use crate::validation::{ValidationEntry, ValidationKey};
use crate::wire_call::WireCall;

/// A node type as the registry holds it: metadata, compiled parameter
/// schema and executor. Cheap to clone (`Arc`s inside).
#[derive(Clone)]
pub struct RegisteredNode {
    metadata: Arc<NodeMetadata>,
    schema: LazySchema,
    executor: Arc<NodeExecutorBox>,
    wire: Option<Arc<dyn WireCall>>,
    process: Option<ProcessTier>,
    config: Arc<Map<String, Value>>,
}

impl RegisteredNode {
    /// The node type's metadata.
    pub fn metadata(&self) -> &Arc<NodeMetadata> {
        &self.metadata
    }

    /// The compiled JSON Schema of its parameters, compiled on first use
    /// for node types registered by the loader.
    ///
    /// # Errors
    ///
    /// `INVALID_PARAMETERS`, naming the node type, when the schema does
    /// not compile (every call says so; the node type cannot run).
    pub(crate) fn schema(&self) -> Result<&CompiledSchema, NodeFailure> {
        self.schema
            .get(&self.metadata.manifest.parameter_schema)
            .map_err(|why| {
                NodeFailure::new(
                    ErrorCode::InvalidParameters,
                    format!(
                        "the parameter schema of node type `{}` does not compile ({why}); the plugin that provides it must fix its schema",
                        self.metadata.manifest.node_type
                    ),
                )
            })
    }

    /// Whether its parameter schema has been compiled yet (schemas of
    /// node types registered by the loader compile on first use).
    pub fn schema_is_compiled(&self) -> bool {
        self.schema.is_compiled()
    }

    /// Its executor.
    pub fn executor(&self) -> &Arc<NodeExecutorBox> {
        &self.executor
    }

    /// Its binary call, when its library exports one.
    pub fn wire(&self) -> Option<&Arc<dyn WireCall>> {
        self.wire.as_ref()
    }

    /// Its way into the process tier, when its library can run in a
    /// plugin-host process.
    pub fn process_tier(&self) -> Option<&ProcessTier> {
        self.process.as_ref()
    }

    /// The host configuration passed to its executor with every request.
    pub fn config(&self) -> Arc<Map<String, Value>> {
        self.config.clone()
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

/// Which caches [`Registry::invalidate_cache`] clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// All of them.
    All,
    /// Executor instances.
    Executors,
    /// Metadata.
    Metadata,
    /// Validation results (compiled schemas are kept).
    Validation,
}

/// Registry settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegistryConfig {
    /// Cache sizes and time-to-live.
    pub caches: CacheConfig,
    /// Outputs larger than this (JSON bytes) are discarded with an error.
    pub max_output_bytes: usize,
    /// Timeout of `blocking` node types that set none themselves.
    #[serde(with = "secs")]
    pub default_timeout: Duration,
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            caches: CacheConfig::default(),
            max_output_bytes: 16 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Caches {
    pub(crate) executors: StatCache<String, RegisteredNode>,
    pub(crate) metadata: StatCache<String, Arc<NodeMetadata>>,
    pub(crate) schemas: StatCache<u64, (Arc<Value>, CompiledSchema)>,
    pub(crate) validation: StatCache<ValidationKey, Arc<ValidationEntry>>,
}

/// The node registry. Thread-safe: share it behind an `Arc` and call it
/// from as many tokio tasks as you like.
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
pub struct Registry {
    nodes: RwLock<HashMap<String, RegisteredNode>>,
    node_config: RwLock<HashMap<String, Arc<Map<String, Value>>>>,
    /// Bumped by every change that can change a validation outcome:
    /// (un)registration and policy changes.
    generation: std::sync::atomic::AtomicU64,
    pub(crate) caches: Caches,
    policies: RwLock<HashMap<String, Arc<TenantPolicy>>>,
    pub(crate) credentials: CredentialStore,
    pub(crate) audit: RwLock<Option<Arc<AuditLog>>>,
    pub(crate) metrics: Metrics,
    pub(crate) config: RegistryConfig,
}

impl Default for Registry {
    fn default() -> Self {
        Self::with_config(RegistryConfig::default())
    }
}

/// One row of [`Registry::validate_all_executors`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorCheck {
    /// The node type.
    pub node_type: String,
    /// Whether its executor answered `validate` without a transport error.
    pub ok: bool,
    /// The executor's errors for an empty node, or what went wrong.
    pub messages: Vec<String>,
}

impl Registry {
    /// An empty registry with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry with `config`.
    pub fn with_config(config: RegistryConfig) -> Self {
        let c = config.caches;
        Self {
            nodes: RwLock::default(),
            node_config: RwLock::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
            caches: Caches {
                executors: StatCache::new(c.executors),
                metadata: StatCache::new(c.metadata),
                schemas: StatCache::new(c.schemas),
                validation: StatCache::new(c.validation),
            },
            policies: RwLock::default(),
            credentials: CredentialStore::default(),
            audit: RwLock::default(),
            metrics: Metrics::default(),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Compiles `schema`, or takes the compiled validator from the schema
    /// cache when an identical schema was compiled before.
    pub fn compile_schema(&self, schema: &Value) -> Result<CompiledSchema, String> {
        let hash = value_hash(schema);
        if let Some((cached, compiled)) = self.caches.schemas.get(&hash) {
            if *cached == *schema {
                return Ok(compiled);
            }
        }
        let compiled = Arc::new(crate::schema_draft::compile(schema)?);
        self.caches
            .schemas
            .insert(hash, (Arc::new(schema.clone()), compiled.clone()));
        Ok(compiled)
    }

    /// Checks a manifest entry and compiles its schema (cached): the same
    /// check [`Self::register_with_metadata`] makes.
    pub fn check_manifest(
        &self,
        manifest: &NodeTypeManifest,
    ) -> Result<CompiledSchema, RegistryError> {
        crate::metadata::check_manifest_with(manifest, |schema| self.compile_schema(schema))
    }

    /// The cheap part of [`Self::check_manifest`]: well-formed node type,
    /// semver version and dependency requirements, a schema that is an
    /// object or a boolean — without compiling the schema.
    pub fn check_manifest_fields(&self, manifest: &NodeTypeManifest) -> Result<(), RegistryError> {
        let mut problems = crate::metadata::check_manifest_fields(manifest);
        if !matches!(manifest.parameter_schema, Value::Object(_) | Value::Bool(_)) {
            problems.push("parameter schema is neither an object nor a boolean".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::InvalidMetadata {
                node_type: manifest.node_type.clone(),
                problems,
            })
        }
    }

    /// Registers `executor` under its metadata's node type after checking
    /// the metadata (well-formed node type, semver, schema compiles;
    /// otherwise `INVALID_PARAMETERS`).
    ///
    /// Registering a node type again replaces it: a warning is logged, the
    /// replaced metadata is returned, and every cache entry of that node type
    /// is invalidated.
    pub fn register_with_metadata(
        &self,
        executor: NodeExecutorBox,
        metadata: NodeMetadata,
    ) -> Result<Option<Replaced>, RegistryError> {
        let schema = LazySchema::compiled(self.check_manifest(&metadata.manifest)?);
        self.insert(executor, None, metadata, schema)
    }

    /// Registers a node type of a plugin library whose manifest the loader
    /// checked when it first loaded the library (schemas compiled and all):
    /// the fields are checked again, cheaply, and the parameter schema is
    /// compiled on its first use, so start-up compiles none. A schema that
    /// does not compile then fails each call with `INVALID_PARAMETERS`.
    ///
    /// `wire`, when given, is the library's binary call, preferred to the
    /// executor's JSON `execute`.
    pub fn register_checked(
        &self,
        executor: NodeExecutorBox,
        wire: Option<Arc<dyn WireCall>>,
        metadata: NodeMetadata,
    ) -> Result<Option<Replaced>, RegistryError> {
        self.check_manifest_fields(&metadata.manifest)?;
        self.insert(executor, wire, metadata, LazySchema::default())
    }

    /// Like [`Self::register_checked`], for a node type whose library can
    /// also run in a plugin-host process: `process` says how to reach it
    /// and whether it runs there by default. A tenant policy with
    /// `pluginIsolation = "process"` sends that tenant's calls there
    /// whatever the default.
    ///
    /// # Errors
    ///
    /// As [`Self::register_checked`].
    pub fn register_hosted(
        &self,
        executor: NodeExecutorBox,
        wire: Option<Arc<dyn WireCall>>,
        process: ProcessTier,
        metadata: NodeMetadata,
    ) -> Result<Option<Replaced>, RegistryError> {
        self.check_manifest_fields(&metadata.manifest)?;
        let node_type = metadata.manifest.node_type.clone();
        let config = self.node_config_for(&node_type);
        self.store(RegisteredNode {
            metadata: Arc::new(metadata),
            schema: LazySchema::default(),
            executor: Arc::new(executor),
            wire,
            process: Some(process),
            config,
        })
    }

    fn insert(
        &self,
        executor: NodeExecutorBox,
        wire: Option<Arc<dyn WireCall>>,
        metadata: NodeMetadata,
        schema: LazySchema,
    ) -> Result<Option<Replaced>, RegistryError> {
        let node_type = metadata.manifest.node_type.clone();
        let config = self.node_config_for(&node_type);
        self.store(RegisteredNode {
            metadata: Arc::new(metadata),
            schema,
            executor: Arc::new(executor),
            wire,
            process: None,
            config,
        })
    }

    fn store(&self, entry: RegisteredNode) -> Result<Option<Replaced>, RegistryError> {
        let node_type = entry.metadata.manifest.node_type.clone();
        let previous = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_type.clone(), entry);
        self.invalidate_node_type(&node_type);
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

    /// Registers an in-process node type described with the plugin SDK's
    /// [`NodeSpec`](plugin_abi::sdk::NodeSpec): its manifest, schema and
    /// executor, as a plugin library would provide them.
    ///
    /// ```
    /// use plugin_abi::sdk::{NodeError, NodeOutput, NodeRequest, NodeSpec};
    /// use registry_core::Registry;
    /// use serde_json::json;
    ///
    /// let registry = Registry::new();
    /// registry.register_spec(
    ///     NodeSpec::new("demo.hello", "1.0.0", "demo", "Says hello.")
    ///         .handler(|_: &NodeRequest| -> Result<NodeOutput, NodeError> { Ok(NodeOutput::new(json!("hello"))) }),
    /// )?;
    /// assert!(registry.has("demo.hello"));
    /// # Ok::<(), registry_core::RegistryError>(())
    /// ```
    pub fn register_spec(
        &self,
        spec: plugin_abi::sdk::NodeSpec,
    ) -> Result<Option<Replaced>, RegistryError> {
        let executor = spec.executor_box().ok_or_else(|| RegistryError::InvalidMetadata {
            node_type: spec.manifest().node_type.clone(),
            problems: vec!["the node spec has no executor; give it one with `.executor(...)` or `.handler(...)`".to_owned()],
        })?;
        self.register_with_metadata(
            executor,
            NodeMetadata::new(
                spec.manifest().clone(),
                crate::metadata::NodeSource::InProcess,
            ),
        )
    }

    /// Sets the host configuration of `node_type` (a database path, an
    /// egress allowlist, ...): passed to its executor with every request as
    /// `config`. Workflows cannot change it. Applies to a node type
    /// registered now or later.
    pub fn set_node_config(&self, node_type: &str, config: Map<String, Value>) {
        let config = Arc::new(config);
        self.node_config
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_type.to_owned(), config.clone());
        if let Some(node) = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(node_type)
        {
            node.config = config;
        }
        self.invalidate_node_type(node_type);
    }

    fn node_config_for(&self, node_type: &str) -> Arc<Map<String, Value>> {
        self.node_config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_type)
            .cloned()
            .unwrap_or_default()
    }

    /// A number that changes whenever node types or tenant policies change,
    /// so a validation result can be reused while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump_generation(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn invalidate_node_type(&self, node_type: &str) {
        self.bump_generation();
        self.caches.executors.remove(node_type);
        self.caches.metadata.remove(node_type);
        self.caches.validation.retain(|k| k.node_type != node_type);
    }

    /// The node type, if registered (through the executor cache).
    pub fn get(&self, node_type: &str) -> Option<RegisteredNode> {
        if let Some(node) = self.caches.executors.get(node_type) {
            return Some(node);
        }
        let node = self
            .nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_type)
            .cloned()?;
        self.caches
            .executors
            .insert(node_type.to_owned(), node.clone());
        Some(node)
    }

    /// The node type's metadata, if registered (through the metadata cache).
    pub fn metadata(&self, node_type: &str) -> Option<Arc<NodeMetadata>> {
        if let Some(metadata) = self.caches.metadata.get(node_type) {
            return Some(metadata);
        }
        let metadata = self
            .nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_type)
            .map(|n| n.metadata.clone())?;
        self.caches
            .metadata
            .insert(node_type.to_owned(), metadata.clone());
        Some(metadata)
    }

    /// Whether the node type is registered.
    pub fn has(&self, node_type: &str) -> bool {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(node_type)
    }

    /// The names of every registered node type, sorted (for suggestions
    /// when a workflow names one that is not).
    pub fn node_types(&self) -> Vec<String> {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = nodes.keys().cloned().collect();
        names.sort_unstable();
        names
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

    /// Removes the node type and its cache entries; returns its metadata if
    /// it was registered.
    pub fn unregister(&self, node_type: &str) -> Option<NodeMetadata> {
        let removed = self
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node_type);
        self.invalidate_node_type(node_type);
        removed.map(|n| (*n.metadata).clone())
    }

    /// How many node types are registered.
    pub fn len(&self) -> usize {
        self.nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no node type is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Asks every executor to validate an empty node; one row per node type.
    /// A row is not `ok` when the call itself failed (a panic, a transport
    /// error), not when the executor merely finds the empty node invalid.
    pub fn validate_all_executors(&self) -> Vec<ExecutorCheck> {
        let nodes: Vec<RegisteredNode> = self
            .nodes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut rows: Vec<ExecutorCheck> = nodes
            .iter()
            .map(|node| {
                let node_type = node.metadata.node_type().to_owned();
                let probe = serde_json::json!({"id": "probe", "name": "probe", "nodeType": node_type, "parameters": {}}).to_string();
                match node.executor.validate(probe.as_str().into()) {
                    abi_stable::std_types::RResult::ROk(report) => ExecutorCheck {
                        node_type,
                        ok: true,
                        messages: report.errors.iter().map(|e| e.to_string()).collect(),
                    },
                    abi_stable::std_types::RResult::RErr(e) => ExecutorCheck {
                        node_type,
                        ok: false,
                        messages: vec![format!("{}: {}", e.code, e.message)],
                    },
                }
            })
            .collect();
        rows.sort_by(|a, b| a.node_type.cmp(&b.node_type));
        rows
    }

    /// Clears the chosen caches.
    pub fn invalidate_cache(&self, kind: CacheKind) {
        if matches!(kind, CacheKind::All | CacheKind::Executors) {
            self.caches.executors.clear();
        }
        if matches!(kind, CacheKind::All | CacheKind::Metadata) {
            self.caches.metadata.clear();
        }
        if matches!(kind, CacheKind::All | CacheKind::Validation) {
            self.caches.validation.clear();
        }
        if kind == CacheKind::All {
            self.caches.schemas.clear();
        }
    }

    /// Sets (or replaces) a tenant's policy.
    pub fn set_tenant_policy(&self, policy: TenantPolicy) {
        self.policies
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(policy.tenant_id.clone(), Arc::new(policy));
        self.bump_generation();
    }

    /// Removes a tenant's policy (the tenant then gets the default one:
    /// every node type allowed, strict isolation, no audit).
    pub fn remove_tenant_policy(&self, tenant_id: &str) -> Option<TenantPolicy> {
        self.bump_generation();
        self.policies
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant_id)
            .map(|p| (*p).clone())
    }

    /// The tenant's own policy, if one was set.
    pub fn tenant_policy(&self, tenant: Option<&str>) -> Option<Arc<TenantPolicy>> {
        self.policies
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant?)
            .cloned()
    }

    /// The policy in force for `tenant` (its own, or the default), tightened
    /// by `workflow` when given. `None` when there is no tenant and no
    /// workflow policy: nothing to enforce.
    pub fn effective_policy(
        &self,
        tenant: Option<&str>,
        workflow: Option<&TenantPolicy>,
    ) -> Option<Arc<TenantPolicy>> {
        let base = tenant.map(|t| {
            self.policies
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(t)
                .cloned()
                .unwrap_or_else(|| Arc::new(TenantPolicy::new(t)))
        });
        match (base, workflow) {
            (Some(base), Some(w)) => Some(Arc::new(base.tightened_by(w))),
            (Some(base), None) => Some(base),
            (None, Some(w)) => Some(Arc::new(w.clone())),
            (None, None) => None,
        }
    }

    /// The credential store.
    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// The audit log, when one is set.
    pub fn audit_log(&self) -> Option<Arc<AuditLog>> {
        self.audit
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Where audit records go when a tenant's policy turns auditing on.
    pub fn set_audit_log(&self, log: Option<AuditLog>) {
        *self.audit.write().unwrap_or_else(PoisonError::into_inner) = log.map(Arc::new);
    }

    /// Counters of every cache.
    pub fn cache_stats(&self) -> std::collections::BTreeMap<String, CacheStats> {
        [
            ("executors", self.caches.executors.stats()),
            ("metadata", self.caches.metadata.stats()),
            ("schemas", self.caches.schemas.stats()),
            ("validation", self.caches.validation.stats()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Registry, cache and error statistics.
    pub fn stats(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            registered_node_types: self.len(),
            caches: self.cache_stats(),
            execution: self.metrics.snapshot(),
        }
    }
}
