//! `/health/live`, `/health/ready` and `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::service::Service;

/// `GET /health/live`: the process answers.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

/// `GET /health/ready`: plugins and workflows are loaded and the store
/// answers.
pub async fn ready(State(service): State<Arc<Service>>) -> Response {
    let store_ok = service.with_store(|store| store.ping()).await.is_ok();
    let mut body = json!({
        "status": if store_ok { "ready" } else { "not ready" },
        "store": store_ok,
        "nodeTypes": service.registry().len(),
        "workflows": service.catalog().len(),
    });
    if let Some(queue) = &service.queue {
        // A worker missing plugins still serves what it can: it says which
        // workflows it leaves to other workers.
        body["worker"] = json!({
            "id": queue.worker_id(),
            "claimLoops": service.local_workers,
            "unrunnable": service.unrunnable().into_iter()
                .map(|(workflow, missing)| json!({"workflow": workflow, "missingNodeTypes": missing}))
                .collect::<Vec<_>>(),
        });
    }
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let c = &service.counters;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "plugflow_http_requests_total",
        "HTTP requests answered.",
        c.http_requests.load(Ordering::Relaxed),
    );
    counter(
        "plugflow_http_unauthorized_total",
        "Requests refused for a missing or unknown API key.",
        c.unauthorized.load(Ordering::Relaxed),
    );
    counter(
        "plugflow_http_busy_total",
        "Requests refused with 429 because the queue was full.",
        c.rejected_busy.load(Ordering::Relaxed),
    );
    counter(
        "plugflow_executions_started_total",
        "Executions accepted.",
        c.executions_started.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP plugflow_executions_finished_total Executions finished, by status.\n# TYPE plugflow_executions_finished_total counter"
    );
    let finished = c
        .executions_finished
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut finished: Vec<_> = finished.into_iter().collect();
    finished.sort();
    for (status, n) in finished {
        let _ = writeln!(
            out,
            "plugflow_executions_finished_total{{status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP plugflow_executions_running Executions running now.\n# TYPE plugflow_executions_running gauge\nplugflow_executions_running {}",
        service.running_count()
    );
    if let Some(hosts) = service.plugin_hosts() {
        plugin_host_metrics(&mut out, &hosts.status());
    }
    if service.queue.is_some() {
        queue_metrics(&mut out, &service);
    }
    out.push_str(&service.registry().stats().to_prometheus());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// The shared queue's series: depth, claims, waits, leases, database.
fn queue_metrics(out: &mut String, service: &Service) {
    let c = &service.counters;
    let depth = *service.depth.lock().unwrap_or_else(PoisonError::into_inner);
    let mut series = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    series(
        "plugflow_queue_due",
        "gauge",
        "Executions queued and due, not yet claimed.",
        depth.due,
    );
    series(
        "plugflow_queue_delayed",
        "gauge",
        "Executions queued for later.",
        depth.delayed,
    );
    series(
        "plugflow_queue_running",
        "gauge",
        "Executions running on any worker.",
        depth.running,
    );
    series(
        "plugflow_queue_claims_total",
        "counter",
        "Executions this process claimed from the queue.",
        c.claims.load(Ordering::Relaxed),
    );
    series(
        "plugflow_queue_empty_claims_total",
        "counter",
        "Claim round trips that found nothing.",
        c.empty_claims.load(Ordering::Relaxed),
    );
    series("plugflow_lease_expiries_total", "counter", "Executions this process sent back to the queue because their worker stopped renewing its lease.", c.lease_expiries.load(Ordering::Relaxed));
    series(
        "plugflow_leases_lost_total",
        "counter",
        "Executions this process stopped because another worker took them over.",
        c.leases_lost.load(Ordering::Relaxed),
    );
    series(
        "plugflow_worker_unrunnable_workflows",
        "gauge",
        "Workflows this process cannot run: a plugin they need is missing here.",
        service.unrunnable().len() as u64,
    );
    if let Some(pg) = &service.pg {
        let stats = pg.pool_stats();
        series(
            "plugflow_db_errors_total",
            "counter",
            "Database calls that failed after retries.",
            stats.errors,
        );
        series(
            "plugflow_db_retries_total",
            "counter",
            "Database calls run again after a dropped connection or a serialisation failure.",
            stats.retries,
        );
        series(
            "plugflow_db_connects_total",
            "counter",
            "Database connections opened.",
            stats.connects,
        );
        series(
            "plugflow_db_calls_total",
            "counter",
            "Database calls made (each one round trip, or one transaction).",
            stats.calls,
        );
    }
    for (name, help, kept) in [
        (
            "plugflow_queue_claim_ms",
            "Claim round trip, in milliseconds (last 4096).",
            &c.claim_ms,
        ),
        (
            "plugflow_queue_wait_ms",
            "Time from due to claimed, in milliseconds (last 4096).",
            &c.queue_wait_ms,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
        if let Some([p50, p95, p99]) = crate::counters::percentiles(kept) {
            let _ = writeln!(out, "{name}{{quantile=\"0.5\"}} {p50}\n{name}{{quantile=\"0.95\"}} {p95}\n{name}{{quantile=\"0.99\"}} {p99}");
        }
    }
}

/// A series: name, type, help, and its value for one host.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&plugin_host::HostStatus) -> u64,
);

/// The process tier's series, one per plugin host.
fn plugin_host_metrics(out: &mut String, hosts: &[plugin_host::HostStatus]) {
    let series: [Series; 3] = [
        (
            "plugflow_plugin_host_starts_total",
            "counter",
            "Plugin-host processes started.",
            |h| h.starts,
        ),
        (
            "plugflow_plugin_host_crashes_total",
            "counter",
            "Plugin-host processes that crashed, hung or failed to start.",
            |h| h.crashes,
        ),
        (
            "plugflow_plugin_host_quarantined",
            "gauge",
            "1 while the plugin host is quarantined.",
            |h| u64::from(h.quarantined.is_some()),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for host in hosts {
            let _ = writeln!(
                out,
                "{name}{{plugin=\"{}\",tenant=\"{}\"}} {}",
                label(&host.plugin),
                label(host.tenant.as_deref().unwrap_or("")),
                value(host)
            );
        }
    }
}

/// A Prometheus label value, escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
