//! What an engine and one execution are configured with.

use std::sync::Arc;
use std::time::Duration;

use plugin_abi::request::ExecContext;
use serde_json::{Map, Value};

use crate::progress::Progress;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Environment variables `$env` may read; every other name is
    /// undefined, so no secret leaks through a template.
    pub env_allowlist: Vec<String>,
    /// Nodes running at once when a workflow does not say
    /// (`settings.maxConcurrency`).
    pub default_max_concurrency: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            env_allowlist: Vec::new(),
            default_max_concurrency: std::thread::available_parallelism()
                .map_or(4, |n| n.get() * 4),
        }
    }
}

/// Cancels a running execution from anywhere.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    sender: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for CancelHandle {
    fn default() -> Self {
        Self {
            sender: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl CancelHandle {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation: running nodes are abandoned, every node's
    /// final status is recorded, the result's status is `cancelled`.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    pub(crate) async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// One execution's inputs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The trigger data: `$json` (and `$trigger`) in every node, and the
    /// input (`$input`) of start nodes.
    pub trigger: Value,
    /// Tenant, user, execution id. A workflow that declares a `tenantId`
    /// runs as that tenant when none is given here; an empty execution id
    /// is replaced by a generated one.
    pub context: ExecContext,
    /// Values of the workflow's declared variables
    /// (`$workflow.variables.<name>`), over their defaults.
    pub variables: Map<String, Value>,
    /// References that resolve to nothing are errors, as with
    /// `settings.strictTemplates`.
    pub strict: bool,
    /// A handle to cancel the execution.
    pub cancel: Option<CancelHandle>,
    /// Overrides `settings.executionTimeout`.
    pub timeout: Option<Duration>,
    /// Told as each node reaches its final status.
    pub progress: Option<Progress>,
    /// Resumes an interrupted execution: recorded nodes are replayed, not
    /// run. Use the interrupted execution's id in `context`.
    pub resume: Option<std::sync::Arc<crate::resume::Resume>>,
    /// The HTTP request that triggered the execution (a webhook's method,
    /// path, query and headers), as `$context.request`; `null`: none.
    pub request: Value,
    /// A retry backoff longer than this suspends the execution instead of
    /// waiting: the node fails with
    /// [`retry_at_ms`](registry_core::NodeExecution::retry_at_ms) set and
    /// the run stops there, for a host that keeps executions durably to
    /// resume it when the retry is due (with
    /// [`Resume::retries`](crate::Resume::retries)). Only when the
    /// context is `resumable`; `None`: every backoff waits.
    pub suspend_retries_after: Option<Duration>,
}

impl RunOptions {
    /// Completes when the run's cancel handle is cancelled; never without
    /// one.
    pub(crate) async fn cancelled(&self) {
        match &self.cancel {
            Some(handle) => handle.cancelled().await,
            None => std::future::pending().await,
        }
    }
}
