//! The discovery pipeline as a sequence of steps, each in its own module:
//! scan → cache → load → resolve → register → report.

use std::collections::HashMap;
use std::time::Instant;

use std::sync::Arc;

use plugin_host::PluginHosts;
use registry_core::Registry;

use crate::config::DiscoveryConfig;
use crate::pending::Pending;
use crate::register::register_plugin;
use crate::report::{micros, DiscoveryReport, FileOutcome, FileReport, Totals};
use crate::{cached, load, resolve, scan};

/// Runs discovery with one configuration, and supervises the plugin-host
/// processes of the plugins it registers on the process tier.
#[derive(Debug, Clone)]
pub struct Loader {
    config: DiscoveryConfig,
    hosts: Arc<PluginHosts>,
}

impl Default for Loader {
    fn default() -> Self {
        Self::new(DiscoveryConfig::default())
    }
}

impl Loader {
    /// A loader for `config`.
    pub fn new(config: DiscoveryConfig) -> Self {
        let hosts = PluginHosts::new(config.plugin_host.clone());
        Self { config, hosts }
    }

    /// A loader for `config` whose process-tier plugins join the plugin
    /// hosts of `hosts` (a rescan keeps the processes of unchanged
    /// libraries).
    pub fn with_plugin_hosts(config: DiscoveryConfig, hosts: Arc<PluginHosts>) -> Self {
        Self { config, hosts }
    }

    /// The supervisor of the plugin-host processes of the plugins this
    /// loader registered (status, quarantine, events).
    pub fn plugin_hosts(&self) -> &Arc<PluginHosts> {
        &self.hosts
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
        for issue in &scanned.issues {
            tracing::warn!(component = "loader", event = "scan_issue", path = %issue.path.display(), "{}", issue.message);
        }
        report.issues = scanned.issues;

        let mut cache = cached::open(&self.config);
        let answers = cached::consult(&self.config, cache.as_mut(), scanned.candidates);
        let mut pending = answers.pending;
        report.files.extend(answers.rejected);

        let (loaded, rejected) =
            load::load_fresh(&self.config, registry, answers.fresh, cache.as_mut());
        pending.extend(loaded);
        report.files.extend(rejected);
        if let Some(cache) = &cache {
            cached::save(&self.config, cache);
        }

        report
            .files
            .extend(self.resolve_and_register(registry, pending));
        report.files.sort_by(|a, b| a.path.cmp(&b.path));
        log_outcomes(&report.files);
        report.totals = totals(&report.files, micros(started.elapsed()));
        report
    }
}

impl Loader {
    /// Steps 5 to 7: conflicts and dependencies against what is already
    /// registered, then registration in dependency order.
    fn resolve_and_register(&self, registry: &Registry, pending: Vec<Pending>) -> Vec<FileReport> {
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

        let mut files = Vec::new();
        let mut slots: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
        for (&index, rejection) in &resolution.rejected {
            if let Some(p) = slots[index].take() {
                let from_cache = p.is_cached();
                let mut file = FileReport::rejected(p.path, rejection.clone(), p.timings);
                file.from_cache = from_cache;
                files.push(file);
            }
        }
        for &index in &resolution.order {
            let Some(p) = slots[index].take() else {
                continue;
            };
            let shadowed = resolution.shadowed.get(&index).cloned().unwrap_or_default();
            let tier = self.config.tier_of(&p.manifest.name);
            files.push(register_plugin(registry, p, shadowed, tier, &self.hosts));
        }
        files
    }
}

fn log_outcomes(files: &[FileReport]) {
    for file in files {
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
}

fn totals(files: &[FileReport], elapsed_us: u64) -> Totals {
    Totals {
        candidates: files.len(),
        loaded: files.iter().filter(|f| f.is_loaded()).count(),
        rejected: files.iter().filter(|f| !f.is_loaded()).count(),
        node_types: files
            .iter()
            .map(|f| match &f.outcome {
                FileOutcome::Loaded { node_types, .. } => node_types.len(),
                FileOutcome::Rejected { .. } => 0,
            })
            .sum(),
        elapsed_us,
    }
}
