//! The caller's tenant, from its API key (`Authorization: Bearer <key>`);
//! never from the request's body or parameters.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::service::Service;

/// The tenant a request runs as.
pub struct Tenant(pub String);

/// A caller with an admin key (`/v1/admin/*`), and its tenant.
pub struct Admin(#[allow(dead_code)] pub String);

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts).and_then(|k| service.keys.caller(k)) {
            Some((tenant, true)) => Ok(Admin(tenant.to_owned())),
            Some((_, false)) => Err(ApiError::forbidden()),
            None => {
                service
                    .counters
                    .unauthorized
                    .fetch_add(1, Ordering::Relaxed);
                Err(ApiError::unauthorized())
            }
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl FromRequestParts<Arc<Service>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts).and_then(|k| service.keys.tenant_of(k)) {
            Some(tenant) => Ok(Tenant(tenant.to_owned())),
            None => {
                service
                    .counters
                    .unauthorized
                    .fetch_add(1, Ordering::Relaxed);
                Err(ApiError::unauthorized())
            }
        }
    }
}
