//! The Rust client of mltrace: one trait, [`Backend`], with every read and write of the contract,
//! and the ways to reach a store behind it. It compiles without an HTTP server or an async runtime,
//! so a pipeline that only logs runs pulls in a blocking HTTP client (ureq, rustls) and the store's
//! types, nothing of axum, hyper or tokio. [`instrument`] wraps it for Rust pipelines.
//!
//! | type          | reaches                                                                   |
//! |---------------|---------------------------------------------------------------------------|
//! | [`HttpClient`] | a running `mltrace serve` over HTTP (blocking, bearer token)            |
//! | [`DataDir`]   | a data directory on disk: read-only opens for reads (beside a server), a writer opened on the first write and kept |
//! | [`Store`]     | an already open store, in process                                         |
//!
//! All three answer with the store's model types ([`mltrace_store::model`]), which are exactly the
//! HTTP API's JSON, so a caller (the `mltrace` command, a Rust pipeline) does not care which one it
//! has. [`Settings`] and [`connect`] pick one the way the command line does: `MLTRACE_SERVER`
//! (or the old `DB_SERVER=host`), else `MLTRACE_DATA_DIR`, else the server on
//! `http://127.0.0.1:8080` when it answers within 300 ms, else `./mltrace-data`.
//!
//! Errors ([`Error`]) keep what the server said (status, code, message, field) or what the store
//! said ([`StoreError`]), and name the server's URL when it cannot be reached.
//!
//! ```no_run
//! use mltrace_client::{Backend, HttpClient};
//! let server = HttpClient::new("http://127.0.0.1:8080").with_token(Some("secret".into()));
//! for run in server.recent(5, None, None)? {
//!     println!("#{} {}", run.id, run.component);
//! }
//! # Ok::<(), mltrace_client::Error>(())
//! ```

mod embedded;
mod http;
pub mod instrument;
pub mod tls;

pub use embedded::DataDir;
pub use http::HttpClient;

use mltrace_store::model::{
    ComponentDetail, ComponentView, DownstreamView, FlagView, IoView, Logged, OutdatedComponent, ReviewRank,
    ReviewView, RunDetail, RunSummary, Stats, Suggestions, TagCount, TraceView,
};
use mltrace_store::{AsOf, NewRun, RunId, Seq, Store, StoreError, Timestamp};
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

    /// Counts and sizes.
    fn stats(&self, as_of: Option<AsOf>) -> Result<Stats>;
    /// The most recent runs, newest first (start time, then id); `before` continues a page.
    fn recent(&self, limit: usize, before: Option<RunId>, as_of: Option<AsOf>) -> Result<Vec<RunSummary>>;
    /// A component's runs, newest first, within an inclusive start-time range.
    fn history(
        &self,
        component: &str,
        limit: usize,
        before: Option<RunId>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        as_of: Option<AsOf>,
    ) -> Result<Vec<RunSummary>>;
    /// One run in full.
    fn run(&self, id: RunId, as_of: Option<AsOf>) -> Result<RunDetail>;
    /// A component with its run count, latest run and outdated flag.
    fn component(&self, name: &str, as_of: Option<AsOf>) -> Result<ComponentDetail>;
    /// Components, filtered by owner and tag (both when given), sorted by name.
    fn components(&self, owner: Option<&str>, tag: Option<&str>, as_of: Option<AsOf>) -> Result<Vec<ComponentView>>;
    /// Every tag with the number of components carrying it.
    fn tags(&self, as_of: Option<AsOf>) -> Result<Vec<TagCount>>;
    /// An I/O pointer: type, flag, producers, consumers.
    fn io(&self, name: &str, as_of: Option<AsOf>) -> Result<IoView>;
    /// The runs that produced an output (pre-order from its latest producer).
    fn trace(&self, output: &str, max_depth: Option<u32>, limit: usize, as_of: Option<AsOf>) -> Result<TraceView>;
    /// Everything derived from an output.
    fn downstream(
        &self,
        output: &str,
        max_depth: Option<u32>,
        limit: usize,
        as_of: Option<AsOf>,
    ) -> Result<DownstreamView>;
    /// Flagged outputs, in the order they were flagged.
    fn flags(&self, as_of: Option<AsOf>) -> Result<Vec<FlagView>>;
    /// Flagged outputs and the runs most common to their traces, in the contract's order.
    fn review(&self, limit: usize, as_of: Option<AsOf>) -> Result<ReviewView> {
        self.review_ranked(limit, ReviewRank::Count, as_of)
    }
    /// Review with the runs in the given order (`ReviewRank::Specificity` puts the runs specific to
    /// the flagged outputs first).
    fn review_ranked(&self, limit: usize, rank: ReviewRank, as_of: Option<AsOf>) -> Result<ReviewView>;
    /// Components whose latest run depends on a superseded run.
    fn outdated(&self, as_of: Option<AsOf>) -> Result<Vec<OutdatedComponent>>;
    /// Names matching `q`, for completion.
    fn suggest(&self, q: &str, limit: usize, as_of: Option<AsOf>) -> Result<Suggestions>;
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
    /// Registers a component: description and owner replaced, tags added.
    fn register_component(&self, name: &str, description: &str, owner: &str, tags: &[String]) -> Result<ComponentView>;
    /// Adds tags to a component (creating it when new).
    fn tag_component(&self, name: &str, tags: &[String]) -> Result<ComponentView>;
    /// Replaces a run's notes; answers the run.
    fn set_notes(&self, id: RunId, notes: &str) -> Result<RunDetail>;
    /// Flags outputs (every name must be known, or nothing is flagged); answers the names.
    fn flag(&self, outputs: &[String], reason: Option<&str>, by: Option<&str>) -> Result<Vec<String>>;
    /// Unflags the named outputs; answers those that were flagged.
    fn unflag(&self, outputs: &[String]) -> Result<Vec<String>>;
    /// Unflags everything; answers what was flagged.
    fn unflag_all(&self) -> Result<Vec<String>>;
    /// An audit question; answers the HTTP API's JSON for it.
    fn audit(&self, ask: &AuditAsk) -> Result<serde_json::Value>;
}

/// An audit question (the store's `audit` module says what is hashed and signed).
#[derive(Clone, Debug, PartialEq)]
pub enum AuditAsk {
    /// `GET /audit/key`.
    Key,
    /// `GET /audit/head?as_of=`.
    Head(Option<AsOf>),
    /// `POST /audit/head`.
    RecordHead,
    /// `GET /audit/proof/inclusion?seq=&size=`.
    Inclusion {
        /// The event.
        seq: Seq,
        /// The tree's size (default: every acknowledged event).
        size: Option<u64>,
    },
    /// `GET /audit/proof/consistency?from=&to=`.
    Consistency {
        /// The earlier size.
        from: u64,
        /// The later size (default: every acknowledged event).
        to: Option<u64>,
    },
    /// `GET /runs/{id}?proof=true&as_of=`.
    Run {
        /// The run.
        id: RunId,
        /// When.
        as_of: Option<AsOf>,
    },
}

/// Answers an audit question from a store in process, with exactly the JSON the HTTP API answers.
pub fn audit_answer(store: &Store, ask: &AuditAsk) -> std::result::Result<serde_json::Value, StoreError> {
    use mltrace_store::audit::{consistency_json, evidence_json, head_json, inclusion_json, key_json};
    Ok(match ask {
        AuditAsk::Key => key_json(&store.audit_key()?),
        AuditAsk::Head(as_of) => head_json(&store.signed_head(*as_of)?, None),
        AuditAsk::RecordHead => {
            let (seq, head) = store.record_head()?;
            head_json(&head, Some(seq))
        }
        AuditAsk::Inclusion { seq, size } => {
            let size = size.unwrap_or_else(|| store.last_seq());
            let mut v = inclusion_json(&store.inclusion_proof(*seq, Some(size))?);
            v["head"] = head_json(&store.signed_head(Some(AsOf::Seq(size)))?, None);
            v
        }
        AuditAsk::Consistency { from, to } => {
            let to = to.unwrap_or_else(|| store.last_seq());
            let mut v = consistency_json(&store.consistency_proof(*from, Some(to))?);
            v["head"] = head_json(&store.signed_head(Some(AsOf::Seq(to)))?, None);
            v
        }
        AuditAsk::Run { id, as_of } => {
            let r = store.reader(*as_of);
            let mut v = serde_json::to_value(r.run(*id)?).unwrap_or_default();
            let seq = r.seq();
            drop(r);
            v["proof"] = evidence_json(&store.run_evidence(&[*id], Some(AsOf::Seq(seq)))?);
            v
        }
    })
}

/// Page size of [`Store`]'s event stream.
const EVENT_PAGE: usize = 1_000;

impl Backend for Store {
    fn describe(&self) -> String {
        format!("the data directory {}", self.dir().display())
    }

    fn stats(&self, as_of: Option<AsOf>) -> Result<Stats> {
        Ok(self.reader(as_of).stats())
    }

    fn recent(&self, limit: usize, before: Option<RunId>, as_of: Option<AsOf>) -> Result<Vec<RunSummary>> {
        Ok(self.reader(as_of).recent(limit, before)?)
    }

    fn history(
        &self,
        component: &str,
        limit: usize,
        before: Option<RunId>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        as_of: Option<AsOf>,
    ) -> Result<Vec<RunSummary>> {
        Ok(self.reader(as_of).history(component, limit, before, since, until)?)
    }

    fn run(&self, id: RunId, as_of: Option<AsOf>) -> Result<RunDetail> {
        Ok(self.reader(as_of).run(id)?)
    }

    fn component(&self, name: &str, as_of: Option<AsOf>) -> Result<ComponentDetail> {
        Ok(self.reader(as_of).component(name)?)
    }

    fn components(&self, owner: Option<&str>, tag: Option<&str>, as_of: Option<AsOf>) -> Result<Vec<ComponentView>> {
        Ok(self.reader(as_of).components(owner, tag))
    }

    fn tags(&self, as_of: Option<AsOf>) -> Result<Vec<TagCount>> {
        Ok(self.reader(as_of).tags())
    }

    fn io(&self, name: &str, as_of: Option<AsOf>) -> Result<IoView> {
        Ok(self.reader(as_of).io(name)?)
    }

    fn trace(&self, output: &str, max_depth: Option<u32>, limit: usize, as_of: Option<AsOf>) -> Result<TraceView> {
        Ok(self.reader(as_of).trace(output, max_depth, limit)?)
    }

    fn downstream(
        &self,
        output: &str,
        max_depth: Option<u32>,
        limit: usize,
        as_of: Option<AsOf>,
    ) -> Result<DownstreamView> {
        Ok(self.reader(as_of).downstream(output, max_depth, limit)?)
    }

    fn flags(&self, as_of: Option<AsOf>) -> Result<Vec<FlagView>> {
        Ok(self.reader(as_of).flags())
    }

    fn review_ranked(&self, limit: usize, rank: ReviewRank, as_of: Option<AsOf>) -> Result<ReviewView> {
        Ok(self.reader(as_of).review_ranked(limit, rank)?)
    }

    fn outdated(&self, as_of: Option<AsOf>) -> Result<Vec<OutdatedComponent>> {
        Ok(self.reader(as_of).outdated()?)
    }

    fn suggest(&self, q: &str, limit: usize, as_of: Option<AsOf>) -> Result<Suggestions> {
        Ok(self.reader(as_of).suggest(q, limit))
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

    fn register_component(&self, name: &str, description: &str, owner: &str, tags: &[String]) -> Result<ComponentView> {
        Ok(Store::register_component(self, name, description, owner, tags)?)
    }

    fn tag_component(&self, name: &str, tags: &[String]) -> Result<ComponentView> {
        Ok(Store::tag_component(self, name, tags)?)
    }

    fn set_notes(&self, id: RunId, notes: &str) -> Result<RunDetail> {
        Store::set_notes(self, id, notes)?;
        Ok(self.reader(None).run(id)?)
    }

    fn flag(&self, outputs: &[String], reason: Option<&str>, by: Option<&str>) -> Result<Vec<String>> {
        Ok(Store::flag(self, outputs, reason, by)?)
    }

    fn unflag(&self, outputs: &[String]) -> Result<Vec<String>> {
        Ok(Store::unflag(self, outputs)?)
    }

    fn unflag_all(&self) -> Result<Vec<String>> {
        Ok(Store::unflag_all(self)?)
    }

    fn audit(&self, ask: &AuditAsk) -> Result<serde_json::Value> {
        Ok(audit_answer(self, ask)?)
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

/// The API's JSON envelopes, built exactly as the routes build them, so that `--json` prints the
/// same bytes whether the answer came over HTTP or from a data directory.
pub mod envelope {
    use serde::Serialize;
    use serde_json::{Value, json};

    /// `{"<key>": items}` as the list endpoints answer (`runs`, `components`, `tags`, `flags`).
    pub fn list<T: Serialize>(key: &str, items: &[T]) -> Value {
        let mut map = serde_json::Map::new();
        map.insert(key.to_string(), json!(items));
        Value::Object(map)
    }
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
