//! The Rust client of mltrace: every endpoint of the contract defined once ([`queries`] for reads,
//! [`commands`] for writes, both [`Endpoint`]s), one trait, [`Backend`], that answers any of them
//! (plus the streams and batches that are not one request), and the ways to reach a store behind
//! it. It compiles without an HTTP server or (unless the feature `async` is on) an async runtime,
//! so a pipeline that only logs runs pulls in a blocking HTTP client (ureq, rustls) and the store's
//! types, nothing of axum, hyper or tokio. [`instrument`] wraps it for Rust pipelines.
//!
//! | type          | reaches                                                                   |
//! |---------------|---------------------------------------------------------------------------|
//! | [`HttpClient`] | a running `mltrace serve` over HTTP (blocking, bearer token)            |
//! | `AsyncHttpClient` | the same, async (reqwest on tokio), with the feature `async`         |
//! | [`DataDir`]   | a data directory on disk: read-only opens for reads (beside a server), a writer opened on the first write and kept |
//! | [`Store`]     | an already open store, in process                                         |
//!
//! All three answer with the store's model types ([`mltrace_store::model`]), which are exactly the
//! HTTP API's JSON, so a caller (the `mltrace` command, a Rust pipeline) does not care which one it
//! has. [`Settings`] and [`connect`] pick one the way the command line does: `MLTRACE_SERVER`
//! (or the old `DB_SERVER=host`), else `MLTRACE_DATA_DIR`, else the server on
//! `http://127.0.0.1:8080` when it answers within 300 ms, else `./mltrace-data`.
//!
//! How an endpoint is defined and how to add one: `docs/endpoints.md`.
//!
//! # Async
//!
//! With the feature `async` (off by default, so that a pipeline that only logs runs compiles no
//! async runtime), `AsyncHttpClient` answers every endpoint through one generic
//! `call(&endpoint).await`, and offers what [`HttpClient`] offers beyond endpoints: runs and
//! batches, restore, the event streams line by line, token, CA certificate, the same retries of
//! reads, the same [`Error`] naming the server's field, and read-your-writes (`min_seq` after its
//! own writes). One client (and its clones) serves many tasks at once. `docs/rust-client.md`
//! says more; `examples/async_recent.rs` is a whole program.
//!
//! ```ignore
//! use mltrace_client::{AsyncHttpClient, queries::Trace};
//! let server = AsyncHttpClient::new("http://127.0.0.1:8080")?.with_token(Some("secret".into()));
//! let trace = server.call(&Trace::of("model.pkl")).await?;
//! ```
//!
//! Errors ([`Error`]) keep what the server said (status, code, message, field) or what the store
//! said ([`StoreError`]), and name the server's URL when it cannot be reached.
//!
//! ```no_run
//! use mltrace_client::{Call, HttpClient, queries::Recent};
//! let server = HttpClient::new("http://127.0.0.1:8080").with_token(Some("secret".into()));
//! for run in server.call(&Recent { limit: 5, before: None, as_of: None })?.runs {
//!     println!("#{} {}", run.id, run.component);
//! }
//! # Ok::<(), mltrace_client::Error>(())
//! ```

#[cfg(feature = "async")]
mod async_http;
pub mod commands;
mod embedded;
pub mod endpoint;
mod http;
pub mod instrument;
pub mod queries;
pub mod tls;

#[cfg(feature = "async")]
pub use async_http::AsyncHttpClient;
pub use embedded::DataDir;
pub use http::HttpClient;

pub use endpoint::{AnyEndpoint, Call, Endpoint, Method};

use mltrace_store::model::Logged;
use mltrace_store::{AsOf, NewRun, Seq, Store, StoreError};
use std::any::Any;
use std::path::PathBuf;
use std::time::Duration;

/// Where the command line and pipelines look for a server when nothing is configured.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The data directory used when nothing is configured and no server answers.
pub const DEFAULT_DATA_DIR: &str = "mltrace-data";
/// How long [`connect`] waits for the default server's health check.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// Everything that can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached (refused, timed out, DNS, connection dropped).
    #[error("cannot reach the mltrace server at {url}: {reason}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What the network said.
        reason: String,
    },
    /// The server answered with an error body (`{"error": {"code", "message", "field"}}`).
    #[error("{message}")]
    Api {
        /// The server's base URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The contract's code (`invalid_argument`, `not_found`, ...).
        code: String,
        /// What is wrong, as the server put it.
        message: String,
        /// The offending field, if the server named one.
        field: Option<String>,
    },
    /// The server answered something that is not the API's JSON.
    #[error("the server at {url} answered something unexpected: {message}")]
    Protocol {
        /// The server's base URL.
        url: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The embedded store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing what was read (an event stream) to its destination failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The CA certificate given for HTTPS cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

impl Error {
    /// The contract's error code: `invalid_argument`, `not_found`, `conflict`, `unavailable`,
    /// `unauthorized`, `forbidden`, ... (`unreachable`, `protocol`, `io` and `internal` for what the
    /// HTTP API has no code for).
    pub fn code(&self) -> &str {
        match self {
            Error::Unreachable { .. } => "unreachable",
            Error::Api { code, .. } => code,
            Error::Protocol { .. } => "protocol",
            Error::Store(e) => match e {
                StoreError::Invalid { .. } => "invalid_argument",
                StoreError::NotFound { .. } => "not_found",
                StoreError::Unavailable(_) | StoreError::Conflict(_) => "unavailable",
                StoreError::Locked { .. } => "conflict",
                StoreError::Corrupt { .. } | StoreError::Io { .. } => "internal",
            },
            Error::Io(_) => "io",
            Error::Tls(_) => "invalid_argument",
        }
    }

    /// The request itself was wrong (a bad name, a bad time, a malformed run): fix it and retry.
    pub fn is_bad_input(&self) -> bool {
        matches!(self.code(), "invalid_argument" | "payload_too_large" | "unsupported_media_type")
    }

    /// The field the error is about, when the server or the store named one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Api { field, .. } => field.as_deref(),
            Error::Store(StoreError::Invalid { field, .. } | StoreError::NotFound { field, .. }) => Some(field),
            _ => None,
        }
    }
}

/// Shorthand for the client's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every read and write the command line and Rust pipelines need, over HTTP or a store on disk.
///
/// Reads take `as_of` (a sequence number or a time; `None` for now) and answer what the store
/// answered at that point of its history. The answers are the HTTP API's JSON types.
pub trait Backend {
    /// Where this backend reads and writes, for messages (`the server at http://...`).
    fn describe(&self) -> String;

    /// Answers a read or a command; [`Call::call`] is the typed way in
    /// (`conn.call(&Trace::of("model.pkl"))`).
    fn ask(&self, q: &dyn AnyEndpoint) -> Result<Box<dyn Any + Send>>;
    /// The events after `after` (at most `limit`), each as one line of `GET /api/v1/events`
    /// (without the newline), handed to `each` in seq order; answers how many were handed over.
    /// An error from `each` stops the stream and is returned as [`Error::Io`].
    fn events(&self, after: Seq, limit: Option<u64>, each: &mut dyn FnMut(&str) -> std::io::Result<()>) -> Result<u64>;
    /// The history as OpenLineage events (`GET /api/v1/lineage/events`), each line handed to
    /// `each`, for the runs first logged after `after`, as of `as_of`.
    fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64>;

    /// Appends lines of an export (`events`) verbatim, all or nothing, where they continue the log;
    /// answers the last seq. Errors name `events[i].field`.
    fn restore(&self, lines: &[String]) -> Result<Seq>;

    /// Logs one run.
    fn log_run(&self, run: &NewRun) -> Result<Logged>;
    /// Logs a batch, all or nothing, in order (errors name `runs[i].field`).
    fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>>;
}

/// Page size of [`Store`]'s event stream.
const EVENT_PAGE: usize = 1_000;

impl Backend for Store {
    fn describe(&self) -> String {
        format!("the data directory {}", self.dir().display())
    }

    fn ask(&self, q: &dyn AnyEndpoint) -> Result<Box<dyn Any + Send>> {
        Ok(q.run_any(self)?)
    }

    fn restore(&self, lines: &[String]) -> Result<Seq> {
        Ok(self.restore_lines(lines)?)
    }

    fn events(&self, after: Seq, limit: Option<u64>, each: &mut dyn FnMut(&str) -> std::io::Result<()>) -> Result<u64> {
        let mut cursor = after;
        let mut left = limit.unwrap_or(u64::MAX);
        let mut sent = 0;
        while left > 0 {
            let page = self.events_after(cursor, left.min(EVENT_PAGE as u64) as usize)?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            for e in &page {
                // The same bytes as the API: serde_json of the same value.
                each(&mltrace_store::model::event_json(e).to_string())?;
            }
            sent += page.len() as u64;
            left -= page.len() as u64;
        }
        Ok(sent)
    }

    fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        // Pinned once, so that every page reads the same history.
        let pinned = Some(AsOf::Seq(self.reader(as_of).seq()));
        let mut cursor = Some(after);
        let mut sent = 0;
        while let Some(after) = cursor {
            let (events, next) = self.reader(pinned).openlineage_page(after, EVENT_PAGE as u64)?;
            for e in &events {
                each(&e.to_string())?;
            }
            sent += events.len() as u64;
            cursor = next;
        }
        Ok(sent)
    }

    fn log_run(&self, run: &NewRun) -> Result<Logged> {
        Ok(Store::log_run(self, run)?)
    }

    fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        Ok(Store::log_runs(self, runs)?)
    }
}

/// Where to connect, before deciding: what flags and the environment said.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// A server URL (`http://host:port`; `host:port` and `host` are accepted, see [`server_url`]).
    pub server: Option<String>,
    /// A data directory.
    pub data_dir: Option<PathBuf>,
    /// Bearer token for the server.
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust for `https://` servers, besides the Mozilla roots.
    pub ca_cert: Option<PathBuf>,
}

impl Settings {
    /// What the environment says: `MLTRACE_SERVER` (or `DB_SERVER=host`, meaning
    /// `http://host:8080`), `MLTRACE_DATA_DIR`, `MLTRACE_TOKEN`, `MLTRACE_CA_CERT`. Empty variables
    /// count as unset.
    pub fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Settings {
            server: var("MLTRACE_SERVER").or_else(|| var("DB_SERVER")),
            data_dir: var("MLTRACE_DATA_DIR").map(PathBuf::from),
            token: var("MLTRACE_TOKEN"),
            ca_cert: var("MLTRACE_CA_CERT").map(PathBuf::from),
        }
    }
}

/// What [`connect`] chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A server at this base URL.
    Server(String),
    /// A data directory; `fallback` when it is `./mltrace-data` because nothing was configured and
    /// no server answered.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Chosen by default rather than asked for.
        fallback: bool,
    },
}

/// A connected backend and what it is.
pub struct Connection {
    /// Where it reads and writes.
    pub target: Target,
    backend: Box<dyn Backend + Send + Sync>,
}

impl Connection {
    /// A connection to a server.
    pub fn server(client: HttpClient) -> Connection {
        Connection { target: Target::Server(client.url().to_string()), backend: Box::new(client) }
    }

    /// A connection to a data directory.
    pub fn data_dir(dir: DataDir, fallback: bool) -> Connection {
        Connection { target: Target::DataDir { path: dir.path().to_path_buf(), fallback }, backend: Box::new(dir) }
    }

    /// The backend.
    pub fn backend(&self) -> &(dyn Backend + Send + Sync) {
        &*self.backend
    }
}

impl std::ops::Deref for Connection {
    type Target = dyn Backend + Send + Sync;
    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

/// Normalizes a server address: `host` means `http://host:8080` (what `DB_SERVER` always meant),
/// `host:port` gets `http://`, a URL is kept; a trailing `/` is dropped.
pub fn server_url(text: &str) -> String {
    let t = text.trim().trim_end_matches('/');
    if t.contains("://") {
        return t.to_string();
    }
    // A bracketed IPv6 literal keeps its colons inside the brackets.
    let host_part = t.rsplit(']').next().unwrap_or(t);
    if host_part.contains(':') { format!("http://{t}") } else { format!("http://{t}:8080") }
}

/// Picks a backend: the server when one is configured, else the data directory when one is, else
/// the server at [`DEFAULT_SERVER`] if it answers its health check within [`PROBE_TIMEOUT`], else
/// `./mltrace-data`. Nothing is opened yet: a data directory is opened by the first read or write.
/// Fails only when the CA file of `settings` cannot be used.
pub fn connect(settings: &Settings) -> Result<Connection> {
    let client = |url: &str| -> Result<Connection> {
        let c = HttpClient::new(url).with_token(settings.token.clone()).with_ca_cert(settings.ca_cert.as_deref())?;
        Ok(Connection::server(c))
    };
    if let Some(server) = &settings.server {
        return client(&server_url(server));
    }
    if let Some(dir) = &settings.data_dir {
        return Ok(Connection::data_dir(DataDir::new(dir), false));
    }
    if HttpClient::probe(DEFAULT_SERVER, PROBE_TIMEOUT) {
        return client(DEFAULT_SERVER);
    }
    Ok(Connection::data_dir(DataDir::new(DEFAULT_DATA_DIR), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_normalized() {
        assert_eq!(server_url("db.internal"), "http://db.internal:8080");
        assert_eq!(server_url("localhost:9000"), "http://localhost:9000");
        assert_eq!(server_url("https://lineage.example.com/"), "https://lineage.example.com");
        assert_eq!(server_url("[::1]"), "http://[::1]:8080");
        assert_eq!(server_url("[::1]:81"), "http://[::1]:81");
    }

    #[test]
    fn store_errors_keep_their_code() {
        let e = Error::Store(StoreError::NotFound { field: "id".into(), message: "run 9 does not exist".into() });
        assert_eq!(e.code(), "not_found");
        assert_eq!(e.field(), Some("id"));
        assert_eq!(e.to_string(), "run 9 does not exist");
        assert!(!e.is_bad_input());
    }
}
