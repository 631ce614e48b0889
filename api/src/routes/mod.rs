//! The API's routes. Every endpoint defined in `mltrace_client` (its `queries` and `commands`, see
//! `docs/endpoints.md`) is served by one generic handler, `answer`, from the list in
//! `endpoints!`; what is not one request and one answer (runs coalesced by the writer threads,
//! event streams and restores, OpenLineage) has a module of its own. Every handler
//! does the same three steps: parse the request (errors name the field), ask the store on the
//! blocking pool (reads touch the log's files, writes wait for an fsync), answer JSON.

mod events;
mod meta;
mod openlineage;
mod runs;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, error};
use axum::extract::rejection::{QueryRejection, RawPathParamsRejection};
use axum::extract::{Query as Query_, RawPathParams, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post, put};
use axum::{Json, Router};
use mltrace_client::commands::{Flag, Notes, RecordHead, Register, Tag, Unflag};
use mltrace_client::endpoint::Params;
use mltrace_client::queries::{
    AuditHead, AuditKey, Component, Components, ConsistencyProof, Downstream, Flags, History, InclusionProof, Io,
    Outdated, Recent, Review, Run, Stats, Suggest, Tags, Trace,
};
use mltrace_client::{Endpoint, Method};
use mltrace_store::{Reader, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// The endpoints defined in `mltrace_client` (`queries` and `commands`): each is served by the one
/// generic handler, [`answer`]. Adding an endpoint is adding its name here.
macro_rules! endpoints {
    ($($e:ty),* $(,)?) => {
        /// The endpoints' routes, added to `router`.
        fn endpoints(router: Router<AppState>) -> Router<AppState> {
            router $(.route(<$e>::PATH, serve::<$e>()))*
        }

        /// (method, path) of every endpoint.
        fn endpoint_routes() -> Vec<(&'static str, &'static str)> {
            vec![$((<$e>::METHOD.as_str(), <$e>::PATH)),*]
        }
    };
}

endpoints!(
    Stats,
    Components,
    Component,
    Register,
    Tag,
    History,
    Tags,
    Recent,
    Run,
    Notes,
    Io,
    Trace,
    Downstream,
    Flag,
    Unflag,
    Flags,
    Review,
    Suggest,
    Outdated,
    AuditKey,
    AuditHead,
    RecordHead,
    InclusionProof,
    ConsistencyProof,
);

/// The routes with handlers of their own: health, the OpenAPI document, runs (coalesced by the
/// writer threads), event streams and restores, and OpenLineage.
const OWN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("POST", "/runs"),
    ("GET", "/events"),
    ("POST", "/events"),
    ("POST", "/lineage"),
    ("GET", "/lineage/events"),
];

/// Every route of the API, `("get", "/api/v1/...")`. The OpenAPI test checks the document against it.
pub fn routes() -> Vec<(String, String)> {
    OWN_ROUTES
        .iter()
        .copied()
        .chain(endpoint_routes())
        .map(|(method, path)| (method.to_ascii_lowercase(), format!("/api/v1{path}")))
        .collect()
}

/// The `/api/v1` router.
pub fn router() -> Router<AppState> {
    endpoints(Router::new())
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route("/runs", post(runs::log))
        .route("/events", get(events::stream).post(events::restore))
        .route("/lineage", post(openlineage::receive))
        .route("/lineage/events", get(openlineage::export))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}

/// The handler of `E` under its method.
fn serve<E: Endpoint>() -> MethodRouter<AppState> {
    match E::METHOD {
        Method::Get => get(answer::<E>),
        Method::Post => post(answer::<E>),
        Method::Put => put(answer::<E>),
    }
}

/// The handler of every endpoint: the request from the path and query parameters and, for a
/// command, the body (errors name the parameter or the field); the answer from the store on the
/// blocking pool (reads touch the log's files, writes wait for an fsync). A write wakes the event
/// followers and is counted.
async fn answer<E: Endpoint>(
    State(state): State<AppState>,
    path: Result<RawPathParams, RawPathParamsRejection>,
    q: Result<Query_<HashMap<String, String>>, QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<E::Answer>)> {
    let mut p = params(q)?;
    match path {
        Ok(path) => p.0.extend(path.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(e) => return Err(ApiError::invalid("path", format!("the path is malformed: {e}"))),
    }
    if E::METHOD == Method::Get {
        let request = E::from_request(&p, &[])?;
        return blocking_store(&state, move |s| request.run(s)).await.map(|a| (StatusCode::OK, Json(a)));
    }
    let body = body_bytes(body, &state)?;
    let request = E::from_request(&p, &body)?;
    let status = if E::CREATED { StatusCode::CREATED } else { StatusCode::OK };
    write(&state, move |s| request.run(s)).await.map(|a| (status, Json(a)))
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
