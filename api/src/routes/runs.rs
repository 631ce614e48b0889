//! `POST /runs`: one run, a batch, or NDJSON, through the writer threads that coalesce requests.

use crate::error::{ApiError, ApiResult};
use crate::{AppState, MAX_BATCH_RUNS};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use mltrace_client::commands::LoggedRuns;
use mltrace_store::wire::{self, WireError};
use mltrace_store::{NewRun, StoreError};

/// Most runs one NDJSON request may hold. A request is all or nothing, so it is validated whole in
/// memory before anything is written; without a bound, one 60 MB body of 1.7M tiny runs held
/// gigabytes and stalled every other writer for seconds.
pub const MAX_NDJSON_RUNS: usize = 100_000;

fn too_many(n: usize) -> ApiError {
    ApiError::too_large(
        Some("runs"),
        format!("the batch holds {n} runs; at most {MAX_BATCH_RUNS} are allowed (split it, or send NDJSON)"),
    )
}

/// How the body of `POST /runs` is laid out.
enum Shape {
    One,
    Batch,
    Ndjson,
}

fn parse_runs(headers: &HeaderMap, body: &[u8]) -> ApiResult<(Shape, Vec<NewRun>)> {
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ctype.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid("body", "the body is not UTF-8"))?;
            let mut runs = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                if runs.len() == MAX_NDJSON_RUNS {
                    return Err(ApiError::too_large(
                        Some("body"),
                        format!(
                            "the NDJSON body holds more than {MAX_NDJSON_RUNS} runs; send it in several requests \
                             (each is all or nothing), e.g. with `mltrace import`, which batches"
                        ),
                    ));
                }
                match wire::run(line.as_bytes()) {
                    Ok(run) => runs.push(run),
                    Err(WireError::Syntax(e)) => {
                        let at = format!("line {}", i + 1);
                        return Err(ApiError::invalid(&at, format!("{at} is not valid JSON: {e}")));
                    }
                    Err(WireError::Invalid(e)) => return Err(e.within(&format!("runs[{}]", runs.len())).into()),
                }
            }
            if runs.is_empty() {
                return Err(ApiError::invalid("body", "the NDJSON body holds no runs"));
            }
            Ok((Shape::Ndjson, runs))
        }
        "application/json" | "" | "text/json" => match wire::body(body).map_err(StoreError::from)? {
            wire::Body::One(run) => Ok((Shape::One, vec![*run])),
            wire::Body::Batch(runs) if runs.len() > MAX_BATCH_RUNS => Err(too_many(runs.len())),
            wire::Body::Batch(runs) if runs.is_empty() => {
                Err(ApiError::invalid("runs", "runs is empty: a batch needs at least one run"))
            }
            wire::Body::Batch(runs) => Ok((Shape::Batch, runs)),
        },
        other => Err(ApiError::media_type(format!(
            "Content-Type `{other}` is not accepted: send application/json (one run or {{\"runs\": [...]}}) or application/x-ndjson"
        ))),
    }
}

/// `POST /runs`.
pub async fn log(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<LoggedRuns>)> {
    let body = super::body_bytes(body, &state)?;
    let (shape, runs) = parse_runs(&headers, &body)?;
    let n = runs.len() as u64;
    let logged = state.ingest.log(runs, matches!(shape, Shape::One)).await;
    state.notify_appended();
    let logged = logged?;
    state.metrics.ingested_runs(n);
    Ok((StatusCode::CREATED, Json(LoggedRuns { runs: logged })))
}
