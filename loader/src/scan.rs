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

fn is_noise_name(name: &str) -> bool {
    NOISE_DIRS.contains(&name) || name.starts_with('.')
}

fn is_noise(relative: &Path) -> bool {
    relative.components().any(|c| match c {
        Component::Normal(name) => NOISE_DIRS.contains(&name.to_string_lossy().as_ref()),
        _ => false,
    }) || relative
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// How patterns match: `*` stays within one directory, `**` crosses them.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Walks every directory once (symlinked directories followed, loops
/// detected and reported, depth and entry count bounded) and keeps the
/// files matching a pattern.
pub fn scan(config: &DiscoveryConfig) -> ScanResult {
    let mut result = ScanResult::default();
    let mut seen = HashSet::new();
    let mut patterns = Vec::new();
    for pattern in &config.patterns {
        match glob::Pattern::new(pattern) {
            Ok(p) => patterns.push(p),
            Err(e) => result.issues.push(ScanIssue {
                path: PathBuf::from(pattern),
                message: format!("glob pattern `{pattern}` is invalid: {e}"),
            }),
        }
    }
    let mut visited = 0usize;
    for dir in &config.directories {
        if !dir.is_dir() {
            result.issues.push(ScanIssue {
                path: dir.clone(),
                message: "plugin directory does not exist or is not a directory; create it or fix the configured path".to_owned(),
            });
            continue;
        }
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .max_depth(config.max_depth)
            .sort_by_file_name()
            .into_iter()
            // Build-system noise and hidden directories are not descended.
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir() && is_noise_name(&e.file_name().to_string_lossy()))
            });
        for entry in walker {
            visited += 1;
            if visited > config.max_entries {
                result.issues.push(ScanIssue {
                    path: dir.clone(),
                    message: format!(
                        "stopped after {} directory entries (max-entries); the rest of {} was not scanned: point the plugin directory at the plugins themselves",
                        config.max_entries,
                        dir.display()
                    ),
                });
                break;
            }
            let (path, is_dir) = match entry {
                Ok(entry) => {
                    if entry.depth() == config.max_depth && entry.file_type().is_dir() {
                        result.issues.push(ScanIssue {
                            path: entry.path().to_owned(),
                            message: format!(
                                "deeper than {} levels (max-depth): not scanned",
                                config.max_depth
                            ),
                        });
                    }
                    (entry.path().to_owned(), entry.file_type().is_dir())
                }
                Err(e) => {
                    let path = e.path().map(Path::to_owned).unwrap_or_else(|| dir.clone());
                    if let Some(ancestor) = e.loop_ancestor() {
                        result.issues.push(ScanIssue {
                            path,
                            message: format!(
                                "symlink loop back to {}: not followed",
                                ancestor.display()
                            ),
                        });
                        continue;
                    }
                    // A dangling symlink: keep it when it matches, so the
                    // pre-load check reports it instead of silently dropping it.
                    let dangling = e
                        .io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                        && std::fs::symlink_metadata(&path).is_ok();
                    if !dangling {
                        result.issues.push(ScanIssue {
                            path,
                            message: format!("cannot read: {e}"),
                        });
                        continue;
                    }
                    (path, false)
                }
            };
            if is_dir {
                continue;
            }
            let relative = path.strip_prefix(dir).unwrap_or(&path);
            if is_noise(relative)
                || !patterns
                    .iter()
                    .any(|p| p.matches_path_with(relative, MATCH))
            {
                continue;
            }
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(canonical.clone()) {
                result.candidates.push(Candidate { path, canonical });
            }
        }
    }
    result
        .candidates
        .sort_by(|a, b| a.canonical.cmp(&b.canonical));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> DiscoveryConfig {
        DiscoveryConfig {
            directories: vec![dir.to_owned()],
            ..DiscoveryConfig::default()
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_reported_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("x")).unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("y")).unwrap();
        std::fs::write(
            dir.path()
                .join(format!("p.{}", crate::config::PLATFORM_EXTENSION)),
            b"x",
        )
        .unwrap();
        let result = scan(&config(dir.path()));
        assert_eq!(result.candidates.len(), 1, "{result:?}");
        assert!(
            result
                .issues
                .iter()
                .any(|i| i.message.contains("symlink loop")),
            "{result:?}"
        );
    }

    #[test]
    fn the_entry_budget_stops_a_huge_tree_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("f{i}.txt")), b"").unwrap();
        }
        let mut c = config(dir.path());
        c.max_entries = 10;
        let result = scan(&c);
        assert!(
            result
                .issues
                .iter()
                .any(|i| i.message.contains("max-entries")),
            "{result:?}"
        );
    }

    #[test]
    fn depth_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c/d");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(
            deep.join(format!("p.{}", crate::config::PLATFORM_EXTENSION)),
            b"x",
        )
        .unwrap();
        let mut c = config(dir.path());
        c.max_depth = 2;
        let result = scan(&c);
        assert!(result.candidates.is_empty());
        assert!(
            result
                .issues
                .iter()
                .any(|i| i.message.contains("max-depth")),
            "{result:?}"
        );
    }
}
