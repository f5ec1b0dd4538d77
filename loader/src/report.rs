//! Step 7: the discovery report.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::reason::{RejectReason, Rejection};
use crate::scan::ScanIssue;

/// Time spent per step on one file, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTimings {
    /// Pre-load checks (stat, permissions, digest, export table).
    pub precheck_us: u64,
    /// Opening the library and abi_stable's header, version, layout checks.
    pub open_us: u64,
    /// `init`, manifest parsing and validation, executor creation.
    pub manifest_us: u64,
    /// Registration into the registry.
    pub register_us: u64,
}

/// Converts a duration to whole microseconds (saturating).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What happened to one candidate file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum FileOutcome {
    /// Loaded and registered.
    #[serde(rename = "loaded")]
    Loaded {
        /// The plugin's name.
        plugin: String,
        /// The plugin's version.
        version: String,
        /// Node types registered from it.
        node_types: Vec<String>,
        /// Node types it also provides that another plugin won.
        shadowed: Vec<String>,
    },
    /// Rejected.
    #[serde(rename = "rejected")]
    Rejected {
        /// The stable reason code.
        reason: RejectReason,
        /// What is wrong and what to do.
        message: String,
    },
}

/// One candidate file's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The path as found.
    pub path: PathBuf,
    /// Loaded or rejected.
    #[serde(flatten)]
    pub outcome: FileOutcome,
    /// Per-step timings.
    pub timings: StepTimings,
    /// Known from the persistent cache: not opened at start-up (its node
    /// types open the library on first use), or skipped as quarantined.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_cache: bool,
}

impl FileReport {
    /// The rejection reason, if rejected.
    pub fn reason(&self) -> Option<RejectReason> {
        match &self.outcome {
            FileOutcome::Rejected { reason, .. } => Some(*reason),
            FileOutcome::Loaded { .. } => None,
        }
    }

    /// Whether the file was loaded.
    pub fn is_loaded(&self) -> bool {
        matches!(self.outcome, FileOutcome::Loaded { .. })
    }

    pub(crate) fn rejected(path: PathBuf, rejection: Rejection, timings: StepTimings) -> Self {
        Self {
            path,
            outcome: FileOutcome::Rejected {
                reason: rejection.reason,
                message: rejection.message,
            },
            timings,
            from_cache: false,
        }
    }
}

/// Totals over the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Candidate files found.
    pub candidates: usize,
    /// Files loaded.
    pub loaded: usize,
    /// Files rejected.
    pub rejected: usize,
    /// Node types registered.
    pub node_types: usize,
    /// Wall time of the whole discovery, microseconds.
    pub elapsed_us: u64,
}

/// The result of one discovery run: every candidate file with its outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryReport {
    /// One entry per candidate, in scan order.
    pub files: Vec<FileReport>,
    /// Problems with directories or patterns.
    pub issues: Vec<ScanIssue>,
    /// Totals.
    pub totals: Totals,
}

impl DiscoveryReport {
    /// The entry for the file whose name is `file_name`, if any.
    pub fn file(&self, file_name: &str) -> Option<&FileReport> {
        self.files
            .iter()
            .find(|f| f.path.file_name().is_some_and(|n| n == file_name))
    }
}
