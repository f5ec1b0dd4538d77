//! Execution and error metrics, as a snapshot serialisable to JSON and to
//! the Prometheus text exposition format.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::cache::CacheStats;
use crate::error::ErrorCode;

#[derive(Default)]
struct NodeTypeCounters {
    executions: AtomicU64,
    failures: AtomicU64,
    total_ns: AtomicU64,
}

/// Live counters, updated by the pipeline's metrics stage.
#[derive(Default)]
pub struct Metrics {
    executions: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    retries: AtomicU64,
    tenant_violations: AtomicU64,
    by_code: [AtomicU64; ErrorCode::ALL.len()],
    recovery_attempts: AtomicU64,
    recovery_successes: AtomicU64,
    recovery_failures: AtomicU64,
    recovery_ns: AtomicU64,
    by_node_type: RwLock<HashMap<String, Arc<NodeTypeCounters>>>,
}

fn code_index(code: ErrorCode) -> usize {
    ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How one execution ended, for the metrics stage.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The node type requested.
    pub node_type: &'a str,
    /// Final status.
    pub status: crate::status::NodeStatus,
    /// The error code of the final error, if any.
    pub error: Option<ErrorCode>,
    /// Wall time of the execution.
    pub duration: Duration,
    /// Retries made.
    pub retries: u32,
    /// Whether a recovery strategy other than `fail` handled a failure, and
    /// whether it produced a result.
    pub recovery: Option<(bool, Duration)>,
}

impl Metrics {
    fn node_type(&self, node_type: &str) -> Arc<NodeTypeCounters> {
        if let Some(c) = self
            .by_node_type
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_type)
        {
            return c.clone();
        }
        self.by_node_type
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(node_type.to_owned())
            .or_default()
            .clone()
    }

    /// Records one execution.
    pub fn observe(&self, o: Observation<'_>) {
        use crate::status::NodeStatus;
        self.executions.fetch_add(1, Ordering::Relaxed);
        match o.status {
            NodeStatus::Success => &self.successes,
            NodeStatus::Error => &self.failures,
            NodeStatus::Skipped | NodeStatus::Pending | NodeStatus::Cancelled => &self.skipped,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.retries
            .fetch_add(u64::from(o.retries), Ordering::Relaxed);
        if let Some(code) = o.error {
            self.by_code[code_index(code)].fetch_add(1, Ordering::Relaxed);
        }
        if let Some((succeeded, took)) = o.recovery {
            self.recovery_attempts.fetch_add(1, Ordering::Relaxed);
            if succeeded {
                &self.recovery_successes
            } else {
                &self.recovery_failures
            }
            .fetch_add(1, Ordering::Relaxed);
            self.recovery_ns.fetch_add(nanos(took), Ordering::Relaxed);
        }
        let counters = self.node_type(o.node_type);
        counters.executions.fetch_add(1, Ordering::Relaxed);
        if o.error.is_some() {
            counters.failures.fetch_add(1, Ordering::Relaxed);
        }
        counters
            .total_ns
            .fetch_add(nanos(o.duration), Ordering::Relaxed);
    }

    /// Counts an output withheld because it held another tenant's records.
    pub fn tenant_violation(&self) {
        self.tenant_violations.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy of the counters.
    pub fn snapshot(&self) -> ExecutionMetrics {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let attempts = load(&self.recovery_attempts);
        ExecutionMetrics {
            executions: load(&self.executions),
            successes: load(&self.successes),
            failures: load(&self.failures),
            skipped: load(&self.skipped),
            retries: load(&self.retries),
            tenant_violations: load(&self.tenant_violations),
            errors: ErrorMetrics {
                total: self.by_code.iter().map(load).sum(),
                by_code: ErrorCode::ALL
                    .iter()
                    .zip(&self.by_code)
                    .filter(|(_, n)| load(n) > 0)
                    .map(|(c, n)| (c.as_str().to_owned(), load(n)))
                    .collect(),
                by_node_type: self
                    .by_node_type
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .filter(|(_, c)| load(&c.failures) > 0)
                    .map(|(k, c)| (k.clone(), load(&c.failures)))
                    .collect(),
                recovery_attempts: attempts,
                recovery_successes: load(&self.recovery_successes),
                recovery_failures: load(&self.recovery_failures),
                mean_recovery_ms: if attempts == 0 {
                    0.0
                } else {
                    load(&self.recovery_ns) as f64 / attempts as f64 / 1e6
                },
            },
            node_types: self
                .by_node_type
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(k, c)| {
                    let n = load(&c.executions);
                    (
                        k.clone(),
                        NodeTypeMetrics {
                            executions: n,
                            failures: load(&c.failures),
                            mean_duration_us: if n == 0 {
                                0.0
                            } else {
                                load(&c.total_ns) as f64 / n as f64 / 1e3
                            },
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Error metrics: totals by code and node type, and recovery outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMetrics {
    /// Executions that ended in an error.
    pub total: u64,
    /// Errors by stable code.
    pub by_code: BTreeMap<String, u64>,
    /// Errors by node type.
    pub by_node_type: BTreeMap<String, u64>,
    /// Failures a recovery strategy was applied to.
    pub recovery_attempts: u64,
    /// Recoveries that produced a result.
    pub recovery_successes: u64,
    /// Recoveries that did not.
    pub recovery_failures: u64,
    /// Mean time spent recovering, milliseconds.
    pub mean_recovery_ms: f64,
}

/// Per node type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTypeMetrics {
    /// Executions.
    pub executions: u64,
    /// Of which failed.
    pub failures: u64,
    /// Mean duration, microseconds.
    pub mean_duration_us: f64,
}

/// Execution counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionMetrics {
    /// Executions through the pipeline.
    pub executions: u64,
    /// Ended in success.
    pub successes: u64,
    /// Ended in error.
    pub failures: u64,
    /// Ended skipped.
    pub skipped: u64,
    /// Retries made.
    pub retries: u64,
    /// Outputs withheld for holding another tenant's records.
    pub tenant_violations: u64,
    /// Errors and recovery.
    pub errors: ErrorMetrics,
    /// Per node type.
    pub node_types: BTreeMap<String, NodeTypeMetrics>,
}

/// Everything observable about a registry at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    /// Node types registered.
    pub registered_node_types: usize,
    /// Per cache.
    pub caches: BTreeMap<String, CacheStats>,
    /// Executions and errors.
    pub execution: ExecutionMetrics,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl MetricsSnapshot {
    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP plugflow_{name} {help}");
            let _ = writeln!(out, "# TYPE plugflow_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "plugflow_{name}{labels} {value}");
            }
        };
        let e = &self.execution;
        metric(
            "registered_node_types",
            "gauge",
            "Node types registered.",
            vec![(String::new(), self.registered_node_types as f64)],
        );
        metric(
            "executions_total",
            "counter",
            "Node executions by final status.",
            vec![
                ("{status=\"success\"}".into(), e.successes as f64),
                ("{status=\"error\"}".into(), e.failures as f64),
                ("{status=\"skipped\"}".into(), e.skipped as f64),
            ],
        );
        metric(
            "retries_total",
            "counter",
            "Retries made.",
            vec![(String::new(), e.retries as f64)],
        );
        metric(
            "tenant_violations_total",
            "counter",
            "Outputs withheld for holding another tenant's records.",
            vec![(String::new(), e.tenant_violations as f64)],
        );
        metric(
            "errors_total",
            "counter",
            "Errors by stable code.",
            e.errors
                .by_code
                .iter()
                .map(|(c, n)| (format!("{{code=\"{}\"}}", escape_label(c)), *n as f64))
                .collect(),
        );
        metric(
            "node_type_errors_total",
            "counter",
            "Errors by node type.",
            e.errors
                .by_node_type
                .iter()
                .map(|(t, n)| (format!("{{node_type=\"{}\"}}", escape_label(t)), *n as f64))
                .collect(),
        );
        metric(
            "recoveries_total",
            "counter",
            "Recovery strategies applied, by outcome.",
            vec![
                (
                    "{outcome=\"success\"}".into(),
                    e.errors.recovery_successes as f64,
                ),
                (
                    "{outcome=\"failure\"}".into(),
                    e.errors.recovery_failures as f64,
                ),
            ],
        );
        for (name, help, pick) in [
            ("cache_hits_total", "Cache hits.", 0),
            ("cache_misses_total", "Cache misses.", 1),
            ("cache_evictions_total", "Cache evictions.", 2),
        ] {
            metric(
                name,
                "counter",
                help,
                self.caches
                    .iter()
                    .map(|(c, s)| {
                        let v = [s.hits, s.misses, s.evictions][pick];
                        (format!("{{cache=\"{}\"}}", escape_label(c)), v as f64)
                    })
                    .collect(),
            );
        }
        out
    }
}
