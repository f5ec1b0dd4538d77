//! Reading one library's manifest without registering it (`plugflow
//! plugins inspect FILE`): the same checks as loading, in a scanner child
//! process when isolation asks for one, into a scratch registry that is
//! then dropped.

use std::path::Path;

use plugin_abi::manifest::PluginManifest;

use crate::config::{DiscoveryConfig, Isolation};
use crate::digest::sha256_file;
use crate::isolate::{check_in_this_process, scan_isolated};
use crate::reason::{RejectReason, Rejection};

/// One library as the loader sees it: its content hash and its manifest.
#[derive(Debug, Clone)]
pub struct InspectedLibrary {
    /// SHA-256 of the file (what a trust list names).
    pub sha256: String,
    /// The plugin's manifest: name, version, ABI version, node types with
    /// their schemas and dependencies.
    pub manifest: PluginManifest,
}

/// Checks `path` exactly as loading would (pre-checks, abi_stable's layout
/// checks, the manifest, one executor per node type) and returns what it
/// declares; nothing is registered. With [`Isolation::Process`] the library
/// is opened only in a scanner child.
///
/// # Errors
///
/// The rejection loading would give (`NOT_A_PLUGIN`, `ABI_INCOMPATIBLE`,
/// `INVALID_MANIFEST`, `PLUGIN_CRASHED`, …).
pub fn inspect_library(
    config: &DiscoveryConfig,
    path: &Path,
) -> Result<InspectedLibrary, Rejection> {
    let sha256 = sha256_file(path).map_err(|e| {
        Rejection::new(
            RejectReason::NotAPlugin,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let manifest = match config.isolation {
        Isolation::Process => scan_isolated(config, &[path.to_owned()])
            .remove(path)
            .unwrap_or_else(|| {
                Err(Rejection::new(
                    RejectReason::PluginCrashed,
                    "the scanner ended without a report".to_owned(),
                ))
            })?,
        Isolation::InProcess => check_in_this_process(path, config)?,
    };
    Ok(InspectedLibrary { sha256, manifest })
}
