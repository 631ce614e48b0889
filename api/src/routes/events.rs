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

const PAGE: usize = 1_000;

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
        let page = tokio::task::spawn_blocking(move || store.events_after(after, take)).await;
        let events = match page {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => return Some((Err(std::io::Error::other(e.to_string())), Cursor { remaining: 0, ..c })),
            Err(e) => return Some((Err(std::io::Error::other(e.to_string())), Cursor { remaining: 0, ..c })),
        };
        if let Some(last) = events.last() {
            let mut out = Vec::with_capacity(events.len() * 256);
            for e in &events {
                // Serializing our own JSON values cannot fail.
                let _ = serde_json::to_writer(&mut out, &event_json(e));
                out.push(b'\n');
            }
            c.after = last.seq;
            c.remaining -= events.len() as u64;
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
