//! The service's state and its one operation: accept an execution of a
//! workflow for a tenant, record it, run it within the concurrency limit,
//! record its result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plugflow_engine::{
    new_execution_id, CancelHandle, Engine, ExecutionResult, Progress, Resume, RunOptions,
};
use plugin_abi::request::ExecContext;
use plugin_host::PluginHosts;
use registry_core::Registry;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use crate::auth::ApiKeys;
use crate::catalog::{Catalog, Entry};
use crate::config::ServeConfig;
use crate::counters::Counters;
use crate::fingerprint::Fingerprints;
use crate::postgres::PgStore;
use crate::queue::{ExecutionQueue, QueueDepth};
use crate::recorder::Recorder;
use crate::store::{Ending, ExecutionRecord, ExecutionStore, StoreError};

/// An execution in progress.
struct Running {
    tenant: String,
    cancel: CancelHandle,
}

/// Everything a request handler needs.
pub struct Service {
    pub(crate) engine: Engine,
    catalog: RwLock<Arc<Catalog>>,
    plugin_reloader: Option<PluginReloader>,
    plugin_status: Mutex<Value>,
    plugin_hosts: Mutex<Option<Arc<PluginHosts>>>,
    pub(crate) store: Arc<dyn ExecutionStore>,
    pub(crate) keys: ApiKeys,
    pub(crate) config: ServeConfig,
    pub(crate) counters: Counters,
    slots: Arc<Semaphore>,
    pub(crate) waiting: AtomicUsize,
    running: Mutex<HashMap<String, Running>>,
    /// The shared queue, when executions are stored in PostgreSQL.
    pub(crate) queue: Option<Arc<dyn ExecutionQueue>>,
    /// The PostgreSQL store (its pool's counters and connection settings).
    pub(crate) pg: Option<Arc<PgStore>>,
    /// Claim loops in this process (0: it only enqueues).
    pub(crate) local_workers: usize,
    /// Wakes the claim loops (a `NOTIFY`, a freed slot, a requeue).
    pub(crate) wake: Notify,
    /// Callers waiting for executions this process does not run.
    pub(crate) waiters: Mutex<HashMap<String, Waiter>>,
    pub(crate) fingerprints: Fingerprints,
    /// The queue's depth as last read.
    pub(crate) depth: Mutex<QueueDepth>,
}

/// Callers waiting for one execution's end.
pub(crate) struct Waiter {
    pub(crate) tenant: String,
    pub(crate) senders: Vec<oneshot::Sender<Value>>,
}

/// Scans the plugin directories again and registers what is new; returns
/// a summary for the reload's answer (given by the host, which knows the
/// discovery settings).
pub type PluginReloader = Box<dyn Fn() -> Value + Send + Sync>;

/// Why an execution was not accepted.
#[derive(Debug)]
pub enum NotAccepted {
    /// The queue is full: try again later.
    Busy,
    /// The store could not record it.
    Store(String),
    /// A node type of the workflow has no plugin here.
    Unrunnable(String),
    /// The request asks for what this service cannot do.
    Invalid(String),
}

/// An accepted execution: its id, and its result once it finishes.
pub struct Accepted {
    /// The execution's id.
    pub execution_id: String,
    /// The finished execution as the API shows it (`executionId`,
    /// `status`, `finishedAtMs`, `error`, `result`), once it ends.
    pub done: oneshot::Receiver<Value>,
}

/// An execution to run: whose, which, with what.
pub(crate) struct Run {
    pub(crate) tenant: String,
    pub(crate) execution_id: String,
    pub(crate) input: Value,
    pub(crate) request: Value,
    /// Recorded nodes to replay instead of running them.
    pub(crate) resume: Option<Arc<Resume>>,
    /// The execution's record when its start was not written (a
    /// synchronous run without progress recording): written whole when it
    /// ends.
    pub(crate) unrecorded: Option<ExecutionRecord>,
}

/// What a caller asks to run.
#[derive(Default)]
pub(crate) struct Submission {
    /// The trigger data.
    pub(crate) input: Value,
    /// The webhook request (`$context.request`), or null.
    pub(crate) request: Value,
    /// Nodes of a failed execution to replay (a retry).
    pub(crate) resume: Option<Resume>,
    /// Not before this time (ms since the epoch).
    pub(crate) due_at_ms: Option<u64>,
    /// The caller waits for the end.
    pub(crate) wait: bool,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Service {
    /// A service over `registry` with `catalog`'s workflows, recording in
    /// `store`.
    pub fn new(
        registry: Arc<Registry>,
        catalog: Catalog,
        store: Arc<dyn ExecutionStore>,
        keys: ApiKeys,
        config: ServeConfig,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_concurrent_executions.max(1)));
        Self {
            engine: Engine::new(registry),
            catalog: RwLock::new(Arc::new(catalog)),
            plugin_reloader: None,
            plugin_status: Mutex::new(Value::Null),
            plugin_hosts: Mutex::new(None),
            store,
            keys,
            config,
            counters: Counters::default(),
            slots,
            waiting: AtomicUsize::new(0),
            running: Mutex::new(HashMap::new()),
            queue: None,
            pg: None,
            local_workers: 1,
            wake: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            fingerprints: Fingerprints::default(),
            depth: Mutex::new(QueueDepth::default()),
        }
    }

    /// Stores executions in PostgreSQL through `pg`, which is also the
    /// shared queue, with `local_workers` claim loops in this process.
    /// Waits longer than `suspend-waits-after-ms` then suspend their
    /// execution until they are due, as queue rows.
    pub(crate) fn with_postgres(mut self, pg: Arc<PgStore>, local_workers: usize) -> Self {
        let mut wait = serde_json::Map::new();
        wait.insert(
            plugin_abi::suspend::AFTER_MS.into(),
            json!(self.config.suspend_waits_after_ms),
        );
        self.registry().set_node_config("wait", wait);
        self.store = Arc::clone(&pg) as Arc<dyn ExecutionStore>;
        self.queue = Some(Arc::clone(&pg) as Arc<dyn ExecutionQueue>);
        self.pg = Some(pg);
        self.local_workers = local_workers;
        self
    }

    /// The free execution slots of this process.
    pub(crate) fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// Runs `work` against the store on the blocking pool (store calls
    /// block: SQLite's are file I/O).
    ///
    /// # Errors
    ///
    /// The store's error, or the blocking task's failure, as text.
    pub(crate) async fn with_store<T, F>(&self, work: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ExecutionStore) -> Result<T, crate::store::StoreError> + Send + 'static,
    {
        match self.on_store(work).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs `work` against the store: on the blocking pool when its calls
    /// may block ([`ExecutionStore::blocks`]), in place otherwise.
    ///
    /// # Errors
    ///
    /// The blocking task's failure.
    async fn on_store<T, F>(&self, work: F) -> Result<T, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ExecutionStore) -> T + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        if store.blocks() {
            tokio::task::spawn_blocking(move || work(store.as_ref())).await
        } else {
            Ok(work(store.as_ref()))
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        self.engine.registry()
    }

    /// The workflows now. An execution keeps the version it started with.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What plugin discovery found (shown on the dashboard).
    pub fn plugin_status(&self) -> Value {
        self.plugin_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets what plugin discovery found.
    /// The supervisor of process-tier plugins, when the host set one.
    pub fn plugin_hosts(&self) -> Option<Arc<PluginHosts>> {
        self.plugin_hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_plugin_hosts(&self, hosts: Arc<PluginHosts>) {
        *self
            .plugin_hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(hosts);
    }

    pub(crate) fn set_plugin_status(&self, status: Value) {
        *self
            .plugin_status
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = status;
    }

    /// Sets what a reload runs to scan the plugin directories again.
    pub(crate) fn set_plugin_reloader(&mut self, reloader: PluginReloader) {
        self.plugin_reloader = Some(reloader);
    }

    /// Scans the plugin directories again (when the host gave a way to),
    /// then reads and compiles the workflows directory again and swaps the
    /// new workflows in at once. Running executions finish on the version
    /// they started with. Returns what was done, as the API answers it.
    pub fn reload(&self) -> Value {
        let plugins = self.plugin_reloader.as_ref().map(|reload| reload());
        if let Some(status) = &plugins {
            self.set_plugin_status(status.clone());
        }
        let (catalog, problems) = match &self.config.workflows {
            Some(dir) => Catalog::load(dir),
            None => (Catalog::default(), Vec::new()),
        };
        for problem in &problems {
            tracing::warn!(component = "serve", file = %problem.file, "workflow not served: {}", problem.message);
        }
        let workflows = catalog.len();
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
        tracing::info!(component = "serve", workflows, "reloaded");
        json!({
            "workflows": workflows,
            "problems": problems.iter().map(|p| json!({"file": p.file, "message": p.message})).collect::<Vec<_>>(),
            "plugins": plugins,
        })
    }

    /// Accepts an execution of `entry` as `tenant` with `input` as its
    /// trigger data: recorded as `running`, then run as soon as a slot is
    /// free.
    pub(crate) async fn start(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        tenant: &str,
        input: Value,
        request: Value,
        wait: bool,
    ) -> Result<Accepted, NotAccepted> {
        let submission = Submission {
            input,
            request,
            wait,
            ..Submission::default()
        };
        self.accept(entry, tenant, submission).await
    }

    /// [`Self::start`], not before `due_at_ms` (ms since the epoch): a row
    /// with a due time in the shared queue, which a restart never loses.
    pub(crate) async fn schedule(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        tenant: &str,
        input: Value,
        due_at_ms: u64,
        wait: bool,
    ) -> Result<Accepted, NotAccepted> {
        if self.queue.is_none() {
            return Err(NotAccepted::Invalid(
                "a delayed or scheduled execution (delayMs, runAtMs) needs the shared queue: configure `[database] url` (PostgreSQL)".into(),
            ));
        }
        let submission = Submission {
            input,
            due_at_ms: Some(due_at_ms),
            wait,
            ..Submission::default()
        };
        self.accept(entry, tenant, submission).await
    }

    /// [`Self::start`] (`wait`: the caller waits for the end), replaying
    /// `resume`'s recorded nodes instead of
    /// running them (a retry from the failed node). The replayed nodes are
    /// recorded for the new execution first, so it too resumes intact.
    pub(crate) async fn accept(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        tenant: &str,
        submission: Submission,
    ) -> Result<Accepted, NotAccepted> {
        let Submission {
            input,
            request,
            resume,
            due_at_ms,
            wait,
        } = submission;
        if self.is_busy() {
            self.counters.rejected_busy.fetch_add(1, Ordering::Relaxed);
            return Err(NotAccepted::Busy);
        }
        let execution_id = new_execution_id();
        let record = ExecutionRecord {
            execution_id: execution_id.clone(),
            tenant: tenant.to_owned(),
            workflow_id: entry.id.clone(),
            workflow_hash: entry.hash.clone(),
            status: "running".to_owned(),
            started_at_ms: now_ms(),
            finished_at_ms: None,
            input: Some(input.clone()),
            result: None,
            error: None,
            request: (!request.is_null()).then(|| request.clone()),
        };
        let resume = resume.map(Arc::new);
        if self.queue.is_some() {
            let done = self.enqueue(entry, record, resume, due_at_ms, wait).await?;
            return Ok(Accepted { execution_id, done });
        }
        // Without progress recording an interrupted execution is not
        // resumed; a caller who waits for it learns of its end (or of a
        // crash, as a broken connection), so its start need not be
        // written first: the whole record is written once, at its end.
        let deferred =
            wait && resume.is_none() && !entry.saves_progress(self.config.save_execution_progress);
        let unrecorded = if deferred {
            Some(record)
        } else {
            self.record_start(record, resume.clone()).await?;
            None
        };
        self.counters
            .executions_started
            .fetch_add(1, Ordering::Relaxed);
        let run = Run {
            tenant: tenant.to_owned(),
            execution_id: execution_id.clone(),
            input,
            request,
            resume,
            unrecorded,
        };
        let done = self.launch(entry, run, None);
        Ok(Accepted { execution_id, done })
    }

    /// Writes an accepted execution's start, and the nodes it replays.
    async fn record_start(
        &self,
        record: ExecutionRecord,
        replayed: Option<Arc<Resume>>,
    ) -> Result<(), NotAccepted> {
        self.with_store(move |store| {
            store.started(&record)?;
            for (node_id, recorded) in replayed.iter().flat_map(|r| r.completed.iter()) {
                let outcome = serde_json::to_value(recorded).unwrap_or(Value::Null);
                store.node_executed(&record.tenant, &record.execution_id, node_id, &outcome)?;
            }
            Ok(())
        })
        .await
        .map_err(NotAccepted::Store)
    }

    /// Runs an accepted (or interrupted) execution when a slot is free,
    /// recording each node as it starts and finishes, then its end.
    pub(crate) fn launch(
        self: &Arc<Self>,
        entry: Arc<Entry>,
        run: Run,
        permit: Option<OwnedSemaphorePermit>,
    ) -> oneshot::Receiver<Value> {
        let Run {
            tenant,
            execution_id,
            input,
            request,
            resume,
            unrecorded,
        } = run;
        let cancel = CancelHandle::new();
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                execution_id.clone(),
                Running {
                    tenant: tenant.clone(),
                    cancel: cancel.clone(),
                },
            );
        let (sender, done) = oneshot::channel();
        let service = Arc::clone(self);
        let queued_here = permit.is_none();
        if queued_here {
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
        let accepted = std::time::Instant::now();
        let recorder_cancel = cancel.clone();
        tokio::spawn(async move {
            // The workflow's own limit first, then the service's (a claimed
            // execution holds its slot already).
            let own = match &entry.slots {
                Some(slots) => Some(Arc::clone(slots).acquire_owned().await),
                None => None,
            };
            let permit = match permit {
                Some(permit) => Ok(permit),
                None => Arc::clone(&service.slots).acquire_owned().await,
            };
            if queued_here {
                service.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            let saves_progress = entry.saves_progress(service.config.save_execution_progress);
            let recorder = Arc::new(Recorder {
                store: Arc::clone(&service.store),
                registry: Arc::clone(service.registry()),
                entry: Arc::clone(&entry),
                access: Arc::clone(&service.counters.node_access),
                tenant: tenant.clone(),
                execution_id: execution_id.clone(),
                pending: Mutex::new(Vec::new()),
                cancel: recorder_cancel,
                suspended_until: Mutex::new(None),
            });
            let progress = saves_progress.then(|| {
                Progress(Arc::clone(&recorder) as Arc<dyn plugflow_engine::ProgressObserver>)
            });
            let options = RunOptions {
                trigger: input,
                context: ExecContext {
                    tenant_id: Some(tenant.clone()),
                    execution_id: execution_id.clone(),
                    resumable: saves_progress,
                    ..ExecContext::default()
                },
                cancel: Some(cancel),
                progress,
                resume,
                request,
                // With a shared queue a long retry backoff becomes a due
                // row, as a long wait does.
                suspend_retries_after: service
                    .queue
                    .is_some()
                    .then(|| Duration::from_millis(service.config.suspend_waits_after_ms)),
                ..RunOptions::default()
            };
            let outcome = service.engine.run(&entry.compiled, options).await;
            // A failed execution keeps its node records (a retry replays
            // them); a successful one drops them, so its kept ones are not
            // written at all.
            let succeeded =
                matches!(&outcome, Ok(r) if r.status == plugflow_engine::RunStatus::Success);
            if saves_progress && !succeeded {
                recorder.flush(None);
            }
            drop(permit);
            drop(own);
            if service.queue.is_some() {
                // A slot is free: the claim loop may take more.
                service.wake.notify_one();
            }
            let suspended = *recorder
                .suspended_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(due) = suspended {
                // Not an end: the execution waits as a row with a due time
                // (the worker holding it now goes on to other work).
                service.suspend(&execution_id, due).await;
                service
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&execution_id);
                return;
            }
            service
                .counters
                .latency(accepted.elapsed().as_secs_f64() * 1000.0);
            let record = service
                .finish(&entry, &tenant, &execution_id, outcome, unrecorded)
                .await;
            service
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&execution_id);
            service.deliver(&execution_id, &record);
            // The requester may have gone; the record is kept either way.
            let _ = sender.send(record);
        });
        done
    }

    /// Records the final status; returns the execution as the API shows it.
    async fn finish(
        &self,
        entry: &Entry,
        tenant: &str,
        execution_id: &str,
        outcome: Result<ExecutionResult, plugflow_engine::InvalidWorkflow>,
        unrecorded: Option<ExecutionRecord>,
    ) -> Value {
        let (status, result, error) = match outcome {
            Ok(result) => {
                let status = serde_json::to_value(result.status)
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "error".to_owned());
                let error = result.error.clone();
                let value = serde_json::to_value(&result).unwrap_or(Value::Null);
                (status, value, error)
            }
            Err(invalid) => {
                let problems = serde_json::to_value(&invalid.problems).unwrap_or(Value::Null);
                (
                    "invalid".to_owned(),
                    json!({"problems": problems}),
                    Some(format!(
                        "the workflow is not valid for this tenant ({} problems)",
                        invalid.problems.len()
                    )),
                )
            }
        };
        *self
            .counters
            .executions_finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status.clone())
            .or_default() += 1;
        let finished = now_ms();
        let (t, id, s, e) = (
            tenant.to_owned(),
            execution_id.to_owned(),
            status.clone(),
            error.clone(),
        );
        let succeeded = status == "success";
        // Node records serve resuming and retrying a failed execution only.
        let (drop_data, drop_nodes) = (
            !entry.keeps_data(succeeded),
            succeeded || !entry.keeps_data(succeeded),
        );
        // The result goes to the blocking task and comes back with its
        // outcome: it is not copied.
        let written = self
            .on_store(move |store| {
                let ending = Ending {
                    status: &s,
                    finished_at_ms: finished,
                    result: &result,
                    error: e.as_deref(),
                    drop_data,
                    drop_nodes,
                };
                let recorded = match &unrecorded {
                    Some(record) => store.started_and_ended(record, &ending),
                    None => store.end(&t, &id, &ending),
                };
                (recorded, result)
            })
            .await;
        let (recorded, result) = match written {
            Ok((recorded, result)) => (Ok(recorded), result),
            Err(e) => (Err(e), Value::Null),
        };
        if let Ok(Err(StoreError::LeaseLost(_))) = recorded {
            self.counters.leases_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                component = "serve",
                execution_id,
                "this worker lost the execution's lease before it ended; the worker that took it over records its end"
            );
        } else if let Ok(Err(e)) = &recorded {
            tracing::error!(
                component = "serve",
                execution_id,
                "could not record the end of an execution: {e}"
            );
        } else if let Err(e) = &recorded {
            tracing::error!(
                component = "serve",
                execution_id,
                "could not record the end of an execution: {e}"
            );
        }
        json!({
            "executionId": execution_id,
            "status": status,
            "finishedAtMs": finished,
            "error": error,
            "result": result,
        })
    }

    /// Cancels `execution_id` if it is running as `tenant`.
    pub(crate) fn cancel(&self, tenant: &str, execution_id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        match running.get(execution_id) {
            Some(run) if run.tenant == tenant => {
                run.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Cancels `execution_id` if it runs here, whoever its tenant (the
    /// shared store checked the tenant when the cancel was asked for).
    pub(crate) fn cancel_here(&self, execution_id: &str) {
        if let Some(run) = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(execution_id)
        {
            run.cancel.cancel();
        }
    }

    /// The ids of the executions running now.
    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Executions running now.
    pub(crate) fn running_count(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
