//! Components: register, tag, show, list, history; and tags.

use super::{object_body, opt_string, string_list, write};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use mltrace_store::model::ComponentView;
use serde_json::json;

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
