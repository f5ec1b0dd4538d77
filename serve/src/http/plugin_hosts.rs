//! The process tier for operators (admin keys): each plugin host's state,
//! and clearing a quarantine.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::schemas::ErrorBody;
use super::tenant::Admin;
use crate::service::Service;

/// `GET /v1/admin/plugin-hosts`: every plugin-host process known so far —
/// plugin, library, tenant (for hosts forced by a tenant policy), state
/// (`running`, `idle`, `restarting`, `quarantined`), pid, starts, crashes.
#[utoipa::path(get, path = "/v1/admin/plugin-hosts", tag = "operations",
    responses((status = 200, description = "`{hosts: [...]}`", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 403, description = "Not an admin key", body = ErrorBody)))]
pub async fn list(State(service): State<Arc<Service>>, Admin(_): Admin) -> Json<Value> {
    let hosts = service
        .plugin_hosts()
        .map(|hosts| hosts.status())
        .unwrap_or_default();
    Json(json!({ "hosts": hosts }))
}

/// `POST /v1/admin/plugin-hosts/{plugin}/clear`: lifts the quarantine of
/// `plugin`'s hosts (the next call starts a fresh process); audited.
#[utoipa::path(post, path = "/v1/admin/plugin-hosts/{plugin}/clear", tag = "operations",
    params(("plugin" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "`{plugin, cleared}`: how many hosts were quarantined", body = Object),
              (status = 401, description = "No valid API key", body = ErrorBody),
              (status = 403, description = "Not an admin key", body = ErrorBody),
              (status = 404, description = "No plugin host runs that plugin", body = ErrorBody)))]
pub async fn clear(
    State(service): State<Arc<Service>>,
    Admin(_): Admin,
    Path(plugin): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hosts = service
        .plugin_hosts()
        .filter(|h| h.status().iter().any(|s| s.plugin == plugin))
        .ok_or_else(|| ApiError::not_found(format!("plugin host of `{plugin}`")))?;
    let cleared = hosts.clear_quarantine(&plugin);
    Ok(Json(json!({ "plugin": plugin, "cleared": cleared })))
}
