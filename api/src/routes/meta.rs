//! Health, stats, completion suggestions and the OpenAPI document.

use super::{params, read};
use crate::AppState;
use crate::error::ApiResult;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use mltrace_store::model::{Stats, Suggestions};
use serde_json::{Value, json};
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `GET /health`.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let store = state.store.clone();
    let runs = tokio::task::spawn_blocking(move || store.reader(None).stats().runs).await.unwrap_or(0);
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "last_seq": state.store.last_seq(),
        "runs": runs,
    });
    if let Some(why) = state.store.failure() {
        body["status"] = json!("degraded");
        body["writes"] = json!(format!("unavailable: {why}"));
    }
    if let Some(cluster) = crate::cluster::health(&state) {
        if let Some(why) = crate::cluster::writes_refused(&state) {
            body["status"] = json!("degraded");
            body["writes"] = json!(format!("unavailable: {why}"));
        }
        body["cluster"] = cluster;
    }
    Json(body)
}

/// `GET /stats`.
pub async fn stats(State(state): State<AppState>, q: Q) -> ApiResult<Json<Stats>> {
    let p = params(q)?;
    read(&state, p.as_of()?, |r| Ok(r.stats())).await.map(Json)
}

/// `GET /suggest?q=`.
pub async fn suggest(State(state): State<AppState>, q: Q) -> ApiResult<Json<Suggestions>> {
    let p = params(q)?;
    let text = p.get("q").unwrap_or("").to_string();
    let limit = p.limit(20, 200)?;
    read(&state, p.as_of()?, move |r| Ok(r.suggest(&text, limit))).await.map(Json)
}

/// The OpenAPI document, kept beside the code and checked against the router by a test.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}
