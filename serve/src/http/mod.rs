//! The HTTP side: one module per group of routes, the router that joins
//! them, and the layers every request passes (body limit, request count).

mod api;
pub(crate) mod dashboard;
mod error;
mod health;
pub(crate) mod openapi;
mod plugin_hosts;
mod schemas;
mod tenant;
mod webhook;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use crate::service::Service;

/// Every route of the service, over `service`.
pub fn router(service: Arc<Service>) -> Router {
    let body_limit = service.config.max_body_bytes;
    // A request (a slow upload included) is cut off a little after the
    // execution wait, which answers 202 itself.
    let request_limit =
        Duration::from_millis(service.config.request_timeout_ms) + Duration::from_secs(5);
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/dashboard.js", get(dashboard::script))
        .route("/assets/dashboard.css", get(dashboard::style))
        .route("/v1/dashboard", get(dashboard::dashboard))
        .route("/v1/workflows/{id}", get(dashboard::workflow))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/v1/openapi.json", get(openapi::serve_document))
        .route("/v1/workflows", get(api::list_workflows))
        .route("/v1/workflows/{id}/executions", post(api::run_workflow))
        .route("/v1/executions", get(api::list_executions))
        .route("/v1/executions/{id}", get(api::get_execution))
        .route("/v1/executions/{id}/cancel", post(api::cancel_execution))
        .route("/v1/executions/{id}/retry", post(api::retry_execution))
        .route("/v1/admin/reload", post(api::reload))
        .route("/v1/admin/plugin-hosts", get(plugin_hosts::list))
        .route(
            "/v1/admin/plugin-hosts/{plugin}/clear",
            post(plugin_hosts::clear),
        )
        .route("/webhook/{*path}", any(webhook::webhook))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_limit,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            count_requests,
        ))
        .with_state(service)
}

/// A worker's routes: health and metrics only.
pub fn worker_router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .with_state(service)
}

async fn count_requests(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    service
        .counters
        .http_requests
        .fetch_add(1, Ordering::Relaxed);
    response
}
