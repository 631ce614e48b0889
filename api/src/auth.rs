//! Bearer tokens: a write token allows everything under `/api/`, a read-only token only GET.
//! Without tokens the server refuses to listen beyond loopback (see [`crate::server`]).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The configured tokens.
#[derive(Clone, Default, Debug)]
pub struct Tokens {
    /// Allows reads and writes.
    pub write: Option<String>,
    /// Allows reads.
    pub read: Option<String>,
}

impl Tokens {
    /// Whether any token is required.
    pub fn enabled(&self) -> bool {
        self.write.is_some() || self.read.is_some()
    }
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: checks `Authorization: Bearer` on `/api/` requests.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tokens = &state.auth;
    if !tokens.enabled() || !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(given) = given else {
        return ApiError::unauthorized("this server needs `Authorization: Bearer <token>`").into_response();
    };
    let is_write = tokens.write.as_deref().is_some_and(|t| same(t, given));
    let is_read = tokens.read.as_deref().is_some_and(|t| same(t, given));
    let reading = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if is_write || (is_read && reading) {
        next.run(req).await
    } else if is_read {
        ApiError::forbidden("the read-only token cannot change anything; use the write token").into_response()
    } else {
        ApiError::unauthorized("the bearer token is not valid for this server").into_response()
    }
}
