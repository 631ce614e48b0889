//! Bearer tokens: a write token allows everything under `/api/`, a read-only token only GET.
//! Without tokens the server refuses to listen beyond loopback (see [`crate::server`]).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::Request;
use axum::http::Method;
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

/// The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
/// (RFC 9110, section 11.1), so `bearer` and `BEARER` work; an empty token is no token.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks `Authorization: Bearer` on `/api/` requests: the refusal, if the request may not pass (a
/// step of [`crate::guard::front`]).
pub(crate) fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    let tokens = &state.auth;
    if !tokens.enabled() || !req.uri().path().starts_with("/api/") {
        return None;
    }
    let given = req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let Some(given) = given else {
        return Some(ApiError::unauthorized("this server needs `Authorization: Bearer <token>`").into_response());
    };
    let is_write = tokens.write.as_deref().is_some_and(|t| same(t, given));
    let is_read = tokens.read.as_deref().is_some_and(|t| same(t, given));
    let reading = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if is_write || (is_read && reading) {
        None
    } else if is_read {
        Some(ApiError::forbidden("the read-only token cannot change anything; use the write token").into_response())
    } else {
        Some(ApiError::unauthorized("the bearer token is not valid for this server").into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_an_empty_token_is_none() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
