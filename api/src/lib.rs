//! The HTTP face of mltrace: an axum router over the store (`docs/http-api.md`), the embedded web UI,
//! metrics and TLS. The typed Rust client is its own crate (`mltrace-client`, re-exported as
//! [`client`]), so that pipelines do not compile a server.
//!
//! # Layout
//!
//! | module        | owns                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | [`routes`]    | every endpoint of `mltrace_client` by one generic handler; runs, streams, OpenLineage and audit by their own |
//! | [`error`]     | [`ApiError`]: the contract's JSON error body and status codes         |
//! | [`auth`]      | write and read-only bearer tokens                                     |
//! | [`metrics`]   | Prometheus text at `/metrics`                                        |
//! | [`ui`]        | the `ui/` folder, embedded, with the SPA fallback                     |
//! | [`ingest`]    | the writer threads that coalesce concurrent `POST /runs` requests    |
//! | [`server`]    | sockets, timeouts, graceful shutdown, `--demo` data                    |
//! | [`tls`]       | certificates for `serve --tls-cert`, reloaded on SIGHUP; client trust  |
//! | [`cluster`]   | cluster mode: the shared log's follower, its health, `min_seq` reads  |
//!
//! [`app`] builds the whole router from an [`AppState`] without a socket, so handlers are tested with
//! `tower::ServiceExt::oneshot`; [`server::run`] puts it on a port.

#![warn(missing_docs)]

pub mod auth;
pub mod cluster;
pub mod demo;
pub mod error;
pub mod guard;
pub mod ingest;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod tls;
pub mod ui;

pub use error::{ApiError, ApiResult};
/// The typed client (its own crate, `mltrace-client`), re-exported for the command line.
pub use mltrace_client as client;
pub use mltrace_client::instrument;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use mltrace_store::Store;
use std::sync::Arc;
use tokio::sync::watch;

/// Default request body limit: 64 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Default deadline for a request body to arrive whole: 64 MiB at about 1 MiB/s.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Most runs one batch may hold.
pub const MAX_BATCH_RUNS: usize = 10_000;

/// Everything a handler can reach: [`Shared`] behind one reference count.
///
/// Every request clones the state several times (the middleware, the route and the handler's
/// extractor take their own copy): with the fields cloned one by one, that was six reference counts up and down per
/// copy, bounced between the cores, about a tenth of the HTTP threads' time under single-run POSTs.
/// A clone now moves one counter. Changing a field (`state.auth = ...`, before the router is built)
/// goes through [`Arc::make_mut`], so a clone never sees another clone's change: the same value
/// semantics as when the fields were held inline.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// The store.
    pub store: Arc<Store>,
    /// Bumped to the last visible seq after every write, for `events?follow=true`.
    pub appended: watch::Sender<u64>,
    /// Tokens.
    pub auth: auth::Tokens,
    /// Request counters and histograms.
    pub metrics: Arc<metrics::Metrics>,
    /// Request body limit in bytes.
    pub body_limit: usize,
    /// How long a request body may take to arrive, whole.
    pub body_timeout: std::time::Duration,
    /// The writer threads that log runs, coalescing concurrent requests.
    pub ingest: ingest::Ingest,
    /// The shared log in cluster mode (`None`: a single node).
    pub cluster: Option<Arc<dyn cluster::ClusterLink>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

impl AppState {
    /// State over an open store, without tokens.
    pub fn new(store: Arc<Store>) -> Self {
        let (appended, _) = watch::channel(store.last_seq());
        AppState(Arc::new(Shared {
            store: store.clone(),
            appended,
            auth: auth::Tokens::default(),
            metrics: Arc::new(metrics::Metrics::default()),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            ingest: ingest::Ingest::start(store.clone()),
            cluster: None,
        }))
    }

    /// Tells followers of the event stream that the store moved on, and counts what was appended:
    /// every write of the API passes here, so events are counted in this one place. The value only
    /// moves forward (two writes finishing together may notify out of order), and the shutdown
    /// sentinel stays.
    pub fn notify_appended(&self) {
        let last = self.store.last_seq();
        let mut appended = 0;
        self.appended.send_if_modified(|seen| {
            if last > *seen && *seen != u64::MAX {
                appended = last - *seen;
                *seen = last;
                true
            } else {
                false
            }
        });
        self.metrics.ingested_events.fetch_add(appended, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The whole application: API, metrics and UI.
pub fn app(state: AppState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .nest("/api/v1", routes::router())
        .route("/api/{*rest}", axum::routing::any(routes::unknown_api))
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(ui::serve)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::front))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
