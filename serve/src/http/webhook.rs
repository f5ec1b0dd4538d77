//! Webhooks: `<method> /webhook<path>` runs the workflow that declares the
//! route for the caller's tenant, with the request's JSON body as trigger
//! data. The workflow's `webhook-response` node, when it ran, shapes the
//! answer (`statusCode`, `headers`, `body`); otherwise the answer is the
//! execution, or `202` with its id for `responseMode: onReceived`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::api::{answer, not_accepted};
use super::error::ApiError;
use super::tenant::Tenant;
use crate::service::Service;

/// Any method on `/webhook/{*path}`.
pub async fn webhook(
    State(service): State<Arc<Service>>,
    Tenant(tenant): Tenant,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
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
            request_value(&method, &route, query.as_deref(), &headers),
        )
        .await
        .map_err(not_accepted)?;
    let response = answer(&service, accepted, !hook.respond_at_once).await;
    if response.status() != StatusCode::OK || responders.is_empty() {
        return Ok(response);
    }
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let finished: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok(shaped(&finished, &responders).unwrap_or_else(|| Json(finished).into_response()))
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
fn request_value(method: &Method, route: &str, query: Option<&str>, headers: &HeaderMap) -> Value {
    let mut query_map = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query_map.insert(decode(key), Value::String(decode(value)));
    }
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

/// Percent-decoding of a query component (`+` is a space); a malformed
/// escape is kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
