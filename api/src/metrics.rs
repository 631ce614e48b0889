//! `GET /metrics`: Prometheus text. A handful of series, kept by hand (a registry crate would be more
//! code than the series): requests by route and status, request latency, ingested events, fsync
//! latency, log size and run count.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const BUCKETS_S: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    /// By route: a route's name is allocated once, when first seen, not on every request (under
    /// single-run POSTs the four strings of each request's keys were a visible share of its cost).
    routes: Mutex<HashMap<String, RouteStats>>,
    /// Events appended through the API.
    pub ingested_events: AtomicU64,
    /// Runs logged through the API.
    pub ingested_runs: AtomicU64,
}

/// The counters of one route.
#[derive(Default)]
struct RouteStats {
    /// Requests by method and status.
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: Histogram,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS_S.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (b, &le) in self.buckets.iter_mut().zip(BUCKETS_S.iter()) {
            if secs <= le {
                *b += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

impl Metrics {
    fn record(&self, method: &'static str, route: &str, status: u16, secs: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_string()).or_default(),
        };
        *stats.requests.entry((method, status)).or_default() += 1;
        stats.latency.observe(secs);
    }

    /// Counts runs logged (events are counted where every write is announced, see
    /// `AppState::notify_appended`).
    pub fn ingested_runs(&self, runs: u64) {
        self.ingested_runs.fetch_add(runs, Ordering::Relaxed);
    }
}

/// A request being counted by matched route and status: started before any other step of
/// [`crate::guard::front`], finished with whatever answer it got.
pub(crate) struct Tracked {
    started: Instant,
    method: &'static str,
    route: Route,
}

/// The route a request is counted under: the router's pattern (shared, not copied), or a name for
/// what matched none.
enum Route {
    Matched(MatchedPath),
    Other(&'static str),
}

impl Tracked {
    /// Starts counting `req`.
    pub(crate) fn start(req: &Request) -> Tracked {
        let started = Instant::now();
        let method = method_label(req.method());
        let route = match req.extensions().get::<MatchedPath>() {
            Some(p) => Route::Matched(p.clone()),
            None if req.uri().path().starts_with("/api/") => Route::Other("/api/unknown"),
            None => Route::Other("/ui"),
        };
        tracing::debug!(%method, path = %req.uri().path(), "request");
        Tracked { started, method, route }
    }

    /// Counts the request with its answer.
    pub(crate) fn finish(self, metrics: &Metrics, response: &Response) {
        let route = match &self.route {
            Route::Matched(p) => p.as_str(),
            Route::Other(name) => name,
        };
        metrics.record(self.method, route, response.status().as_u16(), self.started.elapsed().as_secs_f64());
    }
}

/// A label from a closed set: the methods the API knows, anything else `other`. The method is
/// recorded before auth runs, so a raw method string would let anyone add series without bound.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    // Sorted by method, route and status, then latency by route, as a reader of the text expects.
    let (requests, latency) = {
        let routes = m.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut requests = BTreeMap::new();
        let mut latency = BTreeMap::new();
        for (route, stats) in routes.iter() {
            for (&(method, status), &n) in &stats.requests {
                requests.insert((method, route.clone(), status), n);
            }
            latency.insert(route.clone(), stats.latency.clone());
        }
        (requests, latency)
    };
    let mut out = String::new();
    let _ = writeln!(out, "# HELP mltrace_http_requests_total HTTP requests by method, route and status.");
    let _ = writeln!(out, "# TYPE mltrace_http_requests_total counter");
    for ((method, route, status), n) in requests.iter() {
        let _ = writeln!(
            out,
            "mltrace_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
            escape(route)
        );
    }
    let _ = writeln!(out, "# HELP mltrace_http_request_duration_seconds Request latency by route.");
    let _ = writeln!(out, "# TYPE mltrace_http_request_duration_seconds histogram");
    for (route, h) in latency.iter() {
        let route = escape(route);
        for (le, n) in BUCKETS_S.iter().zip(h.buckets.iter()) {
            let _ = writeln!(out, "mltrace_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}");
        }
        let _ =
            writeln!(out, "mltrace_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "mltrace_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
        let _ = writeln!(out, "mltrace_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
    }
    let store = &state.store;
    let (log_bytes, segments) = store.log_size();
    let (fsyncs, fsync_time) = store.fsync_stats();
    let hist = store.fsync_histogram();
    let stats = store.reader(None).stats();
    let mut gauge = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    gauge(
        "mltrace_ingested_runs_total",
        "counter",
        "Runs logged through the API since start.",
        m.ingested_runs.load(Ordering::Relaxed).to_string(),
    );
    gauge(
        "mltrace_ingested_events_total",
        "counter",
        "Events appended through the API since start.",
        m.ingested_events.load(Ordering::Relaxed).to_string(),
    );
    gauge("mltrace_log_bytes", "gauge", "Bytes in the log's segments.", log_bytes.to_string());
    gauge("mltrace_log_segments", "gauge", "Segment files.", segments.to_string());
    gauge("mltrace_runs", "gauge", "Runs in the store.", stats.runs.to_string());
    gauge("mltrace_last_seq", "gauge", "Seq of the last acknowledged event.", stats.last_seq.to_string());
    let _ = writeln!(out, "# HELP mltrace_fsync_duration_seconds fsync latency of the log.");
    let _ = writeln!(out, "# TYPE mltrace_fsync_duration_seconds histogram");
    let mut cumulative = 0;
    for (le, n) in hist {
        cumulative += n;
        if le.is_finite() {
            let _ = writeln!(out, "mltrace_fsync_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
    }
    let _ = writeln!(out, "mltrace_fsync_duration_seconds_bucket{{le=\"+Inf\"}} {fsyncs}");
    let _ = writeln!(out, "mltrace_fsync_duration_seconds_sum {}", fsync_time.as_secs_f64());
    let _ = writeln!(out, "mltrace_fsync_duration_seconds_count {fsyncs}");
    if let Some(why) = store.failure() {
        let _ = writeln!(
            out,
            "# HELP mltrace_writes_failed 1 when the store refuses writes.\n# TYPE mltrace_writes_failed gauge\nmltrace_writes_failed{{reason=\"{}\"}} 1",
            escape(&why)
        );
    }
    crate::cluster::metrics(&state, &mut out);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
