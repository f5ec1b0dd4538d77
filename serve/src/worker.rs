//! The worker side of the shared queue: claim loops that take due
//! executions into this process's free slots, and the upkeep every process
//! does — renewing its leases, sending expired ones back to the queue,
//! reading the queue's depth — plus the listener that turns `NOTIFY`s into
//! wake-ups, ends and cancels.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use plugflow_pg::{Listener, Notice};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::counters::keep;
use crate::queue::{Claimed, WorkerReport};
use crate::service::{Run, Service};

/// Claims asked for at once, at most.
const CLAIM_BATCH: usize = 32;

/// Starts the claim loops, the upkeep and the listener, when executions
/// are in the shared queue. The listener stops when dropped.
pub(crate) fn start(service: &Arc<Service>) -> (Vec<JoinHandle<()>>, Option<Listener>) {
    if service.queue.is_none() {
        return (Vec::new(), None);
    }
    let mut tasks = vec![tokio::spawn(upkeep(Arc::clone(service)))];
    for _ in 0..service.local_workers {
        tasks.push(tokio::spawn(claim_loop(Arc::clone(service))));
    }
    (tasks, listen(service))
}

/// Listens for `plugflow_queue` (wake a claim loop), `plugflow_finished`
/// (hand the end to callers waiting here) and `plugflow_cancel` (cancel it
/// if it runs here).
fn listen(service: &Arc<Service>) -> Option<Listener> {
    let config = service.pg.as_ref()?.client_config().ok()?;
    let handle = tokio::runtime::Handle::current();
    let weak = Arc::downgrade(service);
    let heard = move |notice: Notice| {
        let Some(service) = weak.upgrade() else {
            return;
        };
        match notice {
            Notice::Reconnected => {
                service.wake.notify_one();
                handle.spawn(async move { service.ended_elsewhere(None).await });
            }
            Notice::Message { channel, payload } => match channel.as_str() {
                "plugflow_queue" => service.wake.notify_one(),
                "plugflow_finished" => {
                    handle.spawn(async move { service.ended_elsewhere(Some(payload)).await });
                }
                "plugflow_cancel" => service.cancel_here(&payload),
                _ => {}
            },
        }
    };
    match Listener::start(
        config,
        &["plugflow_queue", "plugflow_finished", "plugflow_cancel"],
        heard,
    ) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::error!(component = "serve", "cannot start the queue listener: {e}");
            None
        }
    }
}

/// Takes due executions into free slots until the process stops.
async fn claim_loop(service: Arc<Service>) {
    let poll = Duration::from_millis(service.config.poll_interval_ms.max(10));
    let mut pause = Duration::from_millis(50);
    loop {
        let Ok(first) = Arc::clone(service.slots()).acquire_owned().await else {
            return;
        };
        let mut permits = vec![first];
        while permits.len() < CLAIM_BATCH {
            match Arc::clone(service.slots()).try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let request = service.claim_request(permits.len());
        let asked = permits.len();
        let began = Instant::now();
        let claimed = service.with_queue(move |queue| queue.claim(&request)).await;
        keep(
            &service.counters.claim_ms,
            began.elapsed().as_secs_f64() * 1000.0,
        );
        match claimed {
            Ok(claimed) => {
                pause = Duration::from_millis(50);
                let full = claimed.len() == asked;
                if claimed.is_empty() {
                    service
                        .counters
                        .empty_claims
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                for execution in claimed {
                    let Some(permit) = permits.pop() else { break };
                    run_claimed(&service, execution, permit).await;
                }
                drop(permits);
                if !full {
                    // Idle: until a NOTIFY, a freed slot, or the poll (due
                    // times of delayed executions pass without a NOTIFY).
                    let _ = tokio::time::timeout(poll, service.wake.notified()).await;
                }
            }
            Err(e) => {
                drop(permits);
                tracing::warn!(component = "serve", "could not claim executions: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Runs a claimed execution in `permit`'s slot, replaying its recorded
/// nodes when it ran before (or is a retry).
async fn run_claimed(
    service: &Arc<Service>,
    claimed: Claimed,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Claimed {
        record,
        replay,
        waited_ms,
    } = claimed;
    service
        .counters
        .claims
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    keep(&service.counters.queue_wait_ms, waited_ms);
    let entry = service
        .catalog()
        .get(&record.tenant, &record.workflow_id)
        .filter(|e| e.hash == record.workflow_hash);
    let Some(entry) = entry else {
        // The catalog changed between the claim request and now.
        let id = record.execution_id.clone();
        if let Err(e) = service.with_queue(move |q| q.release(&id)).await {
            tracing::warn!(component = "serve", execution_id = %record.execution_id, "could not release an execution: {e}");
        }
        return;
    };
    let resume = if replay {
        let (t, id) = (record.tenant.clone(), record.execution_id.clone());
        match service
            .with_store(move |store| store.node_records(&t, &id))
            .await
        {
            Ok(nodes) => Some(Arc::new(service.resume_plan(&entry, nodes))),
            Err(e) => {
                tracing::warn!(component = "serve", execution_id = %record.execution_id, "could not read recorded nodes: {e}");
                let id = record.execution_id.clone();
                let _ = service.with_queue(move |q| q.release(&id)).await;
                return;
            }
        }
    } else {
        None
    };
    if let Some(plan) = &resume {
        tracing::info!(component = "serve", execution_id = %record.execution_id, replayed = plan.completed.len(), "resuming an execution another worker left");
    }
    let run = Run {
        tenant: record.tenant,
        execution_id: record.execution_id,
        input: record.input.unwrap_or(serde_json::Value::Null),
        request: record.request.unwrap_or(serde_json::Value::Null),
        resume,
        unrecorded: None,
    };
    drop(service.launch(entry, run, Some(permit)));
}

/// Every third of a lease: renew this process's leases (cancelling what
/// was asked to stop), send expired leases back to the queue, read the
/// queue's depth.
async fn upkeep(service: Arc<Service>) {
    let every = Duration::from_millis((service.config.lease_ms / 3).max(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if service.local_workers > 0 {
            let report = WorkerReport {
                executions: service.running_ids(),
                unrunnable: json!(service
                    .unrunnable()
                    .into_iter()
                    .map(|(workflow, missing)| json!({"workflow": workflow, "missingNodeTypes": missing}))
                    .collect::<Vec<_>>()),
            };
            match service.with_queue(move |q| q.heartbeat(&report)).await {
                Ok(cancels) => {
                    for id in cancels {
                        service.cancel_here(&id);
                    }
                }
                Err(e) => tracing::warn!(component = "serve", "could not renew leases: {e}"),
            }
        }
        let attempts = service.config.max_attempts;
        match service.with_queue(move |q| q.expire_leases(attempts)).await {
            Ok(0) => {}
            Ok(n) => {
                service.counters.lease_expiries.fetch_add(
                    u64::try_from(n).unwrap_or(u64::MAX),
                    std::sync::atomic::Ordering::Relaxed,
                );
                tracing::warn!(
                    component = "serve",
                    requeued = n,
                    "executions whose worker stopped went back to the queue"
                );
                service.wake.notify_one();
            }
            Err(e) => tracing::warn!(component = "serve", "could not expire leases: {e}"),
        }
        if let Ok(depth) = service.with_queue(|q| q.depth()).await {
            *service.depth.lock().unwrap_or_else(PoisonError::into_inner) = depth;
        }
    }
}
