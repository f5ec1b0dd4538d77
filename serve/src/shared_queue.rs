//! The service's side of the shared queue (PostgreSQL): enqueueing, what
//! this process may claim, callers waiting for executions other processes
//! run, and cancels that arrive from elsewhere.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use plugflow_engine::Resume;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::catalog::Entry;
use crate::queue::{ClaimRequest, Enqueue, ExecutionQueue, LimitedWorkflow};
use crate::service::{now_ms, NotAccepted, Run, Service, Waiter};
use crate::store::{ExecutionRecord, StoreError};

impl Service {
    /// Runs `work` against the queue on the blocking pool.
    ///
    /// # Errors
    ///
    /// No queue is configured, the queue's error, or the blocking task's
    /// failure, as a [`StoreError`].
    pub(crate) async fn with_queue<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ExecutionQueue) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(queue) = self.queue.clone() else {
            return Err(StoreError::Failed("no shared queue is configured".into()));
        };
        match tokio::task::spawn_blocking(move || work(queue.as_ref())).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::Failed(e.to_string())),
        }
    }
    /// `entry`'s fingerprint here, or the node types no plugin provides.
    pub(crate) fn fingerprint(&self, entry: &Entry) -> Result<String, Vec<String>> {
        self.fingerprints.of(entry, self.registry())
    }
    /// What this process may claim now, for `max` free slots.
    pub(crate) fn claim_request(&self, max: usize) -> ClaimRequest {
        let mut request = ClaimRequest {
            max,
            ..ClaimRequest::default()
        };
        for entry in self.catalog().all() {
            let Ok(fingerprint) = self.fingerprint(entry) else {
                continue;
            };
            match entry.compiled.workflow.settings.max_concurrent_executions {
                Some(limit) => request.limited.push(LimitedWorkflow {
                    workflow_id: entry.id.clone(),
                    fingerprint,
                    max: limit.max(1),
                }),
                None => request.fingerprints.push(fingerprint),
            }
        }
        request
    }
    /// The workflows this process cannot run, with the node types no
    /// plugin here provides (for `/health/ready` and `/metrics`).
    pub(crate) fn unrunnable(&self) -> Vec<(String, Vec<String>)> {
        self.catalog()
            .all()
            .filter_map(|entry| {
                self.fingerprint(entry)
                    .err()
                    .map(|missing| (entry.id.clone(), missing))
            })
            .collect()
    }
    /// A receiver for the end of `execution_id`, run elsewhere.
    fn wait_for(&self, tenant: &str, execution_id: &str) -> oneshot::Receiver<Value> {
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(execution_id.to_owned())
            .or_insert_with(|| Waiter {
                tenant: tenant.to_owned(),
                senders: Vec::new(),
            })
            .senders
            .push(sender);
        receiver
    }
    /// Hands `finished` to the callers waiting for `execution_id`.
    pub(crate) fn deliver(&self, execution_id: &str, finished: &Value) {
        let waiter = self
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(execution_id);
        for sender in waiter.into_iter().flat_map(|w| w.senders) {
            let _ = sender.send(finished.clone());
        }
    }
    /// An execution ended on some worker (a `NOTIFY`): its waiters here,
    /// if any, get it as the store has it. With no id (the listener
    /// reconnected and may have missed some), every waiter is checked.
    pub(crate) async fn ended_elsewhere(self: &Arc<Self>, execution_id: Option<String>) {
        let wanted: Vec<(String, String)> = {
            let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            match &execution_id {
                Some(id) => waiters
                    .get(id)
                    .map(|w| vec![(w.tenant.clone(), id.clone())])
                    .unwrap_or_default(),
                None => waiters
                    .iter()
                    .map(|(id, w)| (w.tenant.clone(), id.clone()))
                    .collect(),
            }
        };
        for (tenant, id) in wanted {
            let (t, i) = (tenant, id.clone());
            let Ok(Some(record)) = self.with_store(move |store| store.get(&t, &i)).await else {
                continue;
            };
            if matches!(record.status.as_str(), "queued" | "running") {
                continue;
            }
            let finished = json!({
                "executionId": record.execution_id,
                "status": record.status,
                "finishedAtMs": record.finished_at_ms,
                "error": record.error,
                "result": record.result,
            });
            self.deliver(&id, &finished);
        }
    }
    /// Whether new executions must be refused: too many wait for a slot
    /// here, or (shared queue) too many are due and unclaimed.
    pub(crate) fn is_busy(&self) -> bool {
        if self.queue.is_some() {
            let due = self
                .depth
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .due;
            return usize::try_from(due).unwrap_or(usize::MAX) >= self.config.queue;
        }
        self.waiting.load(Ordering::Relaxed) >= self.config.queue
    }
    /// Enqueues `record` in the shared queue — claimed at once by this
    /// process when it has a free slot and the workflow no limit across
    /// workers — and returns a receiver for its end.
    pub(crate) async fn enqueue(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        record: ExecutionRecord,
        resume: Option<Arc<Resume>>,
        due_at_ms: Option<u64>,
        wait: bool,
    ) -> Result<oneshot::Receiver<Value>, NotAccepted> {
        let fingerprint = self.fingerprint(&entry).map_err(|missing| {
            NotAccepted::Unrunnable(format!(
                "workflow `{}` uses node types no plugin here provides: {}",
                entry.id,
                missing.join(", ")
            ))
        })?;
        let later = due_at_ms.filter(|due| *due > now_ms());
        let permit = (self.local_workers > 0 && entry.slots.is_none() && later.is_none())
            .then(|| Arc::clone(self.slots()).try_acquire_owned().ok())
            .flatten();
        let claim = permit.is_some();
        let replay: Vec<(String, Value)> = resume
            .iter()
            .flat_map(|r| r.completed.iter())
            .map(|(node, recorded)| {
                (
                    node.clone(),
                    serde_json::to_value(recorded).unwrap_or(Value::Null),
                )
            })
            .collect();
        // Waiting starts before the enqueue, so an end elsewhere is never
        // missed.
        let waiting = (!claim).then(|| self.wait_for(&record.tenant, &record.execution_id));
        let (tenant, execution_id) = (record.tenant.clone(), record.execution_id.clone());
        let (input, request) = (
            record.input.clone().unwrap_or(Value::Null),
            record.request.clone().unwrap_or(Value::Null),
        );
        let enqueued = self
            .with_queue(move |queue| {
                queue.enqueue(&Enqueue {
                    record: &record,
                    fingerprint: &fingerprint,
                    due_at_ms: later,
                    replay: &replay,
                    claim,
                    // Another process may finish it: its end is announced
                    // when a caller here waits for it.
                    notify_end: wait && !claim,
                })
            })
            .await;
        if let Err(e) = enqueued {
            self.waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&execution_id);
            return Err(NotAccepted::Store(e.to_string()));
        }
        self.counters
            .executions_started
            .fetch_add(1, Ordering::Relaxed);
        match (permit, waiting) {
            (Some(permit), _) => Ok(self.launch(
                entry,
                Run {
                    tenant,
                    execution_id,
                    input,
                    request,
                    resume,
                    unrecorded: None,
                },
                Some(permit),
            )),
            (None, Some(waiting)) => Ok(waiting),
            (None, None) => Err(NotAccepted::Store("nothing waits for the execution".into())),
        }
    }

    /// Puts a running execution back in the queue until `due_at_ms` (a
    /// long `wait` suspended it), its recorded nodes to be replayed.
    pub(crate) async fn suspend(&self, execution_id: &str, due_at_ms: u64) {
        let id = execution_id.to_owned();
        match self
            .with_queue(move |queue| queue.suspend(&id, due_at_ms))
            .await
        {
            Ok(()) => tracing::info!(
                component = "serve",
                execution_id,
                due_at_ms,
                "suspended until its wait is over"
            ),
            Err(e) => tracing::error!(
                component = "serve",
                execution_id,
                "could not suspend an execution (its lease expires and it resumes elsewhere): {e}"
            ),
        }
    }
}
