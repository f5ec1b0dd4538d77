//! Step 7: registration, all of a plugin's node types or none.

use std::time::Instant;

use plugin_abi::manifest::PluginManifest;
use plugin_abi::sdk::PluginDefinition;
use plugin_abi::PluginModuleRef;
use std::sync::Arc;

use plugin_host::{LibrarySpec, PluginHosts};
use registry_core::{ExecutionTier, NodeMetadata, NodeSource, ProcessTier, Registry};

use crate::open::{self, CreatedExecutor};
use crate::pending::{Pending, PendingKind};
use crate::reason::{RejectReason, Rejection};
use crate::report::{micros, FileOutcome, FileReport};
use crate::{hosted, lazy};

/// Registers a resolved plugin, except its node types shadowed by a newer
/// version elsewhere.
pub(crate) fn register_plugin(
    registry: &Registry,
    pending: Pending,
    shadowed: Vec<String>,
    tier: ExecutionTier,
    hosts: &Arc<PluginHosts>,
) -> FileReport {
    let t = Instant::now();
    let from_cache = pending.is_cached();
    let Pending {
        path,
        canonical,
        manifest,
        kind,
        file,
        mut timings,
    } = pending;
    let handle = hosts.library(LibrarySpec {
        plugin: manifest.name.clone(),
        path: canonical.clone(),
        root_symbol: file.root_symbol,
        sha256: file.sha256.unwrap_or_default(),
    });
    let source = NodeSource::Library {
        plugin: manifest.name.clone(),
        plugin_version: manifest.version.clone(),
        path: canonical,
    };
    let executors = match kind {
        // Never opened here, even when the cache knows it.
        _ if tier == ExecutionTier::Process => hosted::executors(&handle, &manifest),
        PendingKind::Opened(executors) => executors,
        PendingKind::Cached(library) => manifest
            .node_types
            .iter()
            .map(|n| lazy::executor(&library, &n.node_type))
            .collect(),
        PendingKind::Hosted => hosted::executors(&handle, &manifest),
    };
    let process = ProcessTier {
        host: handle,
        default: tier,
    };
    let outcome = register_executors(
        registry,
        &manifest,
        executors,
        &shadowed,
        source,
        Some(process),
    );
    timings.register_us = micros(t.elapsed());
    match outcome {
        Ok(node_types) => FileReport {
            path,
            outcome: FileOutcome::Loaded {
                plugin: manifest.name,
                version: manifest.version,
                node_types,
                shadowed,
            },
            timings,
            from_cache,
        },
        Err(rejection) => FileReport::rejected(path, rejection, timings),
    }
}

/// Registers a plugin linked statically into the host (the same code as its
/// shared library, without opening anything). Returns the node types
/// registered.
pub fn register_static_plugin(
    registry: &Registry,
    module: PluginModuleRef,
) -> Result<Vec<String>, Rejection> {
    let opened = open::read_manifest(
        module,
        registry_core::plugin_host::static_plugin_services(),
        registry,
        open::Schemas::OnFirstUse,
    )?;
    let executors = open::create_executors(&opened, false)?;
    let source = NodeSource::Static {
        plugin: opened.manifest.name.clone(),
        plugin_version: opened.manifest.version.clone(),
    };
    register_executors(registry, &opened.manifest, executors, &[], source, None)
}

/// Registers a plugin linked into the host that shares this SDK, from its
/// definition (`plugflow_definition()` of a crate using
/// [`plugin_abi::export_plugin!`]): the same node types as
/// [`register_static_plugin`] without the manifest's JSON round trip or
/// compiling schemas — they compile on first use. Returns the node types
/// registered.
///
/// # Errors
///
/// A rejection when the manifest's fields are not acceptable or the
/// definition lacks an executor for one of its node types.
pub fn register_linked_plugin(
    registry: &Registry,
    definition: &PluginDefinition,
) -> Result<Vec<String>, Rejection> {
    let manifest = definition.manifest();
    open::check_plugin_manifest(&manifest, registry, open::Schemas::OnFirstUse)?;
    let mut executors = Vec::with_capacity(manifest.node_types.len());
    for node in &manifest.node_types {
        let executor = definition.create_executor(&node.node_type).ok_or_else(|| {
            Rejection::new(
                RejectReason::FactoryFailed,
                format!(
                    "cannot create executor for `{}`: the definition has none",
                    node.node_type
                ),
            )
        })?;
        executors.push(CreatedExecutor {
            node_type: node.node_type.clone(),
            executor,
            wire: None,
        });
    }
    let source = NodeSource::Static {
        plugin: manifest.name.clone(),
        plugin_version: manifest.version.clone(),
    };
    register_executors(registry, &manifest, executors, &[], source, None)
}

/// Registers every non-shadowed node type; all or nothing.
fn register_executors(
    registry: &Registry,
    manifest: &PluginManifest,
    executors: Vec<CreatedExecutor>,
    shadowed: &[String],
    source: NodeSource,
    process: Option<ProcessTier>,
) -> Result<Vec<String>, Rejection> {
    let mut registered: Vec<String> = Vec::new();
    for CreatedExecutor {
        node_type,
        executor,
        wire,
    } in executors
    {
        if shadowed.contains(&node_type) {
            continue;
        }
        let Some(node) = manifest
            .node_types
            .iter()
            .find(|n| n.node_type == node_type)
        else {
            continue;
        };
        let metadata = NodeMetadata::new(node.clone(), source.clone());
        let registered_now = match &process {
            Some(process) => registry.register_hosted(executor, wire, process.clone(), metadata),
            None => registry.register_checked(executor, wire, metadata),
        };
        if let Err(e) = registered_now {
            for done in &registered {
                registry.unregister(done);
            }
            return Err(Rejection::new(
                RejectReason::RegistrationFailed,
                e.to_string(),
            ));
        }
        registered.push(node_type);
    }
    Ok(registered)
}
