//! The OpenAPI document of the `/v1` API, generated from the handlers'
//! annotations (utoipa), served at `/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::api;
#[allow(unused_imports)] // `super::dashboard` paths are named in the document.
use super::dashboard;

/// An error answer: `{"error": {"code", "message"}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// The stable code and the message of an error.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// `UNAUTHORIZED`, `NOT_FOUND`, `INVALID_REQUEST`, `CONFLICT`, `BUSY`,
    /// `STORE_UNAVAILABLE`.
    code: String,
    /// What went wrong and what to do.
    message: String,
}

/// An execution accepted and still running.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct AcceptedBody {
    execution_id: String,
    /// `running`.
    status: String,
}

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
