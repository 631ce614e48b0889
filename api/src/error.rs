//! One error type for every handler: the contract's JSON error body with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mltrace_store::StoreError;
use serde_json::json;

/// An error answer: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The contract's code (`invalid_argument`, `not_found`, ...).
    pub code: &'static str,
    /// What is wrong and what to do.
    pub message: String,
    /// The offending field or parameter, when there is one.
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>, field: Option<String>) -> Self {
        ApiError { status, code, message: message.into(), field }
    }

    /// 400 `invalid_argument` about `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message, Some(field.to_string()))
    }

    /// 404 `not_found`.
    pub fn not_found(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message, field.map(str::to_string))
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message, None)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, None)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message, field.map(str::to_string))
    }

    /// 415 `unsupported_media_type`.
    pub fn media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message, None)
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this path does not take that method", None)
    }

    /// 500 for what should never happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message, None)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message, Some(field))
            }
            StoreError::NotFound { field, message } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message, Some(field))
            }
            StoreError::Unavailable(why) => ApiError::unavailable(format!("writes are unavailable: {why}")),
            StoreError::Locked { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string(), None),
            other => {
                tracing::error!("store error: {other}");
                ApiError::internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "field": self.field}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;
