//! The API's routes, one module per resource. Each handler does the same three steps: parse the
//! request (errors name the field), ask the store on the blocking pool (reads touch the log's files,
//! writes wait for an fsync), answer JSON.

mod audit;
mod components;
mod events;
mod flags;
mod meta;
mod openlineage;
mod runs;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::{AppState, error};
use axum::extract::rejection::{QueryRejection, RawPathParamsRejection};
use axum::extract::{Query as Query_, RawPathParams, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use mltrace_client::Query;
use mltrace_client::queries::{
    Component, Components, Downstream, Flags, History, Io, Outdated, Recent, Review, Run, Stats, Suggest, Tags, Trace,
};
use mltrace_store::{Reader, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Every route of the API: (method, path). The OpenAPI test checks the document against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/components"),
    ("get", "/api/v1/components/{name}"),
    ("put", "/api/v1/components/{name}"),
    ("post", "/api/v1/components/{name}/tags"),
    ("get", "/api/v1/components/{name}/runs"),
    ("get", "/api/v1/tags"),
    ("get", "/api/v1/runs"),
    ("post", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("put", "/api/v1/runs/{id}/notes"),
    ("get", "/api/v1/io"),
    ("get", "/api/v1/trace"),
    ("get", "/api/v1/downstream"),
    ("post", "/api/v1/flag"),
    ("post", "/api/v1/unflag"),
    ("get", "/api/v1/flags"),
    ("get", "/api/v1/review"),
    ("get", "/api/v1/suggest"),
    ("get", "/api/v1/outdated"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/events"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/lineage"),
    ("get", "/api/v1/lineage/events"),
    ("get", "/api/v1/audit/key"),
    ("get", "/api/v1/audit/head"),
    ("post", "/api/v1/audit/head"),
    ("get", "/api/v1/audit/proof/inclusion"),
    ("get", "/api/v1/audit/proof/consistency"),
];

/// The `/api/v1` router. A read is one line: its path and its handler follow from its [`Query`]
/// (`mltrace_client::queries`); commands and streams have handlers of their own.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route(Stats::PATH, get(answer::<Stats>))
        .route(Components::PATH, get(answer::<Components>))
        .route(Component::PATH, get(answer::<Component>).put(components::register))
        .route("/components/{name}/tags", post(components::tag))
        .route(History::PATH, get(answer::<History>))
        .route(Tags::PATH, get(answer::<Tags>))
        .route(Recent::PATH, get(answer::<Recent>).post(runs::log))
        .route(Run::PATH, get(answer::<Run>))
        .route("/runs/{id}/notes", put(runs::notes))
        .route(Io::PATH, get(answer::<Io>))
        .route(Trace::PATH, get(answer::<Trace>))
        .route(Downstream::PATH, get(answer::<Downstream>))
        .route("/flag", post(flags::flag))
        .route("/unflag", post(flags::unflag))
        .route(Flags::PATH, get(answer::<Flags>))
        .route(Review::PATH, get(answer::<Review>))
        .route(Suggest::PATH, get(answer::<Suggest>))
        .route(Outdated::PATH, get(answer::<Outdated>))
        .route("/events", get(events::stream).post(events::restore))
        .route("/lineage", post(openlineage::receive))
        .route("/lineage/events", get(openlineage::export))
        .route("/audit/key", get(audit::key))
        .route("/audit/head", get(audit::head).post(audit::record))
        .route("/audit/proof/inclusion", get(audit::inclusion))
        .route("/audit/proof/consistency", get(audit::consistency))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}

/// The handler of every read: the request from the path and query parameters (errors name the
/// parameter), the answer from the store on the blocking pool (reads touch the log's files).
async fn answer<Q: Query>(
    State(state): State<AppState>,
    path: Result<RawPathParams, RawPathParamsRejection>,
    q: Result<Query_<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Q::Answer>> {
    let mut p = params(q)?;
    match path {
        Ok(path) => p.0.extend(path.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(e) => return Err(ApiError::invalid("path", format!("the path is malformed: {e}"))),
    }
    let request = Q::from_params(&p)?;
    blocking_store(&state, move |s| request.run(s)).await.map(Json)
}

/// Any other path under `/api/`.
pub async fn unknown_api(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(None, format!("there is no API endpoint at {}; see /api/v1/openapi.json", uri.path()))
}

/// Query parameters, with a JSON error when the query string itself is malformed.
pub(crate) fn params(q: Result<Query_<HashMap<String, String>>, QueryRejection>) -> ApiResult<Params> {
    q.map(|Query_(m)| Params(m)).map_err(|e| ApiError::invalid("query", format!("the query string is malformed: {e}")))
}

/// Runs a read on the blocking pool at the request's `as_of`.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    as_of: Option<mltrace_store::AsOf>,
    f: impl FnOnce(&Reader<'_>) -> mltrace_store::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let store = state.store.clone();
    blocking(move || f(&store.reader(as_of))).await
}

/// Runs a write on the blocking pool and wakes event followers after it.
pub(crate) async fn write<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> mltrace_store::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let store: Arc<Store> = state.store.clone();
    let out = blocking(move || f(&store)).await;
    state.notify_appended();
    out
}

/// Runs a call on the store on the blocking pool.
pub(crate) async fn blocking_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> mltrace_store::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let store = state.store.clone();
    blocking(move || f(&store)).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> mltrace_store::Result<T> + Send + 'static) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(error::ApiError::from),
        Err(e) => Err(ApiError::internal(format!("the request's task failed: {e}"))),
    }
}

/// Parses a JSON body with an error that says where it is malformed.
pub(crate) fn json_body(body: &[u8]) -> ApiResult<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid("body", format!("the body is not valid JSON: {e}")))
}

/// The body bytes, or 413 when over the limit.
pub(crate) fn body_bytes(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    state: &AppState,
) -> ApiResult<axum::body::Bytes> {
    body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(
                None,
                format!("the body is larger than the server's limit of {} bytes", state.body_limit),
            )
        } else {
            ApiError::invalid("body", format!("the body could not be read: {e}"))
        }
    })
}

/// Reads an optional list of strings from a JSON object.
pub(crate) fn string_list(v: &serde_json::Value, key: &str) -> ApiResult<Vec<String>> {
    match v.get(key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid(&format!("{key}[{i}]"), format!("{key}[{i}] must be a string")))
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(key, format!("{key} must be a list of strings"))),
    }
}

/// Reads an optional string from a JSON object.
pub(crate) fn opt_string(v: &serde_json::Value, key: &str) -> ApiResult<Option<String>> {
    match v.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(key, format!("{key} must be a string"))),
    }
}

/// The body must be a JSON object.
pub(crate) fn object_body(body: &[u8]) -> ApiResult<serde_json::Value> {
    let v = json_body(body)?;
    if v.is_object() { Ok(v) } else { Err(ApiError::invalid("body", "the body must be a JSON object")) }
}
