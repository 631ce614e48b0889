//! Health and the OpenAPI document.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};

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

/// The OpenAPI document, kept beside the code and checked against the router by a test.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}
