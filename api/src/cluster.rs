//! What the HTTP server does in cluster mode (`serve --log nats://...`): it opens the shared log
//! through a [`ClusterConnect`] given by the command line (the JetStream code lives in the
//! `mltrace-cluster` crate), makes it the store's upstream, follows it on a thread of its own, and
//! shows its state in health and metrics. Also here: `min_seq` on reads (read-your-writes on any
//! node), which a single node honours the same way.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mltrace_store::Seq;
use mltrace_store::upstream::LogBackend;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The header of a write's answer that carries the seq to pass as `min_seq` to later reads.
pub const SEQ_HEADER: &str = "mltrace-seq";

/// How long a read with `min_seq` waits for this node to apply that seq.
pub const MIN_SEQ_WAIT: Duration = Duration::from_secs(5);

/// Opens the shared log once the store is open, from the store's last seq.
pub trait ClusterConnect: Send + Sync + std::fmt::Debug {
    /// Connects, checking that the data directory (which ends at `after`) continues the log.
    fn connect(&self, after: Seq) -> Result<Arc<dyn ClusterLink>, String>;
}

/// A node's link to the shared log.
pub trait ClusterLink: Send + Sync {
    /// The log, as the store's upstream.
    fn log(&self) -> Arc<dyn LogBackend>;
    /// Whether the node is connected to the log's servers.
    fn connected(&self) -> bool;
    /// The seq of the log's last event, as last seen.
    fn stream_last_seq(&self) -> Option<Seq>;
    /// Milliseconds since the log's state was last read.
    fn checked_ms_ago(&self) -> Option<u64>;
    /// Everything known of the log, for `GET /health` (stream, leader, replicas, errors).
    fn status(&self) -> Value;
    /// Tells the link how far this node applied (it announces it to the others).
    fn note_applied(&self, seq: Seq);
    /// The URL of the node that writes for the cluster, when it is another one: writes sent here
    /// are forwarded to it (`None`: this node writes itself).
    fn forward_to(&self) -> Option<String>;
}

/// Marks a forwarded write: the node that receives it handles it itself, whatever it believes
/// about the lease, so that two nodes with stale views never pass a request back and forth.
pub const FORWARDED_HEADER: &str = "mltrace-forwarded";

/// Follows the shared log on a thread of its own until `stop` is set: events other nodes
/// appended are applied locally and announced to the followers of the event stream.
pub fn follow(state: AppState, link: Arc<dyn ClusterLink>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let run = move || {
        let mut failing = false;
        while !stop.load(Ordering::Acquire) {
            match state.store.follow_upstream(50_000, Duration::from_millis(200)) {
                Ok(n) => {
                    if n > 0 {
                        state.notify_appended();
                    }
                    if failing {
                        tracing::info!("following the stream again at seq {}", state.store.last_seq());
                        failing = false;
                    }
                    link.note_applied(state.store.last_seq());
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!("following the stream: {e}");
                        failing = true;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    };
    std::thread::Builder::new()
        .name("mltrace-follow".into())
        .spawn(run)
        .unwrap_or_else(|e| panic!("cannot start the stream follower: {e}"))
}

/// The `cluster` object of `GET /health`; `None` for a single node.
pub fn health(state: &AppState) -> Option<Value> {
    let link = state.cluster.as_ref()?;
    let applied = state.store.last_seq();
    let last = link.stream_last_seq();
    let mut body = link.status();
    body["applied_seq"] = json!(applied);
    body["stream_last_seq"] = json!(last);
    body["lag"] = json!(last.map(|l| l.saturating_sub(applied)));
    body["connected"] = json!(link.connected());
    body["checked_ms_ago"] = json!(link.checked_ms_ago());
    Some(body)
}

/// `min_seq=N` on a read: answer once this node has applied seq N (waiting up to
/// [`MIN_SEQ_WAIT`]), or 503 saying how far it got. The parameter is taken off the query before
/// the route sees it. Writes answer with [`SEQ_HEADER`]. The last step of [`crate::guard::front`].
pub(crate) async fn min_seq(state: &AppState, mut req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some(writer) = state.cluster.as_ref().and_then(|l| l.forward_to())
            && req.uri().path().starts_with("/api/v1/")
            && !req.headers().contains_key(FORWARDED_HEADER)
        {
            return forward(state, &writer, req).await;
        }
        // A write's answer says which seq a later read must wait for ([`SEQ_HEADER`]): the last
        // seq visible once it is done, its own events included.
        let mut resp = next.run(req).await;
        if resp.status().is_success() {
            resp.headers_mut().insert(SEQ_HEADER, state.store.last_seq().into());
        }
        return resp;
    }
    let Some(query) = req.uri().query() else { return next.run(req).await };
    let mut wanted = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("min_seq=") {
            Some(v) => wanted = Some(v.to_string()),
            None if pair == "min_seq" => wanted = Some(String::new()),
            None => rest.push(pair),
        }
    }
    let Some(wanted) = wanted else { return next.run(req).await };
    let Ok(seq) = wanted.parse::<Seq>() else {
        return ApiError::invalid(
            "min_seq",
            format!("min_seq must be a seq (a non-negative integer, as a write answers it), not `{wanted}`"),
        )
        .into_response();
    };
    let path = req.uri().path().to_string();
    let rebuilt = if rest.is_empty() { path } else { format!("{path}?{}", rest.join("&")) };
    match rebuilt.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return ApiError::invalid("min_seq", "the query does not parse").into_response(),
    }
    let mut seen = state.appended.subscribe();
    let wait = tokio::time::timeout(MIN_SEQ_WAIT, async {
        while state.store.last_seq() < seq {
            if seen.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    let applied = state.store.last_seq();
    if wait.is_err() || applied < seq {
        let how = match &state.cluster {
            Some(link) if !link.connected() => "this node lost its connection to the stream; read from another node",
            Some(_) => "this node is still catching up with the stream; retry, or read from another node",
            None => "no write has reached that seq on this server",
        };
        let message = format!(
            "this node has applied events up to seq {applied}, not yet min_seq {seq} (waited {} s): {how}",
            MIN_SEQ_WAIT.as_secs()
        );
        return ApiError::unavailable_field("min_seq", message).into_response();
    }
    next.run(req).await
}

/// Sends a write to the node that holds the writer's lease and answers what it answered (status,
/// body, content type and [`SEQ_HEADER`]). The caller's token goes along: every node of a cluster
/// takes the same tokens.
async fn forward(state: &AppState, writer: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, state.body_limit).await else {
        return ApiError::too_large(Some("body"), "the request body is too large").into_response();
    };
    let url = format!("{}{}", writer.trim_end_matches('/'), parts.uri.path_and_query().map_or("", |p| p.as_str()));
    let method = parts.method.as_str().to_string();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (auth, ctype) = (header("authorization"), header("content-type"));
    let sent = tokio::task::spawn_blocking(move || {
        // One agent for the process: its pool keeps the connections to the writer open.
        static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
        let agent = AGENT.get_or_init(|| {
            ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(3))
                .timeout(Duration::from_secs(120))
                .max_idle_connections_per_host(64)
                .build()
        });
        let mut r = agent.request(&method, &url).set(FORWARDED_HEADER, "1");
        if let Some(a) = &auth {
            r = r.set("Authorization", a);
        }
        if let Some(c) = &ctype {
            r = r.set("Content-Type", c);
        }
        match r.send_bytes(&body) {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => {
                let status = resp.status();
                let ctype = resp.header("content-type").map(str::to_string);
                let seq = resp.header(SEQ_HEADER).map(str::to_string);
                let mut bytes = Vec::new();
                use std::io::Read;
                resp.into_reader()
                    .take(64 << 20)
                    .read_to_end(&mut bytes)
                    .map(|_| (status, ctype, seq, bytes))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    match sent {
        Ok(Ok((status, ctype, seq, bytes))) => {
            let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), bytes).into_response();
            if let Some(v) = ctype.and_then(|c| c.parse().ok()) {
                resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, v);
            }
            if let Some(v) = seq.and_then(|s| s.parse().ok()) {
                resp.headers_mut().insert(SEQ_HEADER, v);
            }
            resp
        }
        Ok(Err(why)) => {
            unavailable(format!("writes are unavailable: the cluster's writer at {writer} did not answer ({why})"))
        }
        Err(e) => unavailable(format!("writes are unavailable: forwarding failed ({e})")),
    }
}

/// The cluster gauges of `/metrics` (nothing for a single node).
pub fn metrics(state: &AppState, out: &mut String) {
    use std::fmt::Write;
    let Some(link) = &state.cluster else { return };
    let applied = state.store.last_seq();
    if let Some(n) = link.status().get("conflicts").and_then(Value::as_u64) {
        let _ = writeln!(
            out,
            "# HELP mltrace_cluster_conflicts_total Writes the stream refused because another node appended first.\n\
             # TYPE mltrace_cluster_conflicts_total counter\nmltrace_cluster_conflicts_total {n}"
        );
    }
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    gauge("mltrace_cluster_applied_seq", "The last seq this node applied from the stream.", applied.to_string());
    gauge(
        "mltrace_cluster_connected",
        "1 when this node is connected to the NATS servers.",
        (link.connected() as u8).to_string(),
    );
    if let Some(last) = link.stream_last_seq() {
        gauge("mltrace_cluster_stream_last_seq", "The seq of the stream's last event, as last seen.", last.to_string());
        gauge(
            "mltrace_cluster_lag_events",
            "Events in the stream this node has not applied yet.",
            last.saturating_sub(applied).to_string(),
        );
    }
    if let Some(ms) = link.checked_ms_ago() {
        gauge(
            "mltrace_cluster_checked_seconds_ago",
            "Seconds since the stream's state was last read.",
            format!("{:.3}", ms as f64 / 1000.0),
        );
    }
}

/// Why writes are refused for want of the stream, if they are: no connection, or a stream whose
/// state cannot be read (no quorum of its servers).
pub fn writes_refused(state: &AppState) -> Option<String> {
    let link = state.cluster.as_ref()?;
    if !link.connected() {
        return Some("this node lost its connection to the stream".to_string());
    }
    let status = link.status();
    let error = status.get("error").and_then(Value::as_str)?;
    Some(format!("the stream's state cannot be read ({error}); are a majority of its NATS servers up?"))
}

/// The answer to a request refused before it reaches the store.
pub fn unavailable(message: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"error": {"code": "unavailable", "message": message, "field": null}})),
    )
        .into_response()
}
