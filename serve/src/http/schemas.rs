//! The shapes of answers the OpenAPI document names (error bodies, an
//! accepted execution); handlers build them as JSON.

use utoipa::ToSchema;

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
