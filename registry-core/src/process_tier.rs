//! The process tier: node types whose calls run in a supervised
//! plugin-host process instead of this one, so a plugin that aborts,
//! dereferences null, leaks or spins ends that process, not the host.
//! The `plugin-host` crate supervises the processes; the registry only
//! routes calls to them ([`HostCall`]) and holds which tier a node type
//! runs on by default ([`ProcessTier`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::NodeFailure;

/// Where a plugin's node types execute.
///
/// ```
/// use registry_core::ExecutionTier;
/// let tier: ExecutionTier = serde_json::from_str("\"process\"").unwrap();
/// assert_eq!(tier, ExecutionTier::Process);
/// assert_eq!(ExecutionTier::default(), ExecutionTier::InProcess);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionTier {
    /// In the host process: fastest; a crash in the plugin ends the host.
    #[default]
    InProcess,
    /// In a supervised plugin-host child process: a crash, abort, exit or
    /// hang ends that child only and becomes the node's error.
    Process,
}

impl ExecutionTier {
    /// `"in-process"` or `"process"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionTier::InProcess => "in-process",
            ExecutionTier::Process => "process",
        }
    }
}

impl std::fmt::Display for ExecutionTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call into a plugin-host process, implemented by the supervisor of
/// the `plugin-host` crate.
pub trait HostCall: Send + Sync {
    /// Runs `node_type` on the request frame `request` (see
    /// [`plugin_abi::wire`]) in the library's host process, appending the
    /// output frame to `output`.
    ///
    /// `tenant` picks the process: `None` the library's shared host,
    /// `Some` a host of the library for that tenant alone (a tenant
    /// policy's `pluginIsolation`). The call must return within `timeout`
    /// plus the time it takes to kill a hung process: a call that has not
    /// answered by then is `EXECUTION_TIMEOUT` and its process is killed;
    /// a process that dies is `PLUGIN_CRASHED`; a quarantined plugin is
    /// `PLUGIN_QUARANTINED`.
    fn call(
        &self,
        tenant: Option<&str>,
        node_type: &str,
        request: &[u8],
        output: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<(), NodeFailure>;
}

/// A node type's way into the process tier, and the tier it runs on when
/// no tenant policy forces the process tier.
#[derive(Clone)]
pub struct ProcessTier {
    /// The supervisor's handle for the node type's library.
    pub host: Arc<dyn HostCall>,
    /// The tier for tenants whose policy does not force one.
    pub default: ExecutionTier,
}

impl std::fmt::Debug for ProcessTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessTier")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}
