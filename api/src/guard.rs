//! What every request goes through before a handler sees it, so that no client can hold the server
//! or get an answer outside the contract. [`front`] runs the steps in order, as one layer:
//!
//! 1. counting by route and status ([`crate::metrics`]), whatever the answer;
//! 2. the request's shape (target length, header count), refused with 414 or 431;
//! 3. from here on, an error answer that is not JSON is rewritten into the contract's body;
//! 4. bearer tokens ([`crate::auth`]);
//! 5. the body read whole, within the deadline and the size limit;
//! 6. `min_seq` on reads, the seq header on writes, forwarding in cluster mode ([`crate::cluster`]);
//!
//! then the route. One layer rather than one per step: each layer costs every request a clone of
//! the route it wraps, a boxed future and a copy of the state, and under single-run POSTs the axum
//! and tower frames, mostly those layers, were a fifth of the HTTP threads' time.
//!
//! Two of the steps are this module's own:
//!
//! - a **deadline for the request body**: a client sending one byte a second would otherwise hold a
//!   connection (and a file descriptor) for as long as it likes. The body must arrive whole within
//!   [`AppState::body_timeout`]; past it the answer is 408 and the connection closes.
//! - **JSON errors everywhere**: whatever the router or an extractor refuses in plain text or with
//!   an empty body (405, a path that is not UTF-8, a malformed header) is rewritten into the
//!   contract's `{"error": {"code", "message", "field"}}` with the same status.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware: every step before the route, in the order of the module's list.
pub async fn front(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tracked = crate::metrics::Tracked::start(&req);
    let response = match shape_refusal(&req) {
        Some(refused) => refused,
        None => json_errors(checked(&state, req, next).await).await,
    };
    tracked.finish(&state.metrics, &response);
    response
}

/// Steps 4 to 6 and the route.
async fn checked(state: &AppState, req: Request, next: Next) -> Response {
    if let Some(refused) = crate::auth::refusal(state, &req) {
        return refused;
    }
    let req = match body_within_deadline(state, req).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    crate::cluster::min_seq(state, req, next).await
}

/// Reads a request body within the deadline and the size limit: the request with the buffered
/// body, or the answer that refuses it.
async fn body_within_deadline(state: &AppState, req: Request) -> Result<Request, Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let limit = state.body_limit;
    let read = axum::body::to_bytes(body, limit);
    let bytes = match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                ApiError::too_large(None, format!("the body is larger than the server's limit of {limit} bytes"))
                    .into_response()
            } else {
                ApiError::invalid("body", format!("the body could not be read: {e}")).into_response()
            });
        }
        Err(_) => {
            let mut r = ApiError::timeout(format!(
                "the request body did not arrive within {} s; send it faster or in smaller requests",
                state.body_timeout.as_secs()
            ))
            .into_response();
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(r);
        }
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Longest request target (path and query) answered with a JSON 414. Hyper itself refuses targets
/// of 64 KiB and more before any of our code runs, with an empty body.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Most request headers answered with a JSON 431 (hyper refuses more than `HYPER_MAX_HEADERS`
/// itself, with an empty body).
pub const MAX_HEADERS: usize = 100;
/// The header count hyper is configured to parse, above [`MAX_HEADERS`] so that the usual excess
/// gets the contract's JSON answer.
pub const HYPER_MAX_HEADERS: usize = 256;

/// The request's shape is within limits (target length, header count): the refusal if not.
fn shape_refusal(req: &Request) -> Option<Response> {
    let target = req.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if target > MAX_URI_BYTES {
        return Some(error(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request target is {target} bytes; at most {MAX_URI_BYTES} are accepted (send large names in a body)"
            ),
        ));
    }
    if req.headers().len() > MAX_HEADERS {
        return Some(error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request has {} headers; at most {MAX_HEADERS} are accepted", req.headers().len()),
        ));
    }
    None
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({"error": {"code": code_of(status), "message": message, "field": null}});
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The contract's code for a status the router produced by itself.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_argument",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "invalid_argument",
    }
}

/// An error answer that is not JSON becomes the contract's JSON error body.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if status.as_u16() < 400 || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(t) if !t.is_empty() => t.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let body = serde_json::json!({"error": {"code": code_of(status), "message": message, "field": null}});
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
