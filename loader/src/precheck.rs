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
    if let Some(dir) = replaceable_by_others(path) {
        let message = format!(
            "{} is writable by others (and not a root-owned sticky directory like /tmp), so anyone could replace this library; run `chmod o-w` on it, or set `world-writable = \"warn\"` to load it anyway",
            dir.display()
        );
        match config.world_writable {
            crate::config::WritablePolicy::Refuse => {
                return Err(Rejection::new(RejectReason::WorldWritable, message))
            }
            crate::config::WritablePolicy::Warn => {
                tracing::warn!(component = "loader", event = "plugin_replaceable", path = %path.display(), "{message}");
            }
        }
    }
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
    if let Some(trusted) = &config.trusted_digests {
        let digest = crate::digest::sha256_file(path).map_err(read_failed)?;
        if !trusted.contains(&digest) {
            return Err(Rejection::new(
                RejectReason::Untrusted,
                format!(
                    "SHA-256 {digest} is not on the trust list; add it to `trusted-digests` if this library is meant to load"
                ),
            ));
        }
    }
    // Only the headers and symbol tables are read, not the whole library.
    let file = std::fs::File::open(path).map_err(read_failed)?;
    let cache = object::ReadCache::new(file);
    let root_symbol = find_root_symbol(&cache)?;
    Ok(Checked { root_symbol })
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

/// The first directory above `path` (as given, and with symlinks resolved)
/// that others may write to, unless it is sticky and owned by root: there
/// others cannot rename or replace entries they do not own.
#[cfg(unix)]
pub fn replaceable_by_others(path: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let absolute = std::path::absolute(path).ok()?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| absolute.clone());
    for start in [absolute, canonical] {
        for dir in start.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            let mode = meta.mode();
            let others_write = mode & 0o002 != 0;
            let sticky_root = mode & 0o1000 != 0 && meta.uid() == 0;
            if others_write && !sticky_root {
                return Some(dir.to_owned());
            }
        }
    }
    None
}

#[cfg(not(unix))]
pub fn replaceable_by_others(_path: &Path) -> Option<std::path::PathBuf> {
    None
}

/// The host's architecture in `object`'s terms, when the loader knows it.
fn host_architecture() -> Option<object::Architecture> {
    use object::Architecture as A;
    Some(match std::env::consts::ARCH {
        "x86_64" => A::X86_64,
        "x86" => A::I386,
        "aarch64" => A::Aarch64,
        "arm" => A::Arm,
        "riscv64" => A::Riscv64,
        "powerpc64" => A::PowerPc64,
        "s390x" => A::S390x,
        "loongarch64" => A::LoongArch64,
        _ => return None,
    })
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
    if let Some(host) = host_architecture() {
        let built_for = file.architecture();
        if built_for != host && built_for != object::Architecture::Unknown {
            return Err(Rejection::new(
                RejectReason::WrongArchitecture,
                format!(
                    "built for {built_for:?}, but this host is {host:?} ({}); build the plugin for this host's target",
                    std::env::consts::ARCH
                ),
            ));
        }
    }
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
