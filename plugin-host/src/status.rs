//! What the supervisor tells operators: each host process's state, and
//! events (start, crash, quarantine, clearance) for metrics and audit.

use std::path::PathBuf;

use registry_core::{AuditRecord, ErrorCode};
use serde::Serialize;

/// The state of one plugin host (a library, or a library for one tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// A child is running.
    Running,
    /// No child yet, or the last one ended cleanly; the next call starts one.
    Idle,
    /// The child crashed; the next one starts after the backoff.
    Restarting,
    /// Crashed too often; calls fail with `PLUGIN_QUARANTINED` until an
    /// operator clears it.
    Quarantined,
}

/// One plugin host as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    /// The plugin's name.
    pub plugin: String,
    /// Its library file.
    pub library: PathBuf,
    /// The tenant whose host it is (`None`: the library's shared host).
    pub tenant: Option<String>,
    /// Its state.
    pub state: HostState,
    /// The running child's process id.
    pub pid: Option<u32>,
    /// Children started so far.
    pub starts: u64,
    /// Crashes so far (aborts, signals, exits, hangs killed, failed starts).
    pub crashes: u64,
    /// Crashes within the current window.
    pub recent_crashes: u32,
    /// Why the last child ended, if one crashed.
    pub last_crash: Option<String>,
    /// Why it is quarantined, if it is.
    pub quarantined: Option<String>,
    /// Whether its children run in the sandbox.
    pub sandboxed: bool,
}

/// What happened to a plugin host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostEventKind {
    /// A child started and opened its library.
    Started,
    /// A child crashed, hung and was killed, or failed to start.
    Crashed,
    /// The plugin crossed the crash threshold and is quarantined.
    Quarantined,
    /// An operator cleared the quarantine.
    Cleared,
}

/// One event, for the host's metrics and audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostEvent {
    /// What happened.
    pub kind: HostEventKind,
    /// The plugin.
    pub plugin: String,
    /// The tenant whose host it is, if any.
    pub tenant: Option<String>,
    /// The child's process id, when there was one.
    pub pid: Option<u32>,
    /// Details (why it crashed, for instance).
    pub detail: String,
}

impl HostEvent {
    /// The audit record of a quarantine or its clearing (other events are
    /// not audited: they are logged and counted).
    pub fn audit_record(&self) -> Option<AuditRecord> {
        let status = match self.kind {
            HostEventKind::Quarantined => "plugin-quarantined",
            HostEventKind::Cleared => "plugin-cleared",
            HostEventKind::Started | HostEventKind::Crashed => return None,
        };
        Some(AuditRecord {
            seq: 0,
            time: String::new(),
            tenant_id: self.tenant.clone(),
            execution_id: String::new(),
            node_id: String::new(),
            node_type: format!("plugin:{}", self.plugin),
            status: status.to_owned(),
            duration_ms: 0.0,
            error_code: (self.kind == HostEventKind::Quarantined)
                .then(|| ErrorCode::PluginQuarantined.as_str().to_owned()),
            retries: 0,
            recovery_applied: false,
            prev_hash: String::new(),
            fenced: None,
        })
    }
}
