//! `GET /events`: the log as NDJSON, and with `follow=true` a live tail (how the UI goes live and
//! how audits replay). The stream reads the log in pages, so memory stays flat however long it is.

use super::params;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use mltrace_store::model::event_json;
use std::collections::HashMap;

type Q = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Most events in one chunk of the answer.
const PAGE: usize = 1_000;
/// A chunk ends once its NDJSON reaches this size. Events carry code snapshots of up to 16 MiB, so
/// a page counted in events alone could hold gigabytes; counted in bytes, one export holds about
/// this much (plus one read step) however large its events.
const PAGE_BYTES: usize = 256 * 1024;
/// Most events read from the log at a time while filling a chunk.
const READ_STEP: usize = 64;
/// Events below this size (as JSON, on average) are read several at a time.
const SMALL_EVENT_BYTES: usize = 4 * 1024;

/// The NDJSON of the events after `after`, at most `take` of them and about [`PAGE_BYTES`]; with the
/// seq of the last one and how many there are.
fn page_after(store: &mltrace_store::Store, mut after: u64, take: usize) -> mltrace_store::Result<(Vec<u8>, u64, u64)> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut count = 0usize;
    // Read one event first, then more at a time while they are small: a page of large events is
    // read one by one, so no more than one of them is in memory beside the page.
    let mut step = 1;
    while count < take && out.len() < PAGE_BYTES {
        let events = store.events_after(after, step.min(take - count))?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for e in &events {
            // Serializing our own JSON values cannot fail.
            let _ = serde_json::to_writer(&mut out, &event_json(e));
            out.push(b'\n');
        }
        count += events.len();
        if out.len() / count.max(1) < SMALL_EVENT_BYTES {
            step = (step * 2).min(READ_STEP);
        } else {
            step = 1;
        }
    }
    Ok((out, after, count as u64))
}

struct Cursor {
    state: AppState,
    after: u64,
    remaining: u64,
    follow: bool,
    changes: tokio::sync::watch::Receiver<u64>,
}

async fn next_page(mut c: Cursor) -> Option<(Result<Bytes, std::io::Error>, Cursor)> {
    loop {
        if c.remaining == 0 {
            return None;
        }
        let store = c.state.store.clone();
        let (after, take) = (c.after, (c.remaining.min(PAGE as u64)) as usize);
        let page = tokio::task::spawn_blocking(move || page_after(&store, after, take)).await;
        let (out, last, count) = match page {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return Some((Err(std::io::Error::other(e.to_string())), Cursor { remaining: 0, ..c })),
            Err(e) => return Some((Err(std::io::Error::other(e.to_string())), Cursor { remaining: 0, ..c })),
        };
        if count > 0 {
            c.after = last;
            c.remaining -= count;
            return Some((Ok(Bytes::from(out)), c));
        }
        if !c.follow {
            return None;
        }
        // Caught up: wait for the next append (or the server shutting down).
        if c.changes.changed().await.is_err() || *c.changes.borrow() == u64::MAX {
            return None;
        }
    }
}

/// `GET /events?after=&limit=&follow=`.
pub async fn stream(State(state): State<AppState>, q: Q) -> ApiResult<Response> {
    let p = params(q)?;
    let after = p.uint("after")?.unwrap_or(0);
    let limit = match p.uint("limit")? {
        Some(0) => return Err(ApiError::invalid("limit", "`limit` must be at least 1")),
        Some(n) => n,
        None => u64::MAX,
    };
    let follow = p.flag("follow")?;
    let mut changes = state.appended.subscribe();
    changes.mark_unchanged();
    let cursor = Cursor { state, after, remaining: limit, follow, changes };
    let body = Body::from_stream(futures_util::stream::unfold(cursor, next_page));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson"), (axum::http::header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response())
}

/// Most events one `POST /events` may hold (a request is all or nothing, checked whole in memory).
pub const MAX_RESTORE_EVENTS: usize = 100_000;

/// `POST /events`: lines of an export appended verbatim where they continue the log (see
/// `mltrace_store::restore`); answers `{"last_seq", "events"}`.
pub async fn restore(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(axum::http::StatusCode, axum::Json<serde_json::Value>)> {
    let body = super::body_bytes(body, &state)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "the body is not UTF-8"))?;
    let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    if lines.is_empty() {
        return Err(ApiError::invalid("body", "the body holds no events (NDJSON, one exported event a line)"));
    }
    if lines.len() > MAX_RESTORE_EVENTS {
        return Err(ApiError::too_large(
            Some("body"),
            format!("the body holds {} events; at most {MAX_RESTORE_EVENTS} a request", lines.len()),
        ));
    }
    let n = lines.len();
    let last = super::write(&state, move |s| s.restore_lines(&lines)).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(serde_json::json!({"last_seq": last, "events": n}))))
}
