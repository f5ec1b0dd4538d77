//! Step 2: expand the configured patterns in every directory.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::config::DiscoveryConfig;

/// Directory components that hold build-system by-products, never plugins
/// meant for loading (cargo's `deps/` holds copies of the real artifacts).
const NOISE_DIRS: [&str; 7] = [
    ".fingerprint",
    "incremental",
    "build",
    "deps",
    ".git",
    "node_modules",
    "__pycache__",
];

/// A file the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The path as found.
    pub path: PathBuf,
    /// Its canonical path (symlinks resolved), used for deduplication.
    pub canonical: PathBuf,
}

/// A problem with a configured directory or pattern; the scan goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanIssue {
    /// The directory or path concerned.
    pub path: PathBuf,
    /// What happened.
    pub message: String,
}

/// The scan's result: candidates in deterministic order, and issues.
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    /// Unique candidates, sorted by canonical path.
    pub candidates: Vec<Candidate>,
    /// Missing directories, bad patterns, unreadable entries.
    pub issues: Vec<ScanIssue>,
}

fn is_noise(relative: &Path) -> bool {
    relative.components().any(|c| match c {
        Component::Normal(name) => {
            let name = name.to_string_lossy();
            NOISE_DIRS.contains(&name.as_ref())
        }
        _ => false,
    }) || relative
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Expands every pattern in every directory.
pub fn scan(config: &DiscoveryConfig) -> ScanResult {
    let mut result = ScanResult::default();
    let mut seen = HashSet::new();
    for dir in &config.directories {
        if !dir.is_dir() {
            result.issues.push(ScanIssue {
                path: dir.clone(),
                message: "plugin directory does not exist or is not a directory; create it or fix the configured path".to_owned(),
            });
            continue;
        }
        for pattern in &config.patterns {
            let full = format!(
                "{}/{}",
                glob::Pattern::escape(&dir.to_string_lossy()),
                pattern
            );
            let paths = match glob::glob(&full) {
                Ok(paths) => paths,
                Err(e) => {
                    result.issues.push(ScanIssue {
                        path: dir.clone(),
                        message: format!("glob pattern `{pattern}` is invalid: {e}"),
                    });
                    continue;
                }
            };
            for entry in paths {
                let path = match entry {
                    Ok(path) => path,
                    Err(e) => {
                        result.issues.push(ScanIssue {
                            path: e.path().to_owned(),
                            message: format!("cannot read: {}", e.error()),
                        });
                        continue;
                    }
                };
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                if is_noise(relative) || path.is_dir() {
                    continue;
                }
                // A dangling symlink has no canonical path; keep it so the
                // pre-load check reports it instead of silently dropping it.
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if seen.insert(canonical.clone()) {
                    result.candidates.push(Candidate { path, canonical });
                }
            }
        }
    }
    result
        .candidates
        .sort_by(|a, b| a.canonical.cmp(&b.canonical));
    result
}
