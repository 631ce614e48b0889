//! Flags and review.

use super::{object_body, opt_string, params, read, string_list, write};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use mltrace_store::model::{ReviewRank, ReviewView};
use serde_json::{Value, json};
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `POST /flag`.
pub async fn flag(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let body = super::body_bytes(body, &state)?;
    let v = object_body(&body)?;
    let outputs = string_list(&v, "outputs")?;
    let reason = opt_string(&v, "reason")?;
    let by = opt_string(&v, "by")?;
    let flagged = write(&state, move |s| s.flag(&outputs, reason.as_deref(), by.as_deref())).await?;
    Ok(Json(json!({ "flagged": flagged })))
}

/// `POST /unflag`: named outputs, or `{"all": true}`.
pub async fn unflag(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let body = super::body_bytes(body, &state)?;
    let v = object_body(&body)?;
    let all = match v.get("all") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("all", "all must be true or false")),
    };
    let outputs = string_list(&v, "outputs")?;
    if all && !outputs.is_empty() {
        return Err(ApiError::invalid("all", "give either outputs or all, not both"));
    }
    let unflagged =
        if all { write(&state, |s| s.unflag_all()).await? } else { write(&state, move |s| s.unflag(&outputs)).await? };
    Ok(Json(json!({ "unflagged": unflagged })))
}

/// `GET /flags`.
pub async fn list(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let flags = read(&state, p.as_of()?, |r| Ok(r.flags())).await?;
    Ok(Json(json!({ "flags": flags })))
}

/// `GET /review`.
pub async fn review(State(state): State<AppState>, q: Q) -> ApiResult<Json<ReviewView>> {
    let p = params(q)?;
    let limit = p.limit(1_000, 10_000)?;
    let rank = match p.get("rank") {
        None => ReviewRank::Count,
        Some(v) => ReviewRank::parse(v)
            .ok_or_else(|| ApiError::invalid("rank", format!("`rank` must be count or specificity, not `{v}`")))?,
    };
    read(&state, p.as_of()?, move |r| r.review_ranked(limit, rank)).await.map(Json)
}
