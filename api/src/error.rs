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

    /// 503 `unavailable` about `field` (a read parameter this node cannot honour yet).
    pub fn unavailable_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, Some(field.to_string()))
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

    /// 408: the request body did not arrive in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "timeout", message, None)
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
            StoreError::Unavailable(why) => {
                ApiError::unavailable(format!("writes are unavailable: {}", redact_paths(&why)))
            }
            // Left after every retry: the client may try again, as after any 503.
            StoreError::Conflict(why) => {
                ApiError::unavailable(format!("writes are unavailable: write conflict: {why}"))
            }
            StoreError::Locked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", redact_paths(&e.to_string()), None)
            }
            other => {
                // The operator's log gets the whole story; the client gets no view of the server's
                // file system.
                tracing::error!("store error: {other}");
                ApiError::internal(format!("{} (details in the server log)", redact_paths(&other.to_string())))
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

/// Replaces every absolute path in `text` by its last component: `/srv/x/log/00000003.seg` reads
/// `00000003.seg`, which is enough to talk about and tells nothing of the server's layout.
pub fn redact_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('/') {
        let before = if i == 0 { out.chars().last() } else { rest[..i].chars().last() };
        let starts_word = before.is_none_or(|c| [' ', '(', '`', '\'', '"', '='].contains(&c));
        if !starts_word {
            out.push_str(&rest[..=i]);
            rest = &rest[i + 1..];
            continue;
        }
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find([' ', ')', '`', '\'', '"', ',', ';']).unwrap_or(tail.len());
        let path = tail[..end].trim_end_matches(':');
        out.push_str(path.rsplit('/').find(|c| !c.is_empty()).unwrap_or("/"));
        rest = &tail[path.len()..];
    }
    out.push_str(rest);
    out
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::redact_paths;

    #[test]
    fn absolute_paths_are_cut_to_their_file_name() {
        assert_eq!(
            redact_paths("corrupt record at /srv/mltrace/log/00000003.seg:120: bad crc"),
            "corrupt record at 00000003.seg:120: bad crc"
        );
        assert_eq!(redact_paths("reading `/data/log/1.seg` failed"), "reading `1.seg` failed");
        assert_eq!(redact_paths("a/b stays, s3://x/y stays"), "a/b stays, s3://x/y stays");
    }
}
