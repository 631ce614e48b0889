//! OpenLineage: `POST /lineage` takes what OpenLineage's HTTP transport sends (one event, an array
//! or NDJSON batch, gzip or not) and `GET /lineage/events` gives our whole history back as
//! OpenLineage events (NDJSON, streamed in pages of runs).

use super::{params, read};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, MAX_BATCH_RUNS};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mltrace_store::AsOf;
use mltrace_store::openlineage::{LineageEvent, parse_event};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Log positions per page of the export stream.
const PAGE_SEQS: u64 = 1_000;

/// The body as text, gunzipped when `Content-Encoding: gzip` says so (bounded by the body limit,
/// so a small bomb cannot expand without end).
fn body_text(headers: &HeaderMap, body: &[u8], limit: usize) -> ApiResult<String> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    let bytes = match encoding.trim().to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
            reader
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid("body", format!("the body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::too_large(
                    None,
                    format!("the gunzipped body is larger than the server's limit of {limit} bytes"),
                ));
            }
            out
        }
        "identity" | "" => body.to_vec(),
        other => {
            return Err(ApiError::media_type(format!(
                "Content-Encoding `{other}` is not accepted: send the body plain or gzip-compressed"
            )));
        }
    };
    String::from_utf8(bytes).map_err(|_| ApiError::invalid("body", "the body is not UTF-8"))
}

/// Splits a body into the text of each event, byte for byte: one JSON value, NDJSON (values one
/// after another), or one JSON array of values.
fn split_events(text: &str) -> ApiResult<Vec<&str>> {
    let one_value = |at: usize| -> ApiResult<usize> {
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<serde::de::IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => Ok(at + stream.byte_offset()),
            Some(Err(e)) => Err(ApiError::invalid("body", format!("the body is not valid JSON: {e}"))),
            None => Err(ApiError::invalid("body", "the body ended where an event was expected")),
        }
    };
    let skip_ws = |mut at: usize| {
        while text[at..].starts_with(|c: char| c.is_ascii_whitespace()) {
            at += 1;
        }
        at
    };
    let mut events = Vec::new();
    let mut at = skip_ws(0);
    if text[at..].starts_with('[') {
        at = skip_ws(at + 1);
        if !text[at..].starts_with(']') {
            loop {
                let end = one_value(at)?;
                events.push(&text[at..end]);
                at = skip_ws(end);
                if text[at..].starts_with(',') {
                    at = skip_ws(at + 1);
                } else if text[at..].starts_with(']') {
                    break;
                } else {
                    return Err(ApiError::invalid(
                        "body",
                        "the body is not valid JSON: expected `,` or `]` in the array",
                    ));
                }
            }
        }
        if !text[skip_ws(at + 1)..].is_empty() {
            return Err(ApiError::invalid("body", "the body holds something after its array"));
        }
    } else {
        while at < text.len() {
            let end = one_value(at)?;
            events.push(&text[at..end]);
            at = skip_ws(end);
        }
    }
    if events.is_empty() {
        return Err(ApiError::invalid("body", "the body holds no OpenLineage event"));
    }
    Ok(events)
}

fn parse_body(headers: &HeaderMap, body: &[u8], limit: usize) -> ApiResult<Vec<LineageEvent>> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let ctype = ctype.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !matches!(
        ctype.as_str(),
        "application/json" | "" | "text/json" | "application/x-ndjson" | "application/ndjson" | "application/jsonl"
    ) {
        return Err(ApiError::media_type(format!(
            "Content-Type `{ctype}` is not accepted: send application/json (one event or an array) or application/x-ndjson"
        )));
    }
    let text = body_text(headers, body, limit)?;
    let raws = split_events(&text)?;
    if raws.len() > MAX_BATCH_RUNS {
        return Err(ApiError::too_large(
            None,
            format!("the batch holds {} events; at most {MAX_BATCH_RUNS} are allowed", raws.len()),
        ));
    }
    let single = raws.len() == 1;
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            parse_event(raw.to_string())
                .map_err(|e| ApiError::from(if single { e } else { e.within(&format!("[{i}]")) }))
        })
        .collect()
}

/// `POST /lineage`.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = super::body_bytes(body, &state)?;
    let limit = state.body_limit;
    let events = parse_body(&headers, &body, limit)?;
    let logged = super::write(&state, move |s| s.log_lineage(events)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "events": logged }))))
}

struct Cursor {
    state: AppState,
    as_of: Option<AsOf>,
    after: Option<u64>,
}

async fn next_page(c: Cursor) -> Option<(Result<Bytes, std::io::Error>, Cursor)> {
    let after = c.after?;
    let store = c.state.store.clone();
    let as_of = c.as_of;
    let page = tokio::task::spawn_blocking(move || store.reader(as_of).openlineage_page(after, PAGE_SEQS)).await;
    match page {
        Ok(Ok((events, next))) => {
            let mut out = Vec::with_capacity(events.len() * 512);
            for e in &events {
                // Serializing our own JSON values cannot fail.
                let _ = serde_json::to_writer(&mut out, e);
                out.push(b'\n');
            }
            Some((Ok(Bytes::from(out)), Cursor { after: next, ..c }))
        }
        Ok(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), Cursor { after: None, ..c })),
        Err(e) => Some((Err(std::io::Error::other(e.to_string())), Cursor { after: None, ..c })),
    }
}

/// `GET /lineage/events?after=&as_of=`.
pub async fn export(State(state): State<AppState>, q: Q) -> ApiResult<Response> {
    let p = params(q)?;
    let after = p.uint("after")?.unwrap_or(0);
    let as_of = p.as_of("as_of")?;
    // Pin the end now, so that a long stream is one consistent history however the log grows.
    let seq = read(&state, as_of, |r| Ok(r.seq())).await?;
    let cursor = Cursor { state, as_of: Some(AsOf::Seq(seq)), after: Some(after) };
    let body = Body::from_stream(futures_util::stream::unfold(cursor, next_page));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}
