//! Step 2b: the persistent cache answers for files whose content it knows,
//! so a warm start opens no library until a node runs.

use std::path::Path;
use std::time::Instant;

use crate::cache::{self, CacheFile, CachedOutcome};
use crate::config::DiscoveryConfig;
use crate::digest;
use crate::lazy::LazyLibrary;
use crate::pending::{Fresh, Identity, LibraryFile, Pending, PendingKind};
use crate::reason::Rejection;
use crate::report::{micros, FileReport, StepTimings};
use crate::scan::Candidate;

/// Files split by what the cache knows about them.
#[derive(Default)]
pub(crate) struct CacheAnswers {
    /// Plugins the cache knows loaded: registered lazily.
    pub pending: Vec<Pending>,
    /// Files the cache knows were rejected: reported as such.
    pub rejected: Vec<FileReport>,
    /// Files to check and load now.
    pub fresh: Vec<Fresh>,
}

/// Opens the configured cache file; a discarded cache is logged and rebuilt.
pub(crate) fn open(config: &DiscoveryConfig) -> Option<CacheFile> {
    config.cache_file.as_ref().map(|path| {
        let (cache, discarded) = CacheFile::load(path);
        if let Some(why) = discarded {
            tracing::warn!(component = "loader", event = "plugin_cache_discarded", path = %path.display(), "the plugin cache is discarded and rebuilt: {why}");
        }
        cache
    })
}

/// Splits `candidates` into what the cache answers and what must be loaded.
pub(crate) fn consult(
    config: &DiscoveryConfig,
    cache: Option<&mut CacheFile>,
    candidates: Vec<Candidate>,
) -> CacheAnswers {
    let mut answers = CacheAnswers::default();
    let Some(cache) = cache else {
        answers.fresh = candidates
            .into_iter()
            .map(|candidate| Fresh {
                candidate,
                identity: None,
            })
            .collect();
        return answers;
    };
    for candidate in candidates {
        let t = Instant::now();
        let identity = identify(config, &candidate.canonical, cache);
        let hit = identity.as_ref().and_then(|(size, mtime, sha)| {
            let entry = cache.entries.get_mut(&candidate.canonical)?;
            (entry.sha256 == *sha).then(|| {
                entry.size = *size;
                entry.mtime_ns = *mtime;
                entry.outcome.clone()
            })
        });
        let timings = StepTimings {
            precheck_us: micros(t.elapsed()),
            ..StepTimings::default()
        };
        match (hit, identity) {
            (
                Some(CachedOutcome::Loaded {
                    manifest,
                    root_symbol,
                }),
                Some((_, _, sha)),
            ) => {
                let file = LibraryFile {
                    root_symbol: root_symbol.clone(),
                    sha256: Some(sha.clone()),
                };
                let library = LazyLibrary::new(candidate.canonical.clone(), root_symbol, sha);
                answers.pending.push(Pending {
                    path: candidate.path,
                    canonical: candidate.canonical,
                    manifest,
                    kind: PendingKind::Cached(library),
                    file,
                    timings,
                });
            }
            (Some(CachedOutcome::Rejected { rejection }), _) => {
                let mut file = FileReport::rejected(
                    candidate.path,
                    Rejection::new(
                        rejection.reason,
                        format!(
                            "{} (known from the plugin cache; checked again when the file changes)",
                            rejection.message
                        ),
                    ),
                    timings,
                );
                file.from_cache = true;
                answers.rejected.push(file);
            }
            (_, identity) => answers.fresh.push(Fresh {
                candidate,
                identity,
            }),
        }
    }
    answers
}

/// Records the outcome of loading a fresh file, when it is worth keeping.
pub(crate) fn record(
    cache: &mut CacheFile,
    canonical: &Path,
    identity: Identity,
    outcome: CachedOutcome,
) {
    let (size, mtime_ns, sha256) = identity;
    cache.entries.insert(
        canonical.to_path_buf(),
        cache::CacheEntry {
            path: canonical.to_path_buf(),
            size,
            mtime_ns,
            sha256,
            host: cache::HostFingerprint::current(),
            outcome,
            checked_at: cache::now(),
        },
    );
}

/// Writes the cache back; a failure is logged, never fatal.
pub(crate) fn save(config: &DiscoveryConfig, cache: &CacheFile) {
    if let Some(path) = &config.cache_file {
        if let Err(e) = cache.save(path) {
            tracing::warn!(component = "loader", event = "plugin_cache_not_saved", path = %path.display(), "cannot write the plugin cache: {e}");
        }
    }
}

/// Size, modification time and SHA-256 of a candidate; the hash is taken
/// from the cache when trusting size and time is configured and they
/// match. `None` when the file cannot be read (it is then loaded, or
/// rejected, without the cache).
fn identify(config: &DiscoveryConfig, canonical: &Path, cache: &CacheFile) -> Option<Identity> {
    let (size, mtime) = cache::stat(canonical).ok()?;
    let sha = match cache.entries.get(canonical) {
        Some(entry) if config.trust_size_mtime && entry.size == size && entry.mtime_ns == mtime => {
            entry.sha256.clone()
        }
        _ => digest::sha256_file(canonical).ok()?,
    };
    Some((size, mtime, sha))
}
