//! What discovery carries between its steps: plugins that passed their
//! checks and files the cache could not answer.

use std::path::PathBuf;
use std::sync::Arc;

use crate::open::CreatedExecutor;
use plugin_abi::manifest::PluginManifest;

use crate::lazy::LazyLibrary;
use crate::report::StepTimings;
use crate::scan::Candidate;

/// A plugin that passed its checks and waits for resolution.
pub(crate) struct Pending {
    pub path: PathBuf,
    pub canonical: PathBuf,
    pub manifest: PluginManifest,
    pub kind: PendingKind,
    pub file: LibraryFile,
    pub timings: StepTimings,
}

/// What a plugin-host child needs to open the library itself.
#[derive(Debug, Clone)]
pub(crate) struct LibraryFile {
    pub root_symbol: String,
    /// Its SHA-256 when known (the cache or the trust list hashed it).
    pub sha256: Option<String>,
}

/// How a plugin that passed its checks gets its executors.
pub(crate) enum PendingKind {
    /// Opened now: its executors exist.
    Opened(Vec<CreatedExecutor>),
    /// Known from the cache: executors that open the library on first use.
    Cached(Arc<LazyLibrary>),
    /// Checked in a scanner child and never opened here: its node types
    /// run on the process tier.
    Hosted,
}

impl Pending {
    /// Whether the plugin was answered by the persistent cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.kind, PendingKind::Cached(_))
    }
}

/// A file not answered by the cache, with what the cache will record:
/// size, modification time (ns) and SHA-256, when the file could be read.
pub(crate) struct Fresh {
    pub candidate: Candidate,
    pub identity: Option<Identity>,
}

/// Size, modification time (ns) and SHA-256 of a file.
pub(crate) type Identity = (u64, u128, String);
