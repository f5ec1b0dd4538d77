//! Step 3: checks made before any of a library's code runs.

use std::path::Path;

use object::{Object, ObjectSymbol};

use crate::config::{DiscoveryConfig, PLATFORM_EXTENSION};
use crate::reason::{RejectReason, Rejection};

/// What the pre-load checks learned about a file that passed them.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The exported root-module symbol to look up after opening.
    pub root_symbol: String,
    /// SHA-256 of the content, lower-case hex (when a trust list is set).
    pub digest: Option<String>,
}

/// Regular file, not world-writable, platform extension, on the trust list
/// when one is configured, a shared library exporting exactly one plugflow
/// root module.
pub fn precheck(path: &Path, config: &DiscoveryConfig) -> Result<Checked, Rejection> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| Rejection::new(RejectReason::NotAFile, format!("cannot stat file: {e}")))?;
    if !metadata.is_file() {
        return Err(Rejection::new(
            RejectReason::NotAFile,
            "not a regular file; only shared-library files can be plugins",
        ));
    }
    check_permissions(&metadata)?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension != PLATFORM_EXTENSION {
        return Err(Rejection::new(
            RejectReason::WrongExtension,
            format!(
                "extension `.{extension}` is not this platform's shared-library extension `.{PLATFORM_EXTENSION}`"
            ),
        ));
    }
    let read_failed =
        |e: std::io::Error| Rejection::new(RejectReason::ReadFailed, format!("cannot read: {e}"));
    let digest = match &config.trusted_digests {
        Some(trusted) => {
            let digest = crate::digest::sha256_file(path).map_err(read_failed)?;
            if !trusted.contains(&digest) {
                return Err(Rejection::new(
                    RejectReason::Untrusted,
                    format!(
                        "SHA-256 {digest} is not on the trust list; add it to `trusted-digests` if this library is meant to load"
                    ),
                ));
            }
            Some(digest)
        }
        None => None,
    };
    // Only the headers and symbol tables are read, not the whole library.
    let file = std::fs::File::open(path).map_err(read_failed)?;
    let cache = object::ReadCache::new(file);
    let root_symbol = find_root_symbol(&cache)?;
    Ok(Checked {
        root_symbol,
        digest,
    })
}

#[cfg(unix)]
fn check_permissions(metadata: &std::fs::Metadata) -> Result<(), Rejection> {
    use std::os::unix::fs::PermissionsExt;
    if metadata.permissions().mode() & 0o002 != 0 {
        return Err(Rejection::new(
            RejectReason::WorldWritable,
            "file is world-writable, so anyone could replace its code; run `chmod o-w` on it",
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_metadata: &std::fs::Metadata) -> Result<(), Rejection> {
    Ok(())
}

/// Reads the library's export table (without loading it) and returns the
/// one exported symbol naming a plugflow root module.
pub fn find_root_symbol<'data, R: object::ReadRef<'data>>(data: R) -> Result<String, Rejection> {
    let file = object::File::parse(data).map_err(|e| {
        Rejection::new(
            RejectReason::NotALibrary,
            format!("not a shared library ({e}); remove it from the plugin directory"),
        )
    })?;
    let prefix = plugin_abi::EXPORT_SYMBOL_PREFIX;
    let mut roots: Vec<String> = Vec::new();
    let consider = |roots: &mut Vec<String>, name: &[u8]| {
        // Mach-O prefixes C symbols with an underscore.
        let name = name
            .strip_prefix(b"_")
            .filter(|n| n.starts_with(prefix.as_bytes()))
            .unwrap_or(name);
        if name.starts_with(prefix.as_bytes()) {
            let name = String::from_utf8_lossy(name).into_owned();
            if !roots.contains(&name) {
                roots.push(name);
            }
        }
    };
    // ELF and Mach-O list exports as dynamic symbols; PE has an export table.
    for symbol in file.dynamic_symbols() {
        if symbol.is_definition() {
            if let Ok(name) = symbol.name_bytes() {
                consider(&mut roots, name);
            }
        }
    }
    if roots.is_empty() {
        if let Ok(exports) = file.exports() {
            for export in exports.flatten() {
                if let object::NameOrOrdinal::Name(name) = export.name() {
                    consider(&mut roots, name);
                }
            }
        }
    }
    match roots.len() {
        1 => Ok(roots.remove(0)),
        0 => Err(Rejection::new(
            RejectReason::NotAPlugin,
            format!(
                "shared library exports no plugflow root module (`{prefix}*`); build plugins with `plugin_abi::export_plugin!`"
            ),
        )),
        _ => Err(Rejection::new(
            RejectReason::InvalidManifest,
            format!("library exports several plugflow root modules ({}); export one per library", roots.join(", ")),
        )),
    }
}
