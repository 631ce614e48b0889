//! Lineage: I/O pointers, trace, downstream, outdated.

use super::{params, read};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use mltrace_store::DEFAULT_TRACE_LIMIT;
use mltrace_store::model::{DownstreamView, IoView};
use serde_json::{Value, json};
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

fn walk_params(p: &crate::params::Params) -> ApiResult<(String, Option<u32>, usize)> {
    let output = p.required("output")?.to_string();
    let max_depth = p
        .uint("max_depth")?
        .map(|d| u32::try_from(d).map_err(|_| ApiError::invalid("max_depth", "`max_depth` is too large")))
        .transpose()?;
    let limit = p.limit(DEFAULT_TRACE_LIMIT, 100_000)?;
    Ok((output, max_depth, limit))
}

/// `GET /io?name=`.
pub async fn io(State(state): State<AppState>, q: Q) -> ApiResult<Json<IoView>> {
    let p = params(q)?;
    let name = p.required("name")?.to_string();
    read(&state, p.as_of()?, move |r| r.io(&name)).await.map(Json)
}

/// `GET /trace?output=`.
pub async fn trace(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let (output, max_depth, limit) = walk_params(&p)?;
    let (as_of, proof) = (p.as_of()?, p.flag("proof")?);
    super::blocking_store(&state, move |s| {
        let r = s.reader(as_of);
        let trace = r.trace(&output, max_depth, limit)?;
        let seq = r.seq();
        let ids: Vec<_> = trace.nodes.iter().map(|n| n.run.id).collect();
        let answer = serde_json::to_value(trace).unwrap_or_default();
        if proof { super::audit::with_evidence(s, answer, &ids, seq) } else { Ok(answer) }
    })
    .await
    .map(Json)
}

/// `GET /downstream?output=`.
pub async fn downstream(State(state): State<AppState>, q: Q) -> ApiResult<Json<DownstreamView>> {
    let p = params(q)?;
    let (output, max_depth, limit) = walk_params(&p)?;
    read(&state, p.as_of()?, move |r| r.downstream(&output, max_depth, limit)).await.map(Json)
}

/// `GET /outdated`.
pub async fn outdated(State(state): State<AppState>, q: Q) -> ApiResult<Json<Value>> {
    let p = params(q)?;
    let comps = read(&state, p.as_of()?, |r| r.outdated()).await?;
    Ok(Json(json!({ "components": comps })))
}
