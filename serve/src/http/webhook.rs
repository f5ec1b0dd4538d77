//! Webhooks: `<method> /webhook<path>` runs the workflow that declares the
//! route for the caller's tenant, with the request's JSON body as trigger
//! data. The workflow's `webhook-response` node, when it ran, shapes the
//! answer (`statusCode`, `headers`, `body`); otherwise the answer is the
//! execution, or `202` with its id for `responseMode: onReceived`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::api::{not_accepted, outcome, Outcome};
use super::error::ApiError;
use super::tenant::Tenant;
use crate::service::Service;

/// Any method on `/webhook/{*path}`.
pub async fn webhook(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let route = format!("/{}", path.trim_start_matches('/'));
    let (entry, hook) = service
        .catalog()
        .webhook(&tenant, method.as_str(), &route)
        .ok_or_else(|| ApiError::not_found(format_args!("webhook {method} /webhook{route}")))?;
    let input: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("the webhook body is not JSON: {e}")))?
    };
    let responders: Vec<String> = entry
        .compiled
        .workflow
        .nodes
        .iter()
        .filter(|n| n.node_type.as_deref() == Some("webhook-response"))
        .map(|n| n.id.clone())
        .collect();
    let accepted = service
        .start(
            entry,
            &tenant,
            input,
            request_value(&method, &route, query, &headers),
            !hook.respond_at_once,
        )
        .await
        .map_err(not_accepted)?;
    Ok(
        match outcome(&service, accepted, !hook.respond_at_once).await {
            Outcome::Finished(finished) => shaped(&finished, &responders)
                .unwrap_or_else(|| Outcome::Finished(finished).into_response_with(&[])),
            running => running.into_response_with(&[]),
        },
    )
}

/// Headers a workflow never sees: credentials of the caller.
const HIDDEN_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// `$context.request`: method, path, query parameters and headers (names
/// lower-case; credentials left out).
fn request_value(
    method: &Method,
    route: &str,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Value {
    let query_map: Map<String, Value> = query
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let mut header_map = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if HIDDEN_HEADERS.contains(&name) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            header_map.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    json!({
        "method": method.as_str(),
        "path": format!("/webhook{route}"),
        "query": query_map,
        "headers": header_map,
    })
}

/// The answer a successful `webhook-response` node describes.
fn shaped(finished: &Value, responders: &[String]) -> Option<Response> {
    let nodes = finished.pointer("/result/nodes")?;
    let output = responders.iter().find_map(|id| {
        let node = nodes.get(id)?;
        (node.get("status")?.as_str()? == "success").then(|| node.get("output"))?
    })?;
    let status = output
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(given)) = output.get("headers") {
        for (name, value) in given {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
    }
    let body = output.get("body").cloned().unwrap_or(Value::Null);
    let mut response = match body {
        Value::String(text) => text.into_response(),
        other => Json(other).into_response(),
    };
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    Some(response)
}
