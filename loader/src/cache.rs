//! The persistent plugin registry cache: what every plugin file was found
//! to be, keyed by its content hash, so a start-up with an unchanged plugin
//! directory opens nothing (node types are registered lazily, see
//! [`crate::lazy`]) and a quarantined file is skipped until it changes.
//!
//! One JSON file, written atomically (temp file, `fsync`, rename), so a
//! crash mid-write leaves the previous cache. A cache that is corrupt, of
//! another format, or written by a differently built host is discarded
//! with a warning and rebuilt, never trusted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use plugin_abi::manifest::PluginManifest;
use serde::{Deserialize, Serialize};

use crate::reason::Rejection;

/// Version of the cache file format. 2: outcomes externally tagged
/// (`{"loaded": {...}}`), which reads without buffering each entry twice.
pub const FORMAT: u32 = 2;

/// What a cache entry is only valid for: this plugflow, this ABI, this
/// compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFingerprint {
    /// The loader's version.
    pub plugflow_version: String,
    /// [`plugin_abi::ABI_VERSION`].
    pub abi_version: u32,
    /// `rustc --version` of the host's build.
    pub rustc_version: String,
}

impl HostFingerprint {
    /// This host's fingerprint.
    pub fn current() -> Self {
        Self {
            plugflow_version: env!("CARGO_PKG_VERSION").to_owned(),
            abi_version: plugin_abi::ABI_VERSION,
            rustc_version: env!("PLUGFLOW_RUSTC_VERSION").to_owned(),
        }
    }
}

/// What a file was found to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CachedOutcome {
    /// Every check passed: its manifest and root module symbol.
    Loaded {
        /// The manifest.
        manifest: PluginManifest,
        /// The exported root module symbol.
        root_symbol: String,
    },
    /// Rejected (or quarantined) for this reason.
    Rejected {
        /// Why.
        rejection: Rejection,
    },
}

/// One plugin file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// Canonical path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
    /// SHA-256 of the content (lower-case hex).
    pub sha256: String,
    /// The host it was checked by.
    pub host: HostFingerprint,
    /// The outcome.
    pub outcome: CachedOutcome,
    /// When it was checked, seconds since the Unix epoch.
    pub checked_at: u64,
}

/// The cache file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheFile {
    /// The cache format version; a file with another one is discarded.
    pub format: u32,
    /// Entries by canonical path.
    pub entries: BTreeMap<PathBuf, CacheEntry>,
}

impl Default for CacheFile {
    fn default() -> Self {
        Self {
            format: FORMAT,
            entries: BTreeMap::new(),
        }
    }
}

/// Size and modification time of a file, as the cache records them.
pub fn stat(path: &Path) -> std::io::Result<(u64, u128)> {
    let metadata = std::fs::metadata(path)?;
    let mtime = metadata
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok((metadata.len(), mtime))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CacheFile {
    /// Reads the cache at `path`. A missing file is an empty cache; a
    /// corrupt or foreign one is discarded with a warning (and `None` in
    /// the second field says why).
    pub fn load(path: &Path) -> (Self, Option<String>) {
        if let Some(why) = untrusted_file(path) {
            return (Self::default(), Some(why));
        }
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => return (Self::default(), Some(format!("cannot read it: {e}"))),
        };
        match serde_json::from_slice::<CacheFile>(&text) {
            Ok(cache) if cache.format == FORMAT => {
                let host = HostFingerprint::current();
                let foreign = cache.entries.values().any(|e| e.host != host);
                if foreign {
                    (
                        Self::default(),
                        Some("it was written by a differently built plugflow".to_owned()),
                    )
                } else {
                    (cache, None)
                }
            }
            Ok(cache) => (
                Self::default(),
                Some(format!(
                    "it has format {}, this plugflow reads {FORMAT}",
                    cache.format
                )),
            ),
            Err(e) => (Self::default(), Some(format!("it is corrupt ({e})"))),
        }
    }

    /// Writes the cache to `path` atomically (readable and writable by its
    /// owner only): a temporary file beside it,
    /// flushed to disk, then renamed over it.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = path.with_extension(format!("tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = create_private(&temp)?;
            file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written
    }
}

/// The default cache file: `plugflow/plugin-cache.json` under the user's
/// cache directory (`$XDG_CACHE_HOME`, else `~/.cache` on Linux).
pub fn default_path() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("plugflow").join("plugin-cache.json"))
}

/// Why the cache file at `path` cannot be trusted: someone else owns it, or
/// others may write it (they could mark any library as checked). `None`
/// when it is fine or does not exist.
#[cfg(unix)]
fn untrusted_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Some(format!(
            "it is owned by user {} and plugflow runs as user {me}; only a cache the running user owns is trusted",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "others may write it (mode {:o}); only a cache writable by its owner alone is trusted",
            meta.mode() & 0o777
        ));
    }
    None
}

#[cfg(not(unix))]
fn untrusted_file(_path: &Path) -> Option<String> {
    None
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_foreign_and_torn_caches_are_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        assert_eq!(CacheFile::load(&path), (CacheFile::default(), None));

        let mut cache = CacheFile::default();
        cache.entries.insert(
            "/x.so".into(),
            CacheEntry {
                path: "/x.so".into(),
                size: 1,
                mtime_ns: 2,
                sha256: "ab".into(),
                host: HostFingerprint::current(),
                outcome: CachedOutcome::Rejected {
                    rejection: Rejection::new(crate::RejectReason::NotAPlugin, "no"),
                },
                checked_at: 3,
            },
        );
        cache.save(&path).unwrap();
        assert_eq!(CacheFile::load(&path), (cache.clone(), None));

        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        let (loaded, why) = CacheFile::load(&path);
        assert_eq!(loaded, CacheFile::default());
        assert!(why.unwrap().contains("corrupt"));

        let mut foreign = cache.clone();
        for entry in foreign.entries.values_mut() {
            entry.host.rustc_version = "rustc 0.1".into();
        }
        foreign.save(&path).unwrap();
        assert!(CacheFile::load(&path)
            .1
            .unwrap()
            .contains("differently built"));

        let mut future = cache;
        future.format = 99;
        future.save(&path).unwrap();
        assert!(CacheFile::load(&path).1.unwrap().contains("format 99"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
