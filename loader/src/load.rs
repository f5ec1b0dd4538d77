//! Steps 3 and 4 for files the cache did not answer: precheck, open, read
//! the manifest and create executors, optionally after a scanner child
//! opened each file first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::open::CreatedExecutor;
use plugin_abi::manifest::PluginManifest;
use registry_core::{ExecutionTier, Registry};

use crate::cache::{CacheFile, CachedOutcome};
use crate::config::{DiscoveryConfig, Isolation};
use crate::open;
use crate::pending::{Fresh, LibraryFile, Pending, PendingKind};
use crate::reason::{RejectReason, Rejection};
use crate::report::{micros, FileReport, StepTimings};
use crate::{cached, isolate, precheck};

/// A library that passed: opened in this process with its executors, or
/// (process tier) read in a scanner child only; with the root symbol the
/// cache records.
struct Loaded {
    manifest: PluginManifest,
    /// `None`: not opened here; its node types run in plugin-host processes.
    executors: Option<Vec<CreatedExecutor>>,
    timings: StepTimings,
    root_symbol: String,
}

/// Loads every fresh file; returns the plugins that passed and the files
/// rejected. Outcomes worth remembering are recorded in `cache`.
pub(crate) fn load_fresh(
    config: &DiscoveryConfig,
    registry: &Registry,
    fresh: Vec<Fresh>,
    mut cache: Option<&mut CacheFile>,
) -> (Vec<Pending>, Vec<FileReport>) {
    // Process isolation: every file not known from the cache is opened in
    // a scanner child first; only those that passed are opened here, and
    // not even those when their plugin executes on the process tier.
    let scan_first = config.isolation == Isolation::Process || config.may_use_process_tier();
    let isolated = scan_first.then(|| {
        let paths: Vec<PathBuf> = fresh.iter().map(|f| f.candidate.path.clone()).collect();
        isolate::scan_isolated(config, &paths)
    });
    let mut pending = Vec::new();
    let mut rejected = Vec::new();
    for Fresh {
        candidate,
        identity,
    } in fresh
    {
        let outcome = match isolated.as_ref().and_then(|i| i.get(&candidate.path)) {
            Some(Err(rejection)) => Err((rejection.clone(), StepTimings::default())),
            Some(Ok(manifest)) if config.tier_of(&manifest.name) == ExecutionTier::Process => {
                hosted_one(config, &candidate.path, manifest.clone())
            }
            _ => load_one(config, &candidate.path, registry),
        };
        let sha256 = identity.as_ref().map(|(_, _, sha)| sha.clone());
        if let (Some(cache), Some(identity), Some(remembered)) =
            (cache.as_deref_mut(), identity, remembered(&outcome))
        {
            cached::record(cache, &candidate.canonical, identity, remembered);
        }
        match outcome {
            Ok(loaded) => pending.push(Pending {
                path: candidate.path,
                canonical: candidate.canonical,
                manifest: loaded.manifest,
                kind: loaded
                    .executors
                    .map_or(PendingKind::Hosted, PendingKind::Opened),
                file: LibraryFile {
                    root_symbol: loaded.root_symbol,
                    sha256: sha256.clone(),
                },
                timings: loaded.timings,
            }),
            Err((rejection, timings)) => {
                rejected.push(FileReport::rejected(candidate.path, rejection, timings))
            }
        }
    }
    (pending, rejected)
}

/// What the cache keeps of an outcome. A file that could not be read may
/// be readable next time, so that is not kept.
fn remembered(outcome: &Result<Loaded, (Rejection, StepTimings)>) -> Option<CachedOutcome> {
    match outcome {
        Ok(loaded) => Some(CachedOutcome::Loaded {
            manifest: loaded.manifest.clone(),
            root_symbol: loaded.root_symbol.clone(),
        }),
        Err((rejection, _)) if rejection.reason != RejectReason::ReadFailed => {
            Some(CachedOutcome::Rejected {
                rejection: rejection.clone(),
            })
        }
        Err(_) => None,
    }
}

/// Precheck, open, manifest and executors for one file, timed per step.
fn load_one(
    config: &DiscoveryConfig,
    path: &Path,
    registry: &Registry,
) -> Result<Loaded, (Rejection, StepTimings)> {
    let (checked, mut timings) = timed_precheck(config, path)?;

    let t = Instant::now();
    let module = open::open_library(path, &checked.root_symbol);
    timings.open_us = micros(t.elapsed());
    let module = module.map_err(|r| (r, timings))?;

    let t = Instant::now();
    let loaded = open::read_manifest(
        module,
        registry_core::plugin_host::dynamic_plugin_services(),
        registry,
        open::Schemas::Compile,
    )
    .and_then(|opened| {
        open::create_executors(&opened, config.validate_on_load).map(|ex| (opened, ex))
    });
    timings.manifest_us = micros(t.elapsed());
    let (opened, executors) = loaded.map_err(|r| (r, timings))?;

    let spent = t.elapsed() + Duration::from_micros(timings.open_us);
    if spent > config.max_load_time {
        return Err((
            Rejection::new(
                RejectReason::LoadTimeout,
                format!(
                    "loading took {} ms, over the {} ms maximum; raise `max-load-time-ms` or fix the plugin's start-up",
                    spent.as_millis(),
                    config.max_load_time.as_millis()
                ),
            ),
            timings,
        ));
    }
    Ok(Loaded {
        manifest: opened.manifest,
        executors: Some(executors),
        timings,
        root_symbol: checked.root_symbol,
    })
}

/// A process-tier plugin the scanner child passed: only the pre-load
/// checks run here (they read the export table; none of its code runs).
fn hosted_one(
    config: &DiscoveryConfig,
    path: &Path,
    manifest: PluginManifest,
) -> Result<Loaded, (Rejection, StepTimings)> {
    let (checked, timings) = timed_precheck(config, path)?;
    Ok(Loaded {
        manifest,
        executors: None,
        timings,
        root_symbol: checked.root_symbol,
    })
}

/// Step 3, timed.
fn timed_precheck(
    config: &DiscoveryConfig,
    path: &Path,
) -> Result<(precheck::Checked, StepTimings), (Rejection, StepTimings)> {
    let mut timings = StepTimings::default();
    let t = Instant::now();
    let checked = precheck::precheck(path, config);
    timings.precheck_us = micros(t.elapsed());
    checked.map(|c| (c, timings)).map_err(|r| (r, timings))
}
