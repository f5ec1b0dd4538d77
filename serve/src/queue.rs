//! The shared queue of executions that many workers claim from: the
//! [`ExecutionQueue`] trait (implemented on PostgreSQL), and what goes in
//! and out of it.
//!
//! An execution is enqueued with its input in one transaction; a worker
//! claims a batch of due executions whose workflow and plugins it has
//! (the *fingerprint*), holds each with a lease it renews, and records
//! nodes and the end through the [`crate::ExecutionStore`] of the same
//! database. A lease that is not renewed expires and the execution goes
//! back to the queue, to resume from its recorded nodes on another worker.

use serde_json::Value;

use crate::store::{ExecutionRecord, StoreError};

/// An execution to enqueue.
pub struct Enqueue<'a> {
    /// The execution (status ignored: `queued`, or `running` when
    /// `claim`).
    pub record: &'a ExecutionRecord,
    /// The workflow-and-plugins fingerprint a worker must have to claim it.
    pub fingerprint: &'a str,
    /// Not before this time (ms since the epoch); `None`: now.
    pub due_at_ms: Option<u64>,
    /// Node outcomes recorded before it starts (a retry replays them).
    pub replay: &'a [(String, Value)],
    /// Claimed at once by this worker (it has a free slot).
    pub claim: bool,
    /// Announce its end (`NOTIFY plugflow_finished`): a caller waits for
    /// it and another process may run it.
    pub notify_end: bool,
}

/// A workflow with a limit of executions at once across all workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitedWorkflow {
    /// Its id.
    pub workflow_id: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// `maxConcurrentExecutions`.
    pub max: usize,
}

/// What a worker may claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Fingerprints of the workflows without a limit it can run.
    pub fingerprints: Vec<String>,
    /// The workflows with a limit it can run.
    pub limited: Vec<LimitedWorkflow>,
    /// At most this many.
    pub max: usize,
}

/// A claimed execution.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The execution, with its input and request.
    pub record: ExecutionRecord,
    /// Whether it has recorded nodes to replay (it ran before, or it is a
    /// retry).
    pub replay: bool,
    /// How long it waited in the queue, in ms (from due to claimed).
    pub waited_ms: f64,
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was still queued: it is now `cancelled`.
    CancelledQueued,
    /// It is running on a worker, which was told to cancel it.
    Requested,
    /// It has ended already (its status).
    NotRunning(String),
    /// The tenant has no such execution.
    Unknown,
}

/// How many executions wait and run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Queued and due.
    pub due: u64,
    /// Queued for later (a delay or a schedule).
    pub delayed: u64,
    /// Running on some worker.
    pub running: u64,
}

/// What a worker reports with each heartbeat.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// The executions it runs now: only their leases are renewed, so one
    /// it lost track of (a failed end record, say) expires and is resumed
    /// elsewhere instead of being held forever.
    pub executions: Vec<String>,
    /// Workflows it cannot run, with what is missing (shown to operators).
    pub unrunnable: Value,
}

/// The shared queue. Implementations are called from blocking threads.
pub trait ExecutionQueue: Send + Sync + 'static {
    /// This worker's id (leases name it).
    fn worker_id(&self) -> &str;
    /// Enqueues an execution (and its replayed nodes) in one transaction,
    /// waking idle workers.
    fn enqueue(&self, execution: &Enqueue<'_>) -> Result<(), StoreError>;
    /// Claims up to `request.max` due executions, oldest first, leased to
    /// this worker; never more running executions of a limited workflow
    /// than its limit, across all workers.
    fn claim(&self, request: &ClaimRequest) -> Result<Vec<Claimed>, StoreError>;
    /// Puts an execution this worker claimed back in the queue, untouched
    /// (it could not run it after all).
    fn release(&self, execution_id: &str) -> Result<(), StoreError>;
    /// Puts an execution this worker runs back in the queue, due at
    /// `due_at_ms`, with its recorded nodes to replay (a suspended wait).
    fn suspend(&self, execution_id: &str, due_at_ms: u64) -> Result<(), StoreError>;
    /// Renews this worker's leases and reports on it; returns the ids of
    /// its executions whose cancellation was asked for.
    fn heartbeat(&self, report: &WorkerReport) -> Result<Vec<String>, StoreError>;
    /// Sends executions whose lease expired (their worker died or lost the
    /// database) back to the queue — or, after `max_attempts` claims, ends
    /// them in `error`. Returns how many it sent back.
    fn expire_leases(&self, max_attempts: u32) -> Result<usize, StoreError>;
    /// Cancels an execution of `tenant`: at once when it is queued, by
    /// telling its worker when it runs.
    fn cancel(&self, tenant: &str, execution_id: &str) -> Result<CancelOutcome, StoreError>;
    /// How many executions wait and run.
    fn depth(&self) -> Result<QueueDepth, StoreError>;
}
