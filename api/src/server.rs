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
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How long a request body may take to arrive, whole.
    pub body_timeout: Duration,
    /// Most connections open at once (`None`: sized from the file-descriptor limit).
    pub max_connections: Option<usize>,
    /// A connection whose peer accepts no bytes for this long is closed (a follower of the event
    /// stream that stopped reading, a client that never reads its answer).
    pub write_stall_timeout: Duration,
    /// Sign tree heads with the Ed25519 key in this file instead of the data directory's own.
    pub signing_key: Option<PathBuf>,
    /// Keep the audit tree (off only to measure what it costs).
    pub merkle: bool,
    /// Cluster mode: the shared log to mirror (`None`: the data directory's own log).
    pub cluster: Option<Arc<dyn crate::cluster::ClusterConnect>>,
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
            tls: None,
            body_timeout: crate::DEFAULT_BODY_TIMEOUT,
            max_connections: None,
            write_stall_timeout: Duration::from_secs(60),
            signing_key: None,
            merkle: true,
            cluster: None,
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
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The shared log of cluster mode cannot be used.
    #[error("{0}")]
    Cluster(String),
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
    // Before binding: a bad certificate must stop the start, not the first handshake.
    let tls = cfg.tls.clone().map(crate::tls::Reloadable::new).transpose()?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError::Io(format!("listening on {addr}"), e))?;
    let local = listener.local_addr().map_err(|e| ServeError::Io("reading the bound address".into(), e))?;
    let url = format!("{}://{local}", if tls.is_some() { "https" } else { "http" });
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
    let cluster = match cfg.cluster.clone() {
        Some(connect) => {
            let after = store.last_seq();
            let link = tokio::task::spawn_blocking(move || connect.connect(after))
                .await
                .map_err(|e| ServeError::Io("connecting to the stream".into(), std::io::Error::other(e)))?
                .map_err(ServeError::Cluster)?;
            store.set_upstream(link.log())?;
            Some(link)
        }
        None => None,
    };
    if cfg.demo {
        let s = store.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::demo::load_if_empty(&s))
            .await
            .map_err(|e| ServeError::Io("loading the demo".into(), std::io::Error::other(e)))??;
        if loaded > 0 {
            tracing::info!("loaded the demo pipeline: {loaded} runs");
        } else {
            tracing::warn!(
                "--demo ignored: the data directory already holds {} events (the demo loads only into an empty one; \
                 use another --data-dir to see it)",
                store.last_seq()
            );
        }
    }
    let mut state = AppState::new(store.clone());
    state.auth = cfg.tokens.clone();
    state.body_limit = cfg.body_limit;
    state.body_timeout = cfg.body_timeout;
    state.cluster = cluster.clone();
    let stop_following = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = cluster.map(|link| crate::cluster::follow(state.clone(), link, stop_following.clone()));
    let max_connections = cfg.max_connections.unwrap_or_else(default_max_connections);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
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

    // Checkpoints are the store's own maintenance (the same whoever opens it); the server only says
    // how often.
    let maintenance = Store::maintain(&store, cfg.checkpoint_every);
    let reloads = tls.clone().map(|t| tokio::spawn(reload_on_sighup(t)));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        .keep_alive(true)
        .max_headers(crate::guard::HYPER_MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's backlog until a slot frees
        // (slow bodies and stalled readers are cut by their timeouts), instead of the process
        // running out of file descriptors and failing everyone.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut signal => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut signal => break,
        };
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
        let stream = StallGuard::new(stream, cfg.write_stall_timeout);
        let svc = TowerToHyperService::new(router.clone());
        match &tls {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = fut.await;
                    drop(permit);
                });
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                let (builder, watcher, limit) = (builder.clone(), graceful.watcher(), cfg.header_timeout);
                // The handshake runs in the connection's task, bounded like a header read, so a
                // client that opens a socket and says nothing holds nothing for long.
                tokio::spawn(async move {
                    let _permit = permit;
                    let Ok(Ok(stream)) = tokio::time::timeout(limit, acceptor.accept(stream)).await else {
                        return;
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
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
    drop(maintenance);
    stop_following.store(true, std::sync::atomic::Ordering::Release);
    if let Some(f) = follower {
        let _ = tokio::task::spawn_blocking(move || f.join()).await;
    }
    if let Some(r) = reloads {
        r.abort();
    }
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

/// The connection cap when none is given: below the process's file-descriptor limit (raised to
/// its hard maximum first), leaving room for the store's files, and at most 10,000.
fn default_max_connections() -> usize {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => (soft.saturating_sub(128) as usize).clamp(16, 10_000),
        Err(_) => 1_000,
    }
}

/// A socket whose writes fail once the peer has accepted no bytes for `limit`. Hyper has no write
/// timeout of its own: without this, a client that stops reading (a follower of `/events`, or one
/// that never reads a large answer) would hold its connection, task and buffers forever.
struct StallGuard<S> {
    inner: S,
    limit: Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> StallGuard<S> {
    fn new(inner: S, limit: Duration) -> Self {
        StallGuard { inner, limit, stalled: None }
    }

    /// Passes on the outcome of a write or flush: a pending one starts (or keeps) the stall timer and
    /// becomes an error once it has been pending for `limit`; anything else resets the timer.
    fn guard<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        outcome: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::task::Poll;
        if outcome.is_ready() {
            self.stalled = None;
            return outcome;
        }
        let limit = self.limit;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer accepted no bytes for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let outcome = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, outcome)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let outcome = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, outcome)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let outcome = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Reads the certificate and key again on every SIGHUP.
async fn reload_on_sighup(tls: crate::tls::Reloadable) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate will not be reloaded");
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                Err(e) => tracing::error!("SIGHUP: kept the previous TLS certificate: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    drop(tls);
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
