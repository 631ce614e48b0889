//! `mltrace serve`: opens the store, puts [`crate::app`] on a socket, and shuts down gracefully.
//!
//! Sockets are served with hyper directly (not `axum::serve`) for the knobs a public service needs:
//! a header read timeout (which also closes idle keep-alive connections) and a graceful shutdown
//! that stops accepting, lets in-flight requests finish, ends live event streams, flushes the log
//! and releases the directory lock.

use crate::{AppState, DEFAULT_BODY_LIMIT, app, auth::Tokens};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mltrace_store::{FsyncPolicy, LogOptions, Store, StoreError};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:8080`).
    pub addr: String,
    /// The data directory (created when missing).
    pub data_dir: PathBuf,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Tokens.
    pub tokens: Tokens,
    /// Listen beyond loopback without a token.
    pub allow_unauthenticated: bool,
    /// Load the example pipeline into an empty store.
    pub demo: bool,
    /// Request body limit.
    pub body_limit: usize,
    /// Segment size.
    pub segment_bytes: u64,
    /// Header read and keep-alive idle timeout.
    pub header_timeout: Duration,
    /// Write a checkpoint after this many new events (0: only at shutdown).
    pub checkpoint_every: u64,
    /// Sign tree heads with the Ed25519 key in this file instead of the data directory's own.
    pub signing_key: Option<PathBuf>,
    /// Keep the audit tree (off only to measure what it costs).
    pub merkle: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("mltrace-data"),
            fsync: FsyncPolicy::Always,
            tokens: Tokens::default(),
            allow_unauthenticated: false,
            demo: false,
            body_limit: DEFAULT_BODY_LIMIT,
            segment_bytes: LogOptions::default().segment_bytes,
            header_timeout: Duration::from_secs(30),
            checkpoint_every: 1_000_000,
            signing_key: None,
            merkle: true,
        }
    }
}

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address does not parse or resolve.
    #[error("cannot use the address `{0}`: {1}")]
    Address(String, String),
    /// Refused: public address without a token.
    #[error(
        "refusing to listen on {0} without a token: anyone who can reach it could change the log. Pass --token (and optionally --read-token), or --allow-unauthenticated if the network is trusted"
    )]
    Unauthenticated(SocketAddr),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Socket or runtime error.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn resolve(addr: &str) -> Result<SocketAddr, ServeError> {
    addr.to_socket_addrs()
        .map_err(|e| ServeError::Address(addr.into(), e.to_string()))?
        .next()
        .ok_or_else(|| ServeError::Address(addr.into(), "it resolves to nothing".into()))
}

/// Runs the server until SIGINT or SIGTERM. Blocks the calling thread.
pub fn run(cfg: ServeConfig) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mltrace-http")
        .build()
        .map_err(|e| ServeError::Io("starting the runtime".into(), e))?;
    runtime.block_on(serve(cfg))
}

async fn serve(cfg: ServeConfig) -> Result<(), ServeError> {
    let addr = resolve(&cfg.addr)?;
    if !addr.ip().is_loopback() && !cfg.tokens.enabled() && !cfg.allow_unauthenticated {
        return Err(ServeError::Unauthenticated(addr));
    }
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError::Io(format!("listening on {addr}"), e))?;
    let local = listener.local_addr().map_err(|e| ServeError::Io("reading the bound address".into(), e))?;
    let url = format!("http://{local}");
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| ServeError::Io(format!("creating the data directory {}", cfg.data_dir.display()), e))?;
    let opts = LogOptions {
        segment_bytes: cfg.segment_bytes,
        fsync: cfg.fsync,
        read_only: false,
        holder: format!("pid {}, serving {url}", std::process::id()),
        merkle: cfg.merkle,
        signing_key: cfg.signing_key.clone(),
    };
    let dir = cfg.data_dir.clone();
    let (store, recovery) = tokio::task::spawn_blocking(move || Store::open(&dir, opts))
        .await
        .map_err(|e| ServeError::Io("opening the store".into(), std::io::Error::other(e)))??;
    let store = Arc::new(store);
    if cfg.demo {
        let s = store.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::demo::load_if_empty(&s))
            .await
            .map_err(|e| ServeError::Io("loading the demo".into(), std::io::Error::other(e)))??;
        if loaded > 0 {
            tracing::info!("loaded the demo pipeline: {loaded} runs");
        }
    }
    let mut state = AppState::new(store.clone());
    state.auth = cfg.tokens.clone();
    state.body_limit = cfg.body_limit;
    let router = app(state.clone()).layer(
        CompressionLayer::new()
            .compress_when(SizeAbove::new(1024).and(NotForContentType::const_new("application/x-ndjson"))),
    );
    let data_dir = std::fs::canonicalize(&cfg.data_dir).unwrap_or(cfg.data_dir.clone());
    tracing::info!(
        "mltrace {} listening on {url} (data directory {}, {} events, fsync {:?})",
        env!("CARGO_PKG_VERSION"),
        data_dir.display(),
        store.last_seq(),
        cfg.fsync
    );
    if let Some(t) = &recovery.torn_tail {
        tracing::warn!(
            "recovered from a crash: dropped {} bytes of an unfinished write at {}:{}",
            t.bytes_dropped,
            t.path.display(),
            t.offset
        );
    }

    let checkpoints = tokio::spawn(checkpoint_loop(store.clone(), cfg.checkpoint_every));
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(cfg.header_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = fut.await;
                });
            }
            _ = &mut signal => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    // Live event streams end when they see this sentinel.
    state.appended.send_replace(u64::MAX);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("some connections did not finish within 10 s"),
    }
    checkpoints.abort();
    let s = store.clone();
    // A checkpoint flushes the log first: everything acknowledged is durable when it returns.
    let flushed = tokio::task::spawn_blocking(move || s.checkpoint()).await;
    match flushed {
        Ok(Ok(seq)) => tracing::info!("flushed; checkpoint at seq {seq}"),
        Ok(Err(e)) => tracing::error!("final flush or checkpoint failed: {e}"),
        Err(e) => tracing::error!("final flush failed: {e}"),
    }
    drop(state);
    drop(router);
    tracing::info!("stopped");
    Ok(())
}

/// Writes a checkpoint whenever `every` events have been appended since the last one, so that a
/// restart after a crash replays at most that many events.
async fn checkpoint_loop(store: Arc<Store>, every: u64) {
    if every == 0 {
        return;
    }
    let mut last = store.last_seq();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if store.last_seq().saturating_sub(last) < every {
            continue;
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.checkpoint()).await {
            Ok(Ok(seq)) => {
                tracing::info!("checkpoint at seq {seq}");
                last = seq;
            }
            Ok(Err(e)) => tracing::warn!("checkpoint failed: {e}"),
            Err(e) => tracing::warn!("checkpoint task failed: {e}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
