//! `/audit/...`: the signing key, signed tree heads, inclusion and consistency proofs (the store's
//! `audit` module says what is hashed and signed), and the `proof=true` evidence that inspect and
//! trace carry. The JSON is [`audit_answer`]'s, which the data-directory client answers too.

use super::{blocking_store, params, write};
use crate::AppState;
use crate::client::{AuditAsk, audit_answer};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn answer(state: &AppState, ask: AuditAsk) -> ApiResult<Json<Value>> {
    blocking_store(state, move |s| audit_answer(s, &ask)).await.map(Json)
}

/// `GET /audit/key`.
pub async fn key(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    answer(&state, AuditAsk::Key).await
}

/// `GET /audit/head?as_of=`: a head over the tree at `as_of` (default: every acknowledged event),
/// signed now.
pub async fn head(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let as_of = params(q)?.as_of("as_of")?;
    answer(&state, AuditAsk::Head(as_of)).await
}

/// `POST /audit/head`: signs the tree of every event and writes the head to the log.
pub async fn record(State(state): State<AppState>) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = write(&state, |s| audit_answer(s, &AuditAsk::RecordHead)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// `GET /audit/proof/inclusion?seq=N&size=S`: the proof, with a head of the tree of `S` events.
pub async fn inclusion(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let seq = p.uint("seq")?.ok_or_else(|| ApiError::invalid("seq", "the query parameter `seq` is required"))?;
    answer(&state, AuditAsk::Inclusion { seq, size: p.uint("size")? }).await
}

/// `GET /audit/proof/consistency?from=S1&to=S2`: the proof, with a head of the tree of `S2` events.
pub async fn consistency(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let from = p.uint("from")?.ok_or_else(|| ApiError::invalid("from", "the query parameter `from` is required"))?;
    answer(&state, AuditAsk::Consistency { from, to: p.uint("to")? }).await
}
