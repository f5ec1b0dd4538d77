//! The service's counters: what `/metrics` and the dashboards show beyond
//! the registry's own metrics.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

/// Counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// HTTP requests answered.
    pub http_requests: AtomicU64,
    /// Requests refused for a missing or unknown key.
    pub unauthorized: AtomicU64,
    /// Requests refused with `429`.
    pub rejected_busy: AtomicU64,
    /// Executions accepted.
    pub executions_started: AtomicU64,
    /// Executions finished, by final status.
    pub executions_finished: Mutex<HashMap<String, u64>>,
    /// Latencies (accepted to finished, ms) of the last executions.
    pub latencies_ms: Mutex<VecDeque<f64>>,
    /// Executions claimed from the shared queue.
    pub claims: AtomicU64,
    /// Claim round trips that found nothing.
    pub empty_claims: AtomicU64,
    /// Durations of the last claim round trips, in ms.
    pub claim_ms: Mutex<VecDeque<f64>>,
    /// How long the last claimed executions waited in the queue, in ms.
    pub queue_wait_ms: Mutex<VecDeque<f64>>,
    /// Executions sent back to the queue because their lease expired.
    pub lease_expiries: AtomicU64,
    /// Executions this process stopped because it lost their lease.
    pub leases_lost: AtomicU64,
    /// Nodes run, by (tenant, node type).
    pub node_access: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

/// Latencies kept for the percentiles.
const KEPT_LATENCIES: usize = 4096;

/// Keeps `ms` among the last [`KEPT_LATENCIES`] of `kept`.
pub(crate) fn keep(kept: &Mutex<VecDeque<f64>>, ms: f64) {
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() == KEPT_LATENCIES {
        kept.pop_front();
    }
    kept.push_back(ms);
}

/// p50, p95 and p99 of `kept`, in ms (`None` before any).
pub(crate) fn percentiles(kept: &Mutex<VecDeque<f64>>) -> Option<[f64; 3]> {
    let mut sorted: Vec<f64> = kept
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    Some([at(0.5), at(0.95), at(0.99)])
}

impl Counters {
    pub(crate) fn latency(&self, ms: f64) {
        keep(&self.latencies_ms, ms);
    }

    /// p50, p95 and p99 of the kept latencies, in ms (`None` before any).
    pub fn latency_percentiles(&self) -> Option<[f64; 3]> {
        percentiles(&self.latencies_ms)
    }
}
