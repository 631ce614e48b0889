//! Components: register, tag, show, list, history; and tags.

use super::{object_body, opt_string, params, read, string_list, write};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::params::MAX_LIMIT;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use mltrace_store::model::{ComponentDetail, ComponentView};
use serde_json::{Value, json};
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// `PUT /components/{name}`: description and owner replaced, tags added.
pub async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ComponentView>> {
    let body = super::body_bytes(body, &state)?;
    let v = if body.is_empty() { json!({}) } else { object_body(&body)? };
    let description = opt_string(&v, "description")?.unwrap_or_default();
    let owner = opt_string(&v, "owner")?.unwrap_or_default();
    let tags = string_list(&v, "tags")?;
    let out = write(&state, move |s| s.register_component(&name, &description, &owner, &tags)).await?;
    Ok(Json(out))
}

/// `POST /components/{name}/tags`.
pub async fn tag(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ComponentView>> {
    let body = super::body_bytes(body, &state)?;
    let v = object_body(&body)?;
    let tags = string_list(&v, "tags")?;
    if tags.is_empty() {
        return Err(ApiError::invalid("tags", "tags is empty: give at least one tag to add"));
    }
    let out = write(&state, move |s| s.tag_component(&name, &tags)).await?;
    Ok(Json(out))
}

/// `GET /components/{name}`.
pub async fn show(State(state): State<AppState>, Path(name): Path<String>, q: Q) -> ApiResult<Json<ComponentDetail>> {
    let p = params(q)?;
    read(&state, p.as_of()?, move |r| r.component(&name)).await.map(Json)
}

/// `GET /components?owner=&tag=`.
pub async fn list(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let owner = p.get("owner").map(str::to_string);
    let tag = p.get("tag").map(str::to_string);
    let comps = read(&state, p.as_of()?, move |r| Ok(r.components(owner.as_deref(), tag.as_deref()))).await?;
    Ok(Json(json!({ "components": comps })))
}

/// `GET /components/{name}/runs`: history, newest first.
pub async fn history(State(state): State<AppState>, Path(name): Path<String>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let limit = p.limit(10, MAX_LIMIT)?;
    let before = p.run_id("before")?;
    let since = p.time("since")?;
    let until = p.time("until")?;
    let runs = read(&state, p.as_of()?, move |r| r.history(&name, limit, before, since, until)).await?;
    Ok(Json(json!({ "runs": runs })))
}

/// `GET /tags`.
pub async fn tags(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let tags = read(&state, p.as_of()?, |r| Ok(r.tags())).await?;
    Ok(Json(json!({ "tags": tags })))
}
