//! The OpenAPI document of the `/v1` API, generated from the handlers'
//! annotations (utoipa), served at `/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;
#[allow(unused_imports)] // `super::dashboard` paths are named in the document.
use super::dashboard;
use super::plugin_hosts;
use super::schemas::{AcceptedBody, ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(title = "plugflow", description = "Run workflows, follow and manage their executions. Every call runs as the tenant of its API key (`Authorization: Bearer <key>`); another tenant's workflows and executions answer 404."),
    paths(
        api::list_workflows,
        api::run_workflow,
        api::list_executions,
        api::get_execution,
        api::cancel_execution,
        api::retry_execution,
        api::reload,
        plugin_hosts::list,
        plugin_hosts::clear,
        super::dashboard::workflow,
        super::dashboard::dashboard,
    ),
    components(schemas(
        api::RunRequest,
        api::RetryRequest,
        crate::store::ExecutionRecord,
        ErrorBody,
        ErrorDetail,
        AcceptedBody,
    )),
    modifiers(&BearerKey),
    security(("apiKey" = []))
)]
struct Document;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "apiKey",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// `GET /v1/openapi.json`.
pub async fn serve_document() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
