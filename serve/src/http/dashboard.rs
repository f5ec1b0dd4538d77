//! The dashboards: a page at `/` (its files embedded in the binary), the
//! operator's numbers at `/v1/dashboard` (admin keys: they span tenants),
//! and a workflow's graph at `/v1/workflows/{id}` for the execution page.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::tenant::{Admin, Tenant};
use crate::service::Service;

const INDEX: &str = include_str!("../../assets/index.html");
const SCRIPT: &str = include_str!("../../assets/dashboard.js");
const STYLE: &str = include_str!("../../assets/dashboard.css");

/// `GET /`.
pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

/// `GET /assets/dashboard.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// `GET /assets/dashboard.css`.
pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// `GET /v1/workflows/{id}`: the workflow's nodes, laid out in layers
/// (longest path from a start node), and its edges.
#[utoipa::path(get, path = "/v1/workflows/{id}", tag = "workflows",
    params(("id" = String, Path, description = "The workflow's id")),
    responses((status = 200, description = "`{id, name, hash, nodes: [{id, name, nodeType, layer}], edges: [{from, to, output}]}`", body = Object),
              (status = 401, description = "No valid API key", body = super::schemas::ErrorBody),
              (status = 404, description = "No such workflow for this tenant", body = super::schemas::ErrorBody)))]
pub async fn workflow(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = service
        .catalog()
        .get(&tenant, &id)
        .ok_or_else(|| ApiError::not_found(format_args!("workflow `{id}`")))?;
    let graph = &entry.compiled.graph;
    let layers = layers(graph.ids.len(), graph.edges.iter().map(|e| (e.from, e.to)));
    let nodes: Vec<Value> = entry
        .compiled
        .workflow
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": n.id, "name": n.name, "nodeType": n.node_type, "layer": layers[i]}))
        .collect();
    let edges: Vec<Value> = graph
        .edges
        .iter()
        .map(|e| json!({"from": graph.ids[e.from], "to": graph.ids[e.to], "output": e.output}))
        .collect();
    Ok(Json(json!({
        "id": entry.id,
        "name": entry.compiled.workflow.name,
        "hash": entry.hash,
        "nodes": nodes,
        "edges": edges,
    })))
}

/// Each node's layer: the longest path to it from a node without inputs
/// (Kahn's order; nodes on a cycle, which validation refuses, stay at 0).
fn layers(n: usize, edges: impl Iterator<Item = (usize, usize)> + Clone) -> Vec<usize> {
    let mut incoming = vec![0usize; n];
    let mut outgoing = vec![Vec::new(); n];
    for (from, to) in edges {
        if from < n && to < n {
            incoming[to] += 1;
            outgoing[from].push(to);
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
    while let Some(i) = ready.pop_front() {
        for &to in &outgoing[i] {
            layer[to] = layer[to].max(layer[i] + 1);
            incoming[to] -= 1;
            if incoming[to] == 0 {
                ready.push_back(to);
            }
        }
    }
    layer
}

/// Resident memory of this process, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// `GET /v1/dashboard` (admin keys): registry health, performance and
/// security numbers, across tenants.
#[utoipa::path(get, path = "/v1/dashboard", tag = "operations",
    responses((status = 200, description = "`{registry, performance, security}`: the operator's numbers, across tenants", body = Object),
              (status = 401, description = "No valid API key", body = super::schemas::ErrorBody),
              (status = 403, description = "Not an admin key", body = super::schemas::ErrorBody)))]
pub async fn dashboard(State(service): State<Arc<Service>>, Admin(_): Admin) -> Json<Value> {
    let registry = service.registry();
    let stats = registry.stats();
    let caches: Value = stats
        .caches
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                json!({"hits": c.hits, "misses": c.misses, "hitRate": c.hit_rate}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let (hits, misses) = stats
        .caches
        .values()
        .fold((0, 0), |(h, m), c| (h + c.hits, m + c.misses));
    let execution = &stats.execution;
    let error_rate = if execution.executions == 0 {
        0.0
    } else {
        execution.failures as f64 / execution.executions as f64
    };
    let percentiles = service.counters.latency_percentiles();
    let access: Vec<Value> = service
        .counters
        .node_access
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|((tenant, node_type), n)| json!({"tenantId": tenant, "nodeType": node_type, "executions": n}))
        .collect();
    let audit_bytes = registry
        .audit_log()
        .and_then(|log| std::fs::metadata(log.path()).ok())
        .map(|m| m.len());
    let finished: u64 = service
        .counters
        .executions_finished
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .sum();
    Json(json!({
        "registry": {
            "nodeTypes": registry.len(),
            "plugins": service.plugin_status(),
            "workflows": service.catalog().len(),
            "cacheHitRate": if hits + misses == 0 { Value::Null } else { json!(hits as f64 / (hits + misses) as f64) },
            "errorRate": error_rate,
            "nodeExecutions": execution.executions,
            "nodeFailures": execution.failures,
        },
        "performance": {
            "latencyMs": percentiles.map(|[p50, p95, p99]| json!({"p50": p50, "p95": p95, "p99": p99})),
            "cacheHits": hits,
            "cacheMisses": misses,
            "caches": caches,
            "rssBytes": rss_bytes(),
            "executionsStarted": service.counters.executions_started.load(Ordering::Relaxed),
            "executionsFinished": finished,
            "executionsRunning": service.running_count(),
        },
        "security": {
            "tenantViolations": execution.tenant_violations,
            "unauthorizedRequests": service.counters.unauthorized.load(Ordering::Relaxed),
            "auditLogBytes": audit_bytes,
            "nodeTypeAccess": access,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::layers;

    #[test]
    fn a_diamond_has_three_layers() {
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3)];
        assert_eq!(layers(4, edges.iter().copied()), [0, 1, 1, 2]);
    }

    #[test]
    fn a_node_is_placed_after_its_longest_path() {
        let edges = [(0, 1), (1, 2), (0, 2)];
        assert_eq!(layers(3, edges.iter().copied()), [0, 1, 2]);
    }
}
