//! A workflow's fingerprint: its file and the builds of the plugins its
//! node types come from. Workers claim only executions whose fingerprint
//! they share, so an execution never runs — or resumes — on a worker with
//! another version of its workflow or of a plugin it uses.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use registry_core::{NodeSource, Registry};
use sha2::{Digest, Sha256};

use crate::catalog::Entry;

/// Fingerprints, with the plugin files' hashes kept (a file is hashed
/// again only when its size or modification time changes).
#[derive(Default)]
pub(crate) struct Fingerprints {
    files: Mutex<HashMap<PathBuf, FileHash>>,
    entries: Mutex<HashMap<EntryKey, Fingerprint>>,
}

/// A file's size, modification time and SHA-256.
type FileHash = (u64, Option<SystemTime>, String);

/// A workflow's id and file hash, and the registry's generation.
type EntryKey = (String, String, u64);

/// A fingerprint, or the node types no plugin provides.
type Fingerprint = Result<String, Vec<String>>;

impl Fingerprints {
    /// `entry`'s fingerprint, or the node types no plugin provides.
    pub(crate) fn of(&self, entry: &Entry, registry: &Registry) -> Result<String, Vec<String>> {
        let key = (entry.id.clone(), entry.hash.clone(), registry.generation());
        if let Some(known) = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return known.clone();
        }
        let computed = self.compute(entry, registry);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, computed.clone());
        computed
    }

    fn compute(&self, entry: &Entry, registry: &Registry) -> Result<String, Vec<String>> {
        let types: BTreeSet<&String> = entry.node_types.values().collect();
        let mut hasher = Sha256::new();
        hasher.update(entry.hash.as_bytes());
        let mut missing = Vec::new();
        for node_type in types {
            let Some(metadata) = registry.metadata(node_type) else {
                missing.push(node_type.clone());
                continue;
            };
            let build = match &metadata.source {
                NodeSource::InProcess => "in-process".to_owned(),
                NodeSource::Static {
                    plugin,
                    plugin_version,
                } => format!("static:{plugin}@{plugin_version}"),
                NodeSource::Library { path, .. } => self.file_hash(path),
            };
            hasher.update(format!("\n{node_type}={build}").as_bytes());
        }
        if missing.is_empty() {
            Ok(hex::encode(hasher.finalize()))
        } else {
            Err(missing)
        }
    }

    fn file_hash(&self, path: &PathBuf) -> String {
        let stamp = std::fs::metadata(path)
            .map(|m| (m.len(), m.modified().ok()))
            .unwrap_or((0, None));
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((len, modified, hash)) = files.get(path) {
            if (*len, *modified) == stamp {
                return hash.clone();
            }
        }
        let hash = match std::fs::read(path) {
            Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
            // Unreadable now: its path stands in (a worker without the
            // file differs anyway).
            Err(_) => format!("unreadable:{}", path.display()),
        };
        files.insert(path.clone(), (stamp.0, stamp.1, hash.clone()));
        hash
    }
}
