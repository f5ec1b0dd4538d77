//! Discovers plugflow plugin libraries, checks them, loads them and
//! registers their node types into a [`registry_core::Registry`].
//!
//! The pipeline, one step a module:
//!
//! 1. [`config`]: directories, glob patterns, limits, trust list.
//! 2. [`scan`]: expand the patterns, deterministic order, deduplicate.
//! 3. [`precheck`]: regular file, not world-writable, platform extension,
//!    trust list, and an export table naming a plugflow root module, all
//!    before any of the library's code runs.
//! 4. [`open`]: open the library; abi_stable checks its ABI header, version
//!    and type layout; read and validate the manifest; create executors.
//! 5. and 6. [`resolve`]: conflicts (higher version wins) and dependencies
//!    (missing, mismatched, cyclic, transitively rejected).
//! 7. registration in dependency order, and a [`DiscoveryReport`] with a
//!    reason code and timings for every file. One bad file never stops the
//!    others.
//!
//! Libraries are never unloaded.
//!
//! ```
//! use loader::{DiscoveryConfig, Loader, RejectReason};
//! use registry_core::Registry;
//!
//! // A plugin directory holding one file that is not a library at all.
//! let dir = std::env::temp_dir().join(format!("plugflow-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("libjunk.so"), b"not an ELF file")?;
//!
//! let registry = Registry::new();
//! // Directories from code; `with_env` adds PLUGFLOW_PLUGIN_DIRS.
//! let config = DiscoveryConfig::with_directories([&dir]);
//! let report = Loader::new(config).discover(&registry);
//! assert_eq!(report.totals.rejected, 1);
//! assert_eq!(report.files[0].reason(), Some(RejectReason::NotALibrary));
//! // Rejected before any of its code could run; the registry is untouched.
//! assert!(registry.is_empty());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]

pub mod cache;
pub mod config;
mod digest;
pub mod isolate;
pub mod lazy;
pub mod open;
pub mod precheck;
mod reason;
pub mod report;
pub mod resolve;
pub mod scan;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use plugin_abi::{HostServices, NodeExecutorBox, PluginModuleRef};
use registry_core::{NodeMetadata, NodeSource, Registry};

pub use config::{ConfigError, DiscoveryConfig, Isolation};
pub use reason::{RejectReason, Rejection};
pub use report::{DiscoveryReport, FileOutcome, FileReport, StepTimings, Totals};

use open::OpenedModule;
use report::micros;

/// Runs discovery with one configuration.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    config: DiscoveryConfig,
}

struct Pending {
    path: PathBuf,
    canonical: PathBuf,
    manifest: plugin_abi::manifest::PluginManifest,
    kind: PendingKind,
    timings: StepTimings,
}

/// How a plugin that passed its checks gets its executors.
enum PendingKind {
    /// Opened now: its executors exist.
    Opened(Vec<(String, NodeExecutorBox)>),
    /// Known from the cache: executors that open the library on first use.
    Cached(std::sync::Arc<lazy::LazyLibrary>),
}

/// A file not answered by the cache, with what the cache will record.
struct Fresh {
    candidate: scan::Candidate,
    identity: Option<(u64, u128, String)>,
}

impl Loader {
    /// A loader for `config`.
    pub fn new(config: DiscoveryConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// Scans, checks, loads and registers; returns the report. Never fails
    /// as a whole: every problem is a line in the report.
    pub fn discover(&self, registry: &Registry) -> DiscoveryReport {
        let started = Instant::now();
        let mut report = DiscoveryReport::default();
        if !self.config.enabled {
            tracing::info!(
                component = "loader",
                event = "discovery_disabled",
                "plugin discovery is disabled"
            );
            return report;
        }
        let scanned = scan::scan(&self.config);
        report.issues = scanned.issues;
        for issue in &report.issues {
            tracing::warn!(component = "loader", event = "scan_issue", path = %issue.path.display(), "{}", issue.message);
        }

        // The persistent cache answers for files whose content it knows.
        let mut cache = self.config.cache_file.as_ref().map(|path| {
            let (cache, discarded) = cache::CacheFile::load(path);
            if let Some(why) = discarded {
                tracing::warn!(component = "loader", event = "plugin_cache_discarded", path = %path.display(), "the plugin cache is discarded and rebuilt: {why}");
            }
            cache
        });
        let mut pending = Vec::new();
        let mut fresh = Vec::new();
        for candidate in scanned.candidates {
            let Some(cache) = cache.as_mut() else {
                fresh.push(Fresh {
                    candidate,
                    identity: None,
                });
                continue;
            };
            let t = Instant::now();
            let identity = self.identify(&candidate.canonical, cache);
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
                    Some(cache::CachedOutcome::Loaded {
                        manifest,
                        root_symbol,
                    }),
                    Some((_, _, sha)),
                ) => {
                    let library =
                        lazy::LazyLibrary::new(candidate.canonical.clone(), root_symbol, sha);
                    pending.push(Pending {
                        path: candidate.path,
                        canonical: candidate.canonical,
                        manifest,
                        kind: PendingKind::Cached(library),
                        timings,
                    });
                }
                (Some(cache::CachedOutcome::Rejected { rejection }), _) => {
                    let mut file = FileReport::rejected(
                        candidate.path,
                        Rejection::new(rejection.reason, format!("{} (known from the plugin cache; checked again when the file changes)", rejection.message)),
                        timings,
                    );
                    file.from_cache = true;
                    report.files.push(file);
                }
                (_, identity) => fresh.push(Fresh {
                    candidate,
                    identity,
                }),
            }
        }

        // Process isolation: every file not known from the cache is opened
        // in a scanner child first; only those that passed are opened here.
        let isolated = (self.config.isolation == config::Isolation::Process).then(|| {
            let paths: Vec<PathBuf> = fresh.iter().map(|f| f.candidate.path.clone()).collect();
            isolate::scan_isolated(&self.config, &paths)
        });
        for Fresh {
            candidate,
            identity,
        } in fresh
        {
            let outcome = match isolated.as_ref().and_then(|i| i.get(&candidate.path)) {
                Some(Err(rejection)) => Err((rejection.clone(), StepTimings::default())),
                _ => self.load_one(&candidate.path, registry),
            };
            let cached = match &outcome {
                Ok((opened, _, _, root_symbol)) => Some(cache::CachedOutcome::Loaded {
                    manifest: opened.manifest.clone(),
                    root_symbol: root_symbol.clone(),
                }),
                // A file that could not be read may be readable next time.
                Err((rejection, _)) if rejection.reason != RejectReason::ReadFailed => {
                    Some(cache::CachedOutcome::Rejected {
                        rejection: rejection.clone(),
                    })
                }
                Err(_) => None,
            };
            if let (Some(cache), Some((size, mtime_ns, sha256)), Some(outcome)) =
                (cache.as_mut(), identity, cached)
            {
                cache.entries.insert(
                    candidate.canonical.clone(),
                    cache::CacheEntry {
                        path: candidate.canonical.clone(),
                        size,
                        mtime_ns,
                        sha256,
                        host: cache::HostFingerprint::current(),
                        outcome,
                        checked_at: cache::now(),
                    },
                );
            }
            match outcome {
                Ok((opened, executors, timings, _)) => pending.push(Pending {
                    path: candidate.path,
                    canonical: candidate.canonical,
                    manifest: opened.manifest,
                    kind: PendingKind::Opened(executors),
                    timings,
                }),
                Err((rejection, timings)) => {
                    report
                        .files
                        .push(FileReport::rejected(candidate.path, rejection, timings))
                }
            }
        }
        if let (Some(cache), Some(path)) = (&cache, &self.config.cache_file) {
            if let Err(e) = cache.save(path) {
                tracing::warn!(component = "loader", event = "plugin_cache_not_saved", path = %path.display(), "cannot write the plugin cache: {e}");
            }
        }

        let existing: HashMap<String, semver::Version> = registry
            .list(&Default::default())
            .iter()
            .filter_map(|m| {
                semver::Version::parse(&m.manifest.version)
                    .ok()
                    .map(|v| (m.manifest.node_type.clone(), v))
            })
            .collect();
        let contenders: Vec<resolve::Contender<'_>> = pending
            .iter()
            .map(|p| resolve::Contender {
                label: p.path.display().to_string(),
                manifest: &p.manifest,
            })
            .collect();
        let resolution = resolve::resolve(&contenders, &existing);
        drop(contenders);

        let mut slots: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
        for (&index, rejection) in &resolution.rejected {
            if let Some(p) = slots[index].take() {
                let mut file = FileReport::rejected(p.path, rejection.clone(), p.timings);
                file.from_cache = matches!(p.kind, PendingKind::Cached(_));
                report.files.push(file);
            }
        }
        for &index in &resolution.order {
            let Some(p) = slots[index].take() else {
                continue;
            };
            let shadowed = resolution.shadowed.get(&index).cloned().unwrap_or_default();
            report.files.push(register_plugin(registry, p, shadowed));
        }

        report.files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in &report.files {
            match &file.outcome {
                FileOutcome::Loaded {
                    plugin, node_types, ..
                } => tracing::info!(
                    component = "loader", event = "plugin_loaded", path = %file.path.display(),
                    plugin = %plugin, node_types = node_types.len()
                ),
                FileOutcome::Rejected { reason, message } => tracing::warn!(
                    component = "loader", event = "plugin_rejected", path = %file.path.display(),
                    reason = %reason, "{message}"
                ),
            }
        }
        report.totals = Totals {
            candidates: report.files.len(),
            loaded: report.files.iter().filter(|f| f.is_loaded()).count(),
            rejected: report.files.iter().filter(|f| !f.is_loaded()).count(),
            node_types: report
                .files
                .iter()
                .map(|f| match &f.outcome {
                    FileOutcome::Loaded { node_types, .. } => node_types.len(),
                    FileOutcome::Rejected { .. } => 0,
                })
                .sum(),
            elapsed_us: micros(started.elapsed()),
        };
        report
    }

    /// Steps 3 and 4 for one file.
    #[allow(clippy::type_complexity)]
    fn load_one(
        &self,
        path: &std::path::Path,
        registry: &Registry,
    ) -> Result<
        (
            OpenedModule,
            Vec<(String, NodeExecutorBox)>,
            StepTimings,
            String,
        ),
        (Rejection, StepTimings),
    > {
        let mut timings = StepTimings::default();
        let t = Instant::now();
        let checked = precheck::precheck(path, &self.config);
        timings.precheck_us = micros(t.elapsed());
        let checked = checked.map_err(|r| (r, timings))?;

        let t = Instant::now();
        let module = open::open_library(path, &checked.root_symbol);
        timings.open_us = micros(t.elapsed());
        let module = module.map_err(|r| (r, timings))?;

        let t = Instant::now();
        let loaded = open::read_manifest(module, registry_core::plugin_host::dynamic_plugin_services(), registry)
            .and_then(|opened| {
                open::create_executors(&opened, self.config.validate_on_load).map(|ex| (opened, ex))
            });
        timings.manifest_us = micros(t.elapsed());
        let (opened, executors) = loaded.map_err(|r| (r, timings))?;

        let spent = t.elapsed() + std::time::Duration::from_micros(timings.open_us);
        if spent > self.config.max_load_time {
            return Err((
                Rejection::new(
                    RejectReason::LoadTimeout,
                    format!(
                        "loading took {} ms, over the {} ms maximum; raise `max-load-time-ms` or fix the plugin's start-up",
                        spent.as_millis(),
                        self.config.max_load_time.as_millis()
                    ),
                ),
                timings,
            ));
        }
        Ok((opened, executors, timings, checked.root_symbol))
    }

    /// Size, modification time and SHA-256 of a candidate; the hash is
    /// taken from the cache when trusting size and time is configured and
    /// they match. `None` when the file cannot be read (it is then loaded,
    /// or rejected, without the cache).
    fn identify(
        &self,
        canonical: &std::path::Path,
        cache: &cache::CacheFile,
    ) -> Option<(u64, u128, String)> {
        let (size, mtime) = cache::stat(canonical).ok()?;
        let known = cache.entries.get(canonical);
        let sha = match known {
            Some(entry)
                if self.config.trust_size_mtime
                    && entry.size == size
                    && entry.mtime_ns == mtime =>
            {
                entry.sha256.clone()
            }
            _ => digest::sha256_file(canonical).ok()?,
        };
        Some((size, mtime, sha))
    }
}

fn register_plugin(registry: &Registry, pending: Pending, shadowed: Vec<String>) -> FileReport {
    let t = Instant::now();
    let Pending {
        path,
        canonical,
        manifest,
        kind,
        mut timings,
    } = pending;
    let source = NodeSource::Library {
        plugin: manifest.name.clone(),
        plugin_version: manifest.version.clone(),
        path: canonical,
    };
    let from_cache = matches!(kind, PendingKind::Cached(_));
    let executors = match kind {
        PendingKind::Opened(executors) => executors,
        PendingKind::Cached(library) => manifest
            .node_types
            .iter()
            .map(|n| (n.node_type.clone(), lazy::executor(&library, &n.node_type)))
            .collect(),
    };
    let outcome = register_executors(registry, &manifest, executors, &shadowed, source);
    timings.register_us = micros(t.elapsed());
    match outcome {
        Ok(node_types) => FileReport {
            path,
            outcome: FileOutcome::Loaded {
                plugin: manifest.name,
                version: manifest.version,
                node_types,
                shadowed,
            },
            timings,
            from_cache,
        },
        Err(rejection) => FileReport::rejected(path, rejection, timings),
    }
}

/// Registers every non-shadowed node type; all or nothing.
fn register_executors(
    registry: &Registry,
    manifest: &plugin_abi::manifest::PluginManifest,
    executors: Vec<(String, NodeExecutorBox)>,
    shadowed: &[String],
    source: NodeSource,
) -> Result<Vec<String>, Rejection> {
    let mut registered: Vec<String> = Vec::new();
    for (node_type, executor) in executors {
        if shadowed.contains(&node_type) {
            continue;
        }
        let Some(manifest) = manifest
            .node_types
            .iter()
            .find(|n| n.node_type == node_type)
        else {
            continue;
        };
        let metadata = NodeMetadata::new(manifest.clone(), source.clone());
        if let Err(e) = registry.register_with_metadata(executor, metadata) {
            for done in &registered {
                registry.unregister(done);
            }
            return Err(Rejection::new(
                RejectReason::RegistrationFailed,
                e.to_string(),
            ));
        }
        registered.push(node_type);
    }
    Ok(registered)
}

/// Registers a plugin linked statically into the host (the same code as its
/// shared library, without opening anything). Returns the node types
/// registered.
pub fn register_static_plugin(
    registry: &Registry,
    module: PluginModuleRef,
) -> Result<Vec<String>, Rejection> {
    let opened = open::read_manifest(module, registry_core::plugin_host::static_plugin_services(), registry)?;
    let executors = open::create_executors(&opened, false)?;
    let source = NodeSource::Static {
        plugin: opened.manifest.name.clone(),
        plugin_version: opened.manifest.version.clone(),
    };
    register_executors(registry, &opened.manifest, executors, &[], source)
}
