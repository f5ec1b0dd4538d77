//! Progress reporting: a hook the engine calls as each node reaches its
//! final status, so a front end (the CLI's progress bar, a service's
//! event stream) can follow a long run without polling.

use std::fmt;
use std::sync::Arc;

use registry_core::NodeStatus;

/// One node reaching its final status.
#[derive(Debug, Clone, Copy)]
pub struct NodeProgress<'a> {
    /// The node's id.
    pub node_id: &'a str,
    /// Its final status (`success`, `error`, `skipped`).
    pub status: NodeStatus,
    /// Nodes with a final status so far, this one included.
    pub done: usize,
    /// Nodes in the workflow.
    pub total: usize,
}

/// Receives [`NodeProgress`] events. Called on the engine's task, between
/// nodes: keep it quick (update a counter, send on a channel).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use plugflow_engine::{NodeProgress, ProgressObserver};
///
/// #[derive(Default)]
/// struct Count(AtomicUsize);
/// impl ProgressObserver for Count {
///     fn node_finished(&self, progress: NodeProgress<'_>) {
///         self.0.store(progress.done, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait ProgressObserver: Send + Sync {
    /// A node reached its final status.
    fn node_finished(&self, progress: NodeProgress<'_>);

    /// A node is about to run (not told for replayed or skipped nodes).
    /// A durable host records it, so that after a crash it knows the node
    /// was in flight.
    fn node_started(&self, _node_id: &str) {}

    /// A node ran, with its full outcome: what a durable host records so
    /// that a resumed execution replays it instead of running it again
    /// ([`RecordedNode`](crate::RecordedNode) reads this JSON back).
    fn node_executed(&self, _node_id: &str, _execution: &registry_core::NodeExecution) {}
}

/// A shared [`ProgressObserver`], as [`RunOptions::progress`](super::RunOptions) holds it.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn ProgressObserver>);

impl Progress {
    /// Wraps an observer.
    pub fn new(observer: impl ProgressObserver + 'static) -> Self {
        Self(Arc::new(observer))
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}
