//! Step 4: open the library, let abi_stable check it, read and validate the
//! manifest, create the executors.

use std::collections::HashSet;
use std::path::Path;

use abi_stable::library::{AbiHeaderRef, LibraryError, RootModuleError};
use abi_stable::std_types::RResult;
use plugin_abi::manifest::PluginManifest;
use std::sync::Arc;

use plugin_abi::{HostServices, NodeExecutorBox, PluginModuleRef};
use registry_core::WireCall;

use registry_core::Registry;

use crate::reason::{RejectReason, Rejection};

/// A plugin module whose manifest passed validation.
pub struct OpenedModule {
    /// The checked root module.
    pub module: PluginModuleRef,
    /// Its manifest.
    pub manifest: PluginManifest,
}

/// Opens the library at `path` and checks its root module `root_symbol`.
///
/// The library is never unloaded (see the `plugin-abi` docs): it stays
/// mapped for the life of the process even when it is rejected, because its
/// code may already have run.
pub fn open_library(path: &Path, root_symbol: &str) -> Result<PluginModuleRef, Rejection> {
    // SAFETY: opening a library runs its initialisers. The pre-load checks
    // made sure this is a regular, non-world-writable shared library that
    // exports a plugflow root module (and on the trust list if configured);
    // running untrusted initialisers in-process is the documented risk that
    // process isolation removes.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        Rejection::new(
            RejectReason::OpenFailed,
            format!("the dynamic linker refused the library: {e}"),
        )
    })?;
    // SAFETY: the symbol was found in the export table under the plugflow
    // prefix, which `export_plugin!` only puts on a `LibHeader` static; its
    // address is what `AbiHeaderRef` wraps, as in abi_stable's own loader.
    let header = unsafe { library.get::<AbiHeaderRef>(root_symbol) }
        .map(|s| *s)
        .map_err(|e| {
            Rejection::new(
                RejectReason::NotAPlugin,
                format!("root module symbol `{root_symbol}` cannot be resolved: {e}"),
            )
        });
    // Never unload: the header and everything it points to must stay valid.
    std::mem::forget(library);
    let header = header?.upgrade().map_err(library_rejection)?;
    let module = plugin_abi::init_root_module(header).map_err(library_rejection)?;
    if module.abi_version() != plugin_abi::ABI_VERSION {
        return Err(Rejection::new(
            RejectReason::AbiVersionUnsupported,
            format!(
                "plugin was built for plugflow ABI {} but this host supports ABI {}; rebuild it against the host's plugin-abi",
                module.abi_version(),
                plugin_abi::ABI_VERSION
            ),
        ));
    }
    Ok(module)
}

/// Maps abi_stable's load errors to readable rejections. A layout mismatch
/// comes with a dump of thousands of lines; only its `Error:` lines are kept.
fn library_rejection(error: LibraryError) -> Rejection {
    match error {
        LibraryError::RootModule { err, .. } => match err {
            RootModuleError::Unwound => Rejection::new(
                RejectReason::PluginPanicked,
                "plugin panicked while building its root module",
            ),
            other => Rejection::new(
                RejectReason::InitFailed,
                format!("plugin failed to build its root module: {other}"),
            ),
        },
        LibraryError::AbiInstability(_) => {
            let text = error.to_string();
            let summary: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("Error:"))
                .take(5)
                .collect();
            Rejection::new(
                RejectReason::AbiIncompatible,
                format!(
                    "type layout differs from this host's plugin ABI ({}); rebuild the plugin against the host's plugin-abi",
                    if summary.is_empty() { "layout mismatch".to_owned() } else { summary.join(" | ") }
                ),
            )
        }
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => Rejection::new(
            RejectReason::AbiIncompatible,
            format!(
                "plugin-abi version {actual_version} is incompatible with the host's {expected_version}; rebuild the plugin against the host's plugin-abi"
            ),
        ),
        LibraryError::InvalidAbiHeader(header) => Rejection::new(
            RejectReason::AbiIncompatible,
            format!(
                "built with an incompatible abi_stable (header {}.{}); rebuild against the host's plugin-abi",
                header.abi_major, header.abi_minor
            ),
        ),
        other => Rejection::new(
            RejectReason::AbiIncompatible,
            first_line(&other.to_string()),
        ),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_owned()
}

/// Initialises the module and reads and validates its manifest.
pub fn read_manifest(
    module: PluginModuleRef,
    host: HostServices,
    registry: &Registry,
    schemas: Schemas,
) -> Result<OpenedModule, Rejection> {
    if let RResult::RErr(e) = (module.init())(host) {
        let reason = if e.message.starts_with("plugin panicked") {
            RejectReason::PluginPanicked
        } else {
            RejectReason::InitFailed
        };
        return Err(Rejection::new(
            reason,
            format!("init failed: {}", e.message),
        ));
    }
    let text = match (module.manifest())() {
        RResult::ROk(text) => text,
        RResult::RErr(e) => {
            let reason = if e.message.starts_with("plugin panicked") {
                RejectReason::PluginPanicked
            } else {
                RejectReason::InvalidManifest
            };
            return Err(Rejection::new(
                reason,
                format!("manifest failed: {}", e.message),
            ));
        }
    };
    let manifest = PluginManifest::from_json(text.as_str()).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidManifest,
            format!("manifest is not valid JSON of the expected shape: {e}"),
        )
    })?;
    check_plugin_manifest(&manifest, registry, schemas)?;
    Ok(OpenedModule { module, manifest })
}

/// Whether a manifest check compiles the node types' parameter schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schemas {
    /// Compile every schema: a library seen for the first time.
    Compile,
    /// Leave them to compile on first use: a library linked into the host
    /// (its schemas are checked by its tests) or one the plugin cache
    /// knows passed this check.
    OnFirstUse,
}

/// Checks the plugin-level fields and every node type's entry (semver,
/// well-formed names, schemas compile, no node type twice).
/// Schemas are compiled through the registry's schema cache, so
/// registering the node types afterwards does not compile them again.
pub fn validate_plugin_manifest(
    manifest: &PluginManifest,
    registry: &Registry,
) -> Result<(), Rejection> {
    check_plugin_manifest(manifest, registry, Schemas::Compile)
}

pub(crate) fn check_plugin_manifest(
    manifest: &PluginManifest,
    registry: &Registry,
    schemas: Schemas,
) -> Result<(), Rejection> {
    let mut problems = Vec::new();
    if manifest.name.trim().is_empty() {
        problems.push("plugin name is empty".to_owned());
    }
    if let Err(e) = semver::Version::parse(&manifest.version) {
        problems.push(format!(
            "plugin version `{}` is not semver ({e})",
            manifest.version
        ));
    }
    if manifest.abi_version != plugin_abi::ABI_VERSION {
        return Err(Rejection::new(
            RejectReason::AbiVersionUnsupported,
            format!(
                "manifest declares ABI {} but this host supports ABI {}",
                manifest.abi_version,
                plugin_abi::ABI_VERSION
            ),
        ));
    }
    if manifest.node_types.is_empty() {
        problems.push("plugin provides no node types".to_owned());
    }
    let mut seen = HashSet::new();
    for node in &manifest.node_types {
        if !seen.insert(node.node_type.as_str()) {
            problems.push(format!("node type `{}` is declared twice", node.node_type));
        }
        match schemas {
            Schemas::Compile => {
                if let Err(e) = registry.check_manifest(node) {
                    problems.push(e.to_string());
                }
            }
            Schemas::OnFirstUse => {
                if let Err(e) = registry.check_manifest_fields(node) {
                    problems.push(e.to_string());
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectReason::InvalidManifest,
            problems.join("; "),
        ))
    }
}

/// Creates one executor per node type; any failure rejects the plugin.
/// With `probe`, each executor's `validate` is called once on an empty node
/// so a plugin that panics there is caught before registration.
pub fn create_executors(
    opened: &OpenedModule,
    probe: bool,
) -> Result<Vec<CreatedExecutor>, Rejection> {
    // Libraries built before the binary call have none: JSON only.
    let wire: Option<Arc<dyn WireCall>> = opened
        .module
        .execute_wire()
        .map(|f| Arc::new(f) as Arc<dyn WireCall>);
    let mut executors = Vec::with_capacity(opened.manifest.node_types.len());
    for node in &opened.manifest.node_types {
        let executor = match (opened.module.new_executor())(node.node_type.as_str().into()) {
            RResult::ROk(executor) => executor,
            RResult::RErr(e) => {
                let reason = if e.message.starts_with("plugin panicked") {
                    RejectReason::PluginPanicked
                } else {
                    RejectReason::FactoryFailed
                };
                return Err(Rejection::new(
                    reason,
                    format!(
                        "cannot create executor for `{}`: {}",
                        node.node_type, e.message
                    ),
                ));
            }
        };
        if probe {
            let probe_node = serde_json::json!({
                "id": "load-probe", "name": "load probe",
                "nodeType": node.node_type, "parameters": {}
            })
            .to_string();
            if let RResult::RErr(e) = executor.validate(probe_node.as_str().into()) {
                if e.message.starts_with("plugin panicked") {
                    return Err(Rejection::new(
                        RejectReason::PluginPanicked,
                        format!("`validate` of `{}` panicked: {}", node.node_type, e.message),
                    ));
                }
            }
        }
        executors.push(CreatedExecutor {
            node_type: node.node_type.clone(),
            executor,
            wire: wire.clone(),
        });
    }
    Ok(executors)
}

/// An executor a plugin created for one of its node types.
pub struct CreatedExecutor {
    /// The node type.
    pub node_type: String,
    /// The executor (JSON calls, validation).
    pub executor: NodeExecutorBox,
    /// The library's binary call, when it has one.
    pub wire: Option<Arc<dyn WireCall>>,
}
