//! Flags and review.

use super::{object_body, opt_string, string_list, write};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde_json::{Value, json};

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
