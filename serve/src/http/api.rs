//! The JSON API under `/v1`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
#[allow(unused_imports)] // Named in the OpenAPI annotations.
use super::schemas::{AcceptedBody, ErrorBody};
use super::tenant::{Admin, Tenant};
#[allow(unused_imports)]
use crate::queue::CancelOutcome;
use crate::service::{Accepted, NotAccepted, Service, Submission};
use crate::store::ExecutionRecord;
use crate::store::ListFilter;
use plugflow_engine::{NodeStatus, RecordedNode, Resume};

/// `GET /v1/workflows`: the workflows the caller may run.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows",
    responses((status = 200, description = "`{\"workflows\": [{id, name, hash, webhooks}]}`: the workflows the caller may run", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody)))]
pub async fn list_workflows(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
) -> Json<Value> {
    let workflows: Vec<Value> = service
        .catalog()
        .visible(&tenant)
        .map(|e| {
            json!({
                "id": e.id,
                "name": e.compiled.workflow.name,
                "hash": e.hash,
                "webhooks": e.webhooks.iter().map(|h| json!({"method": h.method, "path": format!("/webhook{}", h.path)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "workflows": workflows }))
}

/// The body of `POST /v1/workflows/{id}/executions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The trigger data.
    #[serde(default)]
    pub input: Value,
    /// Answer when the run finishes (default) or at once.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Start no sooner than this many milliseconds from now (shared queue
    /// on PostgreSQL only).
    #[serde(default, rename = "delayMs")]
    pub delay_ms: Option<u64>,
    /// Start no sooner than this time, in ms since the Unix epoch (shared
    /// queue on PostgreSQL only).
    #[serde(default, rename = "runAtMs")]
    pub run_at_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `POST /v1/workflows/{id}/executions`.
#[utoipa::path(post, path = "/v1/workflows/{id}/executions", tag = "executions",
    params(("id" = String, Path, description = "The workflow's id")),
    request_body = RunRequest,
    responses((status = 200, description = "Finished: `{executionId, status, finishedAtMs, error, result}`", body = Object),
              (status = 202, description = "Accepted and running (`wait: false`, or it outlasted the request timeout)", body = AcceptedBody),
              (status = 400, description = "The body is not a run request", body = ErrorBody),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 404, description = "No such workflow for this tenant", body = ErrorBody),
              (status = 413, description = "The body is over the size limit"),
              (status = 429, description = "The queue is full; see Retry-After", body = ErrorBody)))]
pub async fn run_workflow(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let entry = service
        .catalog()
        .get(&tenant, &id)
        .ok_or_else(|| ApiError::not_found(format_args!("workflow `{id}`")))?;
    let request: RunRequest = if body.is_empty() {
        RunRequest {
            wait: true,
            ..RunRequest::default()
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!(
                "the body must be {{\"input\": ..., \"wait\": true|false}}: {e}"
            ))
        })?
    };
    let due = match (request.delay_ms, request.run_at_ms) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give delayMs or runAtMs, not both"));
        }
        (Some(delay), None) => Some(crate::service::now_ms().saturating_add(delay)),
        (None, at) => at,
    };
    let accepted = match due {
        Some(due) => {
            service
                .schedule(entry, &tenant, request.input, due, request.wait)
                .await
        }
        None => {
            service
                .start(entry, &tenant, request.input, Value::Null, request.wait)
                .await
        }
    }
    .map_err(not_accepted)?;
    Ok(outcome(&service, accepted, request.wait)
        .await
        .into_response_with(&[]))
}

/// Turns a refusal into its answer.
pub(super) fn not_accepted(why: NotAccepted) -> ApiError {
    match why {
        NotAccepted::Busy => ApiError::busy(),
        NotAccepted::Store(message) => ApiError::store(message),
        NotAccepted::Unrunnable(message) => ApiError::unavailable(message),
        NotAccepted::Invalid(message) => ApiError::invalid(message),
    }
}

/// Where an accepted execution stands when the request answers.
pub(super) enum Outcome {
    /// Finished: the execution as the API shows it.
    Finished(Value),
    /// Still running (not waited for, or past the request timeout): its id.
    Running(String),
}

impl Outcome {
    /// `200` with the finished execution, or `202 {"executionId"}`;
    /// `extra` fields are added to either body.
    pub(super) fn into_response_with(self, extra: &[(&str, Value)]) -> Response {
        let (status, mut body) = match self {
            Outcome::Finished(finished) => (StatusCode::OK, finished),
            Outcome::Running(id) => (
                StatusCode::ACCEPTED,
                json!({"executionId": id, "status": "running"}),
            ),
        };
        for (key, value) in extra {
            body[*key] = value.clone();
        }
        (status, Json(body)).into_response()
    }
}

/// Waits for `accepted` to finish when `wait`, at most the request timeout.
pub(super) async fn outcome(service: &Service, accepted: Accepted, wait: bool) -> Outcome {
    let Accepted { execution_id, done } = accepted;
    if !wait {
        return Outcome::Running(execution_id);
    }
    let limit = Duration::from_millis(service.config.request_timeout_ms);
    match tokio::time::timeout(limit, done).await {
        Ok(Ok(finished)) => Outcome::Finished(finished),
        _ => Outcome::Running(execution_id),
    }
}

/// `GET /v1/executions/{id}`.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path, description = "The execution's id")),
    responses((status = 200, description = "The execution: status, input, per-node results", body = ExecutionRecord),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 404, description = "No such execution for this tenant", body = ErrorBody)))]
pub async fn get_execution(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let found = service
        .with_store(move |store| store.get(&tenant, &id).map(|r| (r, id)))
        .await
        .map_err(ApiError::store)?;
    match found {
        (Some(record), _) => Ok(Json(serde_json::to_value(record).unwrap_or(Value::Null))),
        (None, id) => Err(ApiError::not_found(format_args!("execution `{id}`"))),
    }
}

/// The query of `GET /v1/executions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    workflow_id: Option<String>,
    status: Option<String>,
    since_ms: Option<u64>,
    until_ms: Option<u64>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Most executions one page holds.
const MAX_PAGE: usize = 500;

/// `GET /v1/executions?workflowId=&status=&sinceMs=&untilMs=&limit=&offset=`.
#[utoipa::path(get, path = "/v1/executions", tag = "executions",
    params(("workflowId" = Option<String>, Query, description = "Of this workflow only"),
           ("status" = Option<String>, Query, description = "running, success, error, cancelled, timeout or invalid"),
           ("sinceMs" = Option<u64>, Query, description = "Started at or after (ms since the epoch)"),
           ("untilMs" = Option<u64>, Query, description = "Started before (ms since the epoch)"),
           ("limit" = Option<usize>, Query, description = "Page size, 1 to 500 (default 50)"),
           ("offset" = Option<usize>, Query, description = "Executions to skip")),
    responses((status = 200, description = "`{\"executions\": [...], \"nextOffset\": n | null}`, newest first", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody)))]
pub async fn list_executions(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let offset = query.offset.unwrap_or(0);
    let filter = ListFilter {
        workflow_id: query.workflow_id,
        status: query.status,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
        limit,
        offset,
    };
    let records = service
        .with_store(move |store| store.list(&tenant, &filter))
        .await
        .map_err(ApiError::store)?;
    let next = (records.len() == limit).then_some(offset + limit);
    Ok(Json(json!({"executions": records, "nextOffset": next})))
}

/// `POST /v1/executions/{id}/cancel`.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions",
    params(("id" = String, Path, description = "The execution's id")),
    responses((status = 202, description = "Cancelling", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 404, description = "No such execution for this tenant", body = ErrorBody),
              (status = 409, description = "It is not running", body = ErrorBody)))]
pub async fn cancel_execution(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if service.cancel(&tenant, &id) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"executionId": id, "status": "cancelling"})),
        )
            .into_response());
    }
    if service.queue.is_some() {
        let (t, i) = (tenant.clone(), id.clone());
        let outcome = service
            .with_queue(move |queue| queue.cancel(&t, &i))
            .await
            .map_err(|e| ApiError::store(e.to_string()))?;
        return match outcome {
            CancelOutcome::CancelledQueued => Ok((
                StatusCode::OK,
                Json(json!({"executionId": id, "status": "cancelled"})),
            )
                .into_response()),
            CancelOutcome::Requested => Ok((
                StatusCode::ACCEPTED,
                Json(json!({"executionId": id, "status": "cancelling"})),
            )
                .into_response()),
            CancelOutcome::NotRunning(status) => Err(ApiError::conflict(format!(
                "execution `{id}` is not running (it is {status})"
            ))),
            CancelOutcome::Unknown => Err(ApiError::not_found(format_args!("execution `{id}`"))),
        };
    }
    let (t, i) = (tenant.clone(), id.clone());
    let known = service
        .with_store(move |store| store.get(&t, &i))
        .await
        .map_err(ApiError::store)?;
    match known {
        Some(record) => Err(ApiError::conflict(format!(
            "execution `{id}` is not running (it is {})",
            record.status
        ))),
        None => Err(ApiError::not_found(format_args!("execution `{id}`"))),
    }
}

/// The body of `POST /v1/executions/{id}/retry` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Answer when the run finishes instead of at once.
    #[serde(default)]
    pub wait: bool,
}

/// `POST /v1/executions/{id}/retry`: a new execution of a failed,
/// cancelled or timed-out one, from its failed node — nodes that succeeded
/// (or were skipped) are replayed, not run again. Answers with the new
/// execution (`retryOf` names the old one).
#[utoipa::path(post, path = "/v1/executions/{id}/retry", tag = "executions",
    params(("id" = String, Path, description = "The failed execution's id")),
    request_body(content = Option<RetryRequest>, description = "Optional: `{\"wait\": true}` to answer when the new execution finishes"),
    responses((status = 200, description = "The new execution, finished (`retryOf` names the old one)", body = Object),
              (status = 202, description = "The new execution, running", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 404, description = "No such execution for this tenant", body = ErrorBody),
              (status = 409, description = "It did not fail, or its workflow changed since", body = ErrorBody)))]
pub async fn retry_execution(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: RetryRequest = if body.is_empty() {
        RetryRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!("the body must be {{\"wait\": true|false}}: {e}"))
        })?
    };
    let (t, i) = (tenant.clone(), id.clone());
    let (old, records) = service
        .with_store(move |store| Ok((store.get(&t, &i)?, store.node_records(&t, &i)?)))
        .await
        .map_err(ApiError::store)?;
    let old = old.ok_or_else(|| ApiError::not_found(format_args!("execution `{id}`")))?;
    if !matches!(old.status.as_str(), "error" | "cancelled" | "timeout") {
        return Err(ApiError::conflict(format!(
            "execution `{id}` is {}; only a failed, cancelled or timed-out execution can be retried",
            old.status
        )));
    }
    let entry = service
        .catalog()
        .get(&tenant, &old.workflow_id)
        .filter(|e| e.hash == old.workflow_hash)
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "workflow `{}` changed or was removed since execution `{id}` ran; run it anew instead",
                old.workflow_id
            ))
        })?;
    let completed = records
        .into_iter()
        .filter_map(|(node_id, outcome)| {
            let recorded: RecordedNode = serde_json::from_value(outcome?).ok()?;
            matches!(recorded.status, NodeStatus::Success | NodeStatus::Skipped)
                .then_some((node_id, recorded))
        })
        .collect();
    let accepted = service
        .accept(
            entry,
            &tenant,
            Submission {
                input: old.input.unwrap_or(Value::Null),
                request: old.request.unwrap_or(Value::Null),
                resume: Some(Resume {
                    completed,
                    ..Resume::default()
                }),
                due_at_ms: None,
                wait: request.wait,
            },
        )
        .await
        .map_err(not_accepted)?;
    Ok(outcome(&service, accepted, request.wait)
        .await
        .into_response_with(&[("retryOf", Value::String(id))]))
}

/// `POST /v1/admin/reload` (admin keys): scans the plugin directories and
/// the workflows directory again and swaps the new workflows in.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "operations",
    responses((status = 200, description = "`{workflows, problems, plugins}`: what the reload loaded", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 403, description = "Not an admin key", body = ErrorBody)))]
pub async fn reload(
    State(service): State<Arc<Service>>,
    Admin(_): Admin,
) -> Result<Json<Value>, ApiError> {
    let done = tokio::task::spawn_blocking(move || service.reload())
        .await
        .map_err(|e| ApiError::store(e.to_string()))?;
    Ok(Json(done))
}
