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

pub mod config;
pub mod isolate;
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
    opened: OpenedModule,
    executors: Vec<(String, NodeExecutorBox)>,
    timings: StepTimings,
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

        // Process isolation: every candidate is opened in a scanner child
        // first; only those that passed there are opened here.
        let isolated = (self.config.isolation == config::Isolation::Process).then(|| {
            let paths: Vec<PathBuf> = scanned.candidates.iter().map(|c| c.path.clone()).collect();
            isolate::scan_isolated(&self.config, &paths)
        });
        let mut pending = Vec::new();
        for candidate in scanned.candidates {
            if let Some(Some(Err(rejection))) = isolated.as_ref().map(|i| i.get(&candidate.path)) {
                report.files.push(FileReport::rejected(
                    candidate.path,
                    rejection.clone(),
                    StepTimings::default(),
                ));
                continue;
            }
            match self.load_one(&candidate.path, registry) {
                Ok((opened, executors, timings)) => pending.push(Pending {
                    path: candidate.path,
                    canonical: candidate.canonical,
                    opened,
                    executors,
                    timings,
                }),
                Err((rejection, timings)) => {
                    report
                        .files
                        .push(FileReport::rejected(candidate.path, rejection, timings))
                }
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
                manifest: &p.opened.manifest,
            })
            .collect();
        let resolution = resolve::resolve(&contenders, &existing);
        drop(contenders);

        let mut slots: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
        for (&index, rejection) in &resolution.rejected {
            if let Some(p) = slots[index].take() {
                report
                    .files
                    .push(FileReport::rejected(p.path, rejection.clone(), p.timings));
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
    ) -> Result<(OpenedModule, Vec<(String, NodeExecutorBox)>, StepTimings), (Rejection, StepTimings)>
    {
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
        let loaded = open::read_manifest(module, HostServices::for_dynamic_plugin(), registry)
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
        Ok((opened, executors, timings))
    }
}

fn register_plugin(registry: &Registry, pending: Pending, shadowed: Vec<String>) -> FileReport {
    let t = Instant::now();
    let Pending {
        path,
        canonical,
        opened,
        executors,
        mut timings,
    } = pending;
    let source = NodeSource::Library {
        plugin: opened.manifest.name.clone(),
        plugin_version: opened.manifest.version.clone(),
        path: canonical,
    };
    let outcome = register_executors(registry, &opened, executors, &shadowed, source);
    timings.register_us = micros(t.elapsed());
    match outcome {
        Ok(node_types) => FileReport {
            path,
            outcome: FileOutcome::Loaded {
                plugin: opened.manifest.name,
                version: opened.manifest.version,
                node_types,
                shadowed,
            },
            timings,
        },
        Err(rejection) => FileReport::rejected(path, rejection, timings),
    }
}

/// Registers every non-shadowed node type; all or nothing.
fn register_executors(
    registry: &Registry,
    opened: &OpenedModule,
    executors: Vec<(String, NodeExecutorBox)>,
    shadowed: &[String],
    source: NodeSource,
) -> Result<Vec<String>, Rejection> {
    let mut registered: Vec<String> = Vec::new();
    for (node_type, executor) in executors {
        if shadowed.contains(&node_type) {
            continue;
        }
        let Some(manifest) = opened
            .manifest
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
    let opened = open::read_manifest(module, HostServices::for_static_plugin(), registry)?;
    let executors = open::create_executors(&opened, false)?;
    let source = NodeSource::Static {
        plugin: opened.manifest.name.clone(),
        plugin_version: opened.manifest.version.clone(),
    };
    register_executors(registry, &opened, executors, &[], source)
}
