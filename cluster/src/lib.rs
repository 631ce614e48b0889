//! Cluster mode: the event log on a NATS JetStream stream (Raft-replicated by the NATS servers),
//! any number of mltrace nodes mirroring it.
//!
//! This crate owns the JetStream side of the store's log backend seam
//! ([`mltrace_store::upstream`]): [`JetStreamLog`] implements [`LogBackend`] with its own tokio
//! runtime, so that the store stays synchronous and free of networking.
//!
//! # Mapping
//!
//! One write (one batch, all or nothing) is one message on the subject `mltrace.<stream>.events`;
//! its payload is the batch's records exactly as the segment log frames them (the store's codec),
//! and its headers say which event seqs it holds (`Mltrace-First-Seq`, `Mltrace-Last-Seq`), so
//! that a node can find the message that ends at its own last event without decoding payloads.
//! A batch is published with `Nats-Expected-Last-Sequence` set to the stream seq of the message
//! that holds the node's last event: if another node appended first, the server refuses it and the
//! store catches up and resolves again. A batch larger than the servers' `max_payload` is refused
//! (the message would be), never split: a split batch would not be atomic.
//!
//! A background task reads the stream with an ordered consumer from the node's position and
//! keeps the messages in a bounded feed; [`LogBackend::read`] decodes them for the store.
//! Another task polls the stream's state (last seq, leader, replicas) and the connection, and
//! announces the node in a key-value bucket for `mltrace cluster status`.

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use mltrace_store::codec::{FrameError, decode_event, encode_record, read_frame};
use mltrace_store::upstream::LogBackend;
use mltrace_store::{Event, Seq, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Header: the seq of the first event in a message.
pub const FIRST_SEQ: &str = "Mltrace-First-Seq";
/// Header: the seq of the last event in a message.
pub const LAST_SEQ: &str = "Mltrace-Last-Seq";
/// How long a publish may wait for the stream's acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// Most payload bytes the feed holds ahead of the store before the reader waits.
const FEED_BYTES: usize = 64 * 1024 * 1024;
/// Seconds a node's announcement lives in the key-value bucket without being renewed.
const NODE_TTL: Duration = Duration::from_secs(15);
/// How long the writer's lease lasts without renewal (renewed every second): how long writes
/// wait for a new writer after the old one died.
const LEASE_TTL: Duration = Duration::from_secs(4);
/// The lease's key.
const LEASE_KEY: &str = "writer";

/// How to reach the stream.
#[derive(Clone, Debug)]
pub struct Options {
    /// The NATS servers, as URLs (`nats://127.0.0.1:4222`).
    pub servers: Vec<String>,
    /// The stream's name (letters, digits, `-` and `_`).
    pub stream: String,
    /// Replicas of the stream (used when the stream is created).
    pub replicas: usize,
    /// A NATS token.
    pub token: Option<String>,
    /// A NATS credentials file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// How this node names itself to the others: the URL at which they reach its HTTP API.
    pub node: String,
    /// Forward writes to the lease holder (off only to measure conflicts between writers).
    pub forward_writes: bool,
}

/// Why the stream cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A bad option.
    #[error("{0}")]
    Invalid(String),
    /// The servers or the stream cannot be reached or used.
    #[error("{0}")]
    Nats(String),
    /// The data directory does not continue the stream.
    #[error("{0}")]
    Mismatch(String),
}

/// The servers given: `nats://h:p[,nats://h:p...]`, each checked to be a NATS URL.
pub fn parse_servers(text: &str) -> Result<Vec<String>, ClusterError> {
    let servers: Vec<String> = text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if servers.is_empty() {
        return Err(ClusterError::Invalid("--log names no server: give nats://HOST:PORT[,nats://HOST:PORT...]".into()));
    }
    for s in &servers {
        let rest = s.strip_prefix("nats://").or_else(|| s.strip_prefix("tls://")).ok_or_else(|| {
            ClusterError::Invalid(format!("--log: `{s}` is not a NATS URL (nats://HOST:PORT or tls://HOST:PORT)"))
        })?;
        let hostport = rest.rsplit('@').next().unwrap_or(rest);
        let port_ok = hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(ClusterError::Invalid(format!("--log: `{s}` needs a host and a port (nats://HOST:PORT)")));
        }
    }
    Ok(servers)
}

/// Checks a stream name: JetStream refuses `.`, `*`, `>`, spaces and path separators.
pub fn check_stream_name(name: &str) -> Result<(), ClusterError> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!("--stream `{name}`: a stream name is 1 to 64 letters, digits, `-` or `_`")))
    }
}

/// The replicas by default: 3 when three or more servers are given, else 1.
pub fn default_replicas(servers: usize) -> usize {
    if servers >= 3 { 3 } else { 1 }
}

/// What a node knows of the stream, for health, metrics and `cluster status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// The stream's name.
    pub stream: String,
    /// Whether the client is connected to a NATS server.
    pub connected: bool,
    /// The seq of the stream's last event, as last seen (`None`: never seen).
    pub stream_last_seq: Option<Seq>,
    /// The number of messages (batches) in the stream, as last seen.
    pub stream_messages: Option<u64>,
    /// The stream's Raft leader, as last seen.
    pub leader: Option<String>,
    /// The stream's replicas (the leader included) and whether each is current.
    pub replicas: Vec<Replica>,
    /// Milliseconds since the stream's state was last read (how stale the figures above are).
    pub checked_ms_ago: Option<u64>,
    /// The last error talking to the stream, if the last check failed.
    pub error: Option<String>,
    /// Writes of this node the stream refused because another node appended first (each was
    /// resolved again).
    pub conflicts: u64,
    /// The node that holds the writer's lease (its URL), as last seen.
    pub writer: Option<String>,
    /// Whether this node holds it.
    pub is_writer: bool,
}

/// One replica of the stream.
#[derive(Clone, Debug, Serialize)]
pub struct Replica {
    /// The NATS server's name.
    pub name: String,
    /// Whether it holds everything (the leader always does).
    pub current: bool,
    /// Whether the leader sees it as offline.
    pub offline: bool,
}

/// A node's announcement in the key-value bucket.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// The node's name (its HTTP address).
    pub node: String,
    /// The last seq the node applied.
    pub applied: Seq,
    /// When it said so (milliseconds since the epoch).
    pub at_ms: i64,
}

/// One message of the stream, not yet decoded.
struct Entry {
    stream_seq: u64,
    first: Seq,
    last: Seq,
    payload: Bytes,
}

#[derive(Default)]
struct FeedState {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The stream seq the reader task has reached.
    read_to: u64,
    /// The event seq the reader task has reached.
    read_event: Seq,
    /// Why the reader task stopped, when it did.
    error: Option<String>,
}

#[derive(Default)]
struct Feed {
    state: Mutex<FeedState>,
    changed: Condvar,
}

struct Shared {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    subject: String,
    feed: Feed,
    /// Stream seq of the message that ends at each recent event seq (from the feed and from our
    /// own acknowledgements): the condition of the next publish.
    ends: Mutex<BTreeMap<Seq, u64>>,
    status: Mutex<(Status, Option<Instant>)>,
    /// The seq this node applied (reported by the server through [`JetStreamLog::note_applied`]).
    applied: AtomicU64,
    /// Publishes refused for a wrong last sequence.
    conflicts: AtomicU64,
    /// The writer's lease: who holds it, and its revision when this node does.
    lease: Mutex<(Option<String>, Option<u64>)>,
    node: String,
}

/// The JetStream stream as the store's log backend.
pub struct JetStreamLog {
    shared: Arc<Shared>,
    forward_writes: bool,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog").field("stream", &self.shared.stream).finish()
    }
}

fn nats<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> ClusterError + '_ {
    move |e| ClusterError::Nats(format!("{what}: {e}"))
}

fn subject_of(stream: &str) -> String {
    format!("mltrace.{stream}.events")
}

fn bucket_of(stream: &str) -> String {
    format!("mltrace-nodes-{stream}")
}

async fn connect_client(opts: &Options) -> Result<async_nats::Client, ClusterError> {
    let mut o = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .retry_on_initial_connect()
        .max_reconnects(None);
    if let Some(t) = &opts.token {
        o = o.token(t.clone());
    }
    if let Some(c) = &opts.creds {
        o = o
            .credentials_file(c)
            .await
            .map_err(|e| ClusterError::Invalid(format!("--nats-creds {}: {e}", c.display())))?;
    }
    let addrs: Vec<async_nats::ServerAddr> = opts
        .servers
        .iter()
        .map(|s| s.parse::<async_nats::ServerAddr>().map_err(|e| ClusterError::Invalid(format!("--log `{s}`: {e}"))))
        .collect::<Result<_, _>>()?;
    let client = o.connect(addrs).await.map_err(nats("connecting to NATS"))?;
    // `retry_on_initial_connect` answers at once; wait (bounded) for the first connection, so
    // that a wrong address fails the start instead of every request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connection_state() != async_nats::connection::State::Connected {
        if Instant::now() > deadline {
            return Err(ClusterError::Nats(format!("cannot connect to any of {} within 10 s", opts.servers.join(","))));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(client)
}

/// Connects and answers the stream's handle, creating the stream when it does not exist.
async fn open_stream(js: &jetstream::Context, name: &str, replicas: usize) -> Result<stream::Stream, ClusterError> {
    let config = stream::Config {
        name: name.to_string(),
        subjects: vec![subject_of(name)],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        // Seq order is everything here; a message is never deduplicated away.
        duplicate_window: Duration::from_secs(0),
        allow_direct: true,
        ..Default::default()
    };
    // Creation can race with another node's, or fail while the cluster elects its meta leader
    // right after a start: try for a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tried = match js.get_stream(name).await {
            Ok(s) => Ok(s),
            Err(_) => js.create_stream(config.clone()).await.map_err(|e| e.to_string()),
        };
        match tried {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("stream {name} not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(ClusterError::Nats(format!("opening the stream {name}: {e}"))),
        }
    }
}

fn header_u64(headers: Option<&async_nats::HeaderMap>, name: &str) -> Option<u64> {
    headers?.get(name)?.as_str().parse().ok()
}

/// The stream seq of the message whose last event is `after` (0 for `after` 0), found by binary
/// search over the messages' headers.
async fn locate(stream: &stream::Stream, after: Seq) -> Result<u64, ClusterError> {
    if after == 0 {
        return Ok(0);
    }
    let mut s = stream.clone();
    let info = s.info().await.map_err(nats("reading the stream's state"))?;
    let (mut lo, mut hi) = (info.state.first_sequence, info.state.last_sequence);
    if info.state.messages == 0 || hi == 0 {
        return Err(ClusterError::Mismatch(format!(
            "the data directory holds events up to seq {after}, but the stream {} is empty: move a data directory \
             into a stream with `mltrace export` and `mltrace import` (docs/cluster.md), or use an empty data directory",
            s.cached_info().config.name
        )));
    }
    let bounds = |m: &jetstream::message::StreamMessage| -> Result<(u64, u64), ClusterError> {
        match (header_u64(Some(&m.headers), FIRST_SEQ), header_u64(Some(&m.headers), LAST_SEQ)) {
            (Some(f), Some(l)) => Ok((f, l)),
            _ => Err(ClusterError::Mismatch(format!(
                "message {} of the stream was not written by mltrace (no {FIRST_SEQ}/{LAST_SEQ} headers)",
                m.sequence
            ))),
        }
    };
    let top = s.get_raw_message(hi).await.map_err(nats("reading the stream's last message"))?;
    let (_, top_last) = bounds(&top)?;
    if top_last < after {
        return Err(ClusterError::Mismatch(format!(
            "the data directory holds events up to seq {after}, the stream only up to {top_last}: this directory is \
             ahead of the stream (was it made from another stream, or by a single node?); see docs/cluster.md"
        )));
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let m = s.get_raw_message(mid).await.map_err(nats("reading a message of the stream"))?;
        let (_, last) = bounds(&m)?;
        if last < after { lo = mid + 1 } else { hi = mid }
    }
    let m = s.get_raw_message(lo).await.map_err(nats("reading a message of the stream"))?;
    let (_, last) = bounds(&m)?;
    if last != after {
        return Err(ClusterError::Mismatch(format!(
            "the data directory ends at seq {after}, inside a batch of the stream (message {lo} ends at {last}): it \
             was not made from this stream"
        )));
    }
    Ok(lo)
}

/// Decodes the records of one message.
fn decode_batch(payload: &[u8]) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let frame = read_frame(payload, at).map_err(|e| match e {
            FrameError::Incomplete => "a record is cut short".to_string(),
            FrameError::Bad(why) => why,
        })?;
        events.push(decode_event(frame.payload)?);
        at = frame.next;
    }
    Ok(events)
}

impl JetStreamLog {
    /// Connects to the servers, opens (or creates) the stream, and starts reading it after event
    /// `after` (the data directory's last seq): the directory must be a prefix of the stream.
    pub fn connect(opts: &Options, after: Seq) -> Result<JetStreamLog, ClusterError> {
        check_stream_name(&opts.stream)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mltrace-nats")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Nats(format!("starting the NATS runtime: {e}")))?;
        let opts = opts.clone();
        let (shared, start) = runtime.block_on(async {
            let client = connect_client(&opts).await?;
            let mut js = jetstream::new(client.clone());
            js.set_timeout(PUBLISH_TIMEOUT);
            let s = open_stream(&js, &opts.stream, opts.replicas).await?;
            let at = locate(&s, after).await?;
            let shared = Arc::new(Shared {
                client,
                js,
                stream: opts.stream.clone(),
                subject: subject_of(&opts.stream),
                feed: Feed::default(),
                ends: Mutex::new(BTreeMap::from([(after, at)])),
                status: Mutex::new((Status { stream: opts.stream.clone(), ..Status::default() }, None)),
                applied: AtomicU64::new(after),
                conflicts: AtomicU64::new(0),
                lease: Mutex::new((None, None)),
                node: opts.node.clone(),
            });
            Ok::<_, ClusterError>((shared, (s, at)))
        })?;
        {
            let mut feed = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner());
            feed.read_to = start.1;
            feed.read_event = after;
        }
        runtime.spawn(read_stream(shared.clone(), start.0.clone()));
        let replicas = start.0.cached_info().config.num_replicas;
        runtime.spawn(watch_stream(shared.clone(), start.0));
        runtime.spawn(hold_lease(shared.clone(), replicas));
        Ok(JetStreamLog { shared, runtime: Some(runtime), forward_writes: opts.forward_writes })
    }

    /// What this node knows of the stream now.
    pub fn status(&self) -> Status {
        let (mut status, checked) = self.shared.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        status.connected = self.shared.client.connection_state() == async_nats::connection::State::Connected;
        status.checked_ms_ago = checked.map(|t| t.elapsed().as_millis() as u64);
        status.conflicts = self.shared.conflicts.load(Ordering::Relaxed);
        let lease = self.shared.lease.lock().unwrap_or_else(|p| p.into_inner()).clone();
        status.writer = lease.0;
        status.is_writer = lease.1.is_some();
        status
    }

    /// Tells the stream's watcher how far this node got (announced to the other nodes).
    pub fn note_applied(&self, seq: Seq) {
        self.shared.applied.fetch_max(seq, Ordering::AcqRel);
    }

    /// Where this node sends writes: the URL of the node that holds the writer's lease, when
    /// another node does (`None`: this node writes itself).
    pub fn forward_to(&self) -> Option<String> {
        if !self.forward_writes {
            return None;
        }
        let lease = self.shared.lease.lock().unwrap_or_else(|p| p.into_inner());
        match (&lease.0, lease.1) {
            (Some(url), None) if *url != self.shared.node => Some(url.clone()),
            _ => None,
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.shared.stream
    }

    fn block_on<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Not `Runtime::block_on`: the caller may itself be on a runtime's thread (an HTTP handler).
        let runtime = self.runtime.as_ref().ok_or_else(|| StoreError::Unavailable("the NATS client stopped".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| StoreError::Unavailable("the NATS client stopped".into()))
    }
}

impl Drop for JetStreamLog {
    fn drop(&mut self) {
        // Dropping a runtime inside another's context panics; shutting it down in the
        // background does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl LogBackend for JetStreamLog {
    fn append(&self, after: Seq, events: &[Event]) -> mltrace_store::Result<Seq> {
        let (Some(first), Some(last)) = (events.first().map(|e| e.seq), events.last().map(|e| e.seq)) else {
            return Ok(after);
        };
        let expected = {
            let ends = self.shared.ends.lock().unwrap_or_else(|p| p.into_inner());
            match ends.get(&after) {
                Some(&s) => s,
                None => {
                    self.shared.conflicts.fetch_add(1, Ordering::Relaxed);
                    return Err(StoreError::Conflict(format!(
                        "this node has applied up to seq {after}, and the stream has moved on"
                    )));
                }
            }
        };
        let mut payload = Vec::new();
        for (i, e) in events.iter().enumerate() {
            encode_record(e, i + 1 == events.len(), &mut payload)
                .map_err(|why| StoreError::Invalid { field: "body".into(), message: why })?;
        }
        let max = self.shared.client.server_info().max_payload;
        if max > 0 && payload.len() + 1024 > max {
            return Err(StoreError::Invalid {
                field: "body".into(),
                message: format!(
                    "the write encodes to {} bytes, more than the NATS servers take in one message ({max} bytes, their \
                     max_payload): send smaller batches, or raise max_payload on the servers",
                    payload.len()
                ),
            });
        }
        let shared = self.shared.clone();
        let acked = self.block_on(async move {
            let publish = jetstream::context::Publish::build()
                .payload(Bytes::from(payload))
                .expected_last_sequence(expected)
                .header(FIRST_SEQ, first.to_string().as_str())
                .header(LAST_SEQ, last.to_string().as_str());
            let ack = shared.js.send_publish(shared.subject.clone(), publish).await?;
            ack.await
        })?;
        match acked {
            Ok(ack) => {
                let mut ends = self.shared.ends.lock().unwrap_or_else(|p| p.into_inner());
                ends.insert(last, ack.sequence);
                trim(&mut ends);
                Ok(last)
            }
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                self.shared.conflicts.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Conflict(format!("another node appended to the stream after seq {after}")))
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "the stream {} did not take the write: {e} (is a majority of its NATS servers up?)",
                self.shared.stream
            ))),
        }
    }

    fn read(&self, after: Seq, limit: usize, wait: Duration) -> mltrace_store::Result<Vec<Event>> {
        let feed = &self.shared.feed;
        let deadline = Instant::now() + wait;
        let mut st = feed.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // What the store has applied is dropped; the rest stays until it is (a writer's
            // catch-up and the follower may both read it, the store applies it once).
            let mut dropped = false;
            while st.entries.front().is_some_and(|e| e.last <= after) {
                if let Some(e) = st.entries.pop_front() {
                    st.bytes -= e.payload.len();
                    dropped = true;
                }
            }
            if dropped {
                feed.changed.notify_all();
            }
            if let Some(front) = st.entries.front() {
                if front.first != after + 1 {
                    return Err(StoreError::Unavailable(format!(
                        "the stream's message {} starts at seq {}, but this node is at {after}: restart the node",
                        front.stream_seq, front.first
                    )));
                }
                let mut taken = Vec::new();
                let mut count = 0;
                for e in st.entries.iter() {
                    if count > 0 && count + (e.last - e.first + 1) as usize > limit {
                        break;
                    }
                    count += (e.last - e.first + 1) as usize;
                    taken.push((e.payload.clone(), e.first, e.last));
                }
                drop(st);
                let mut events = Vec::with_capacity(count);
                for (payload, first, last) in taken {
                    let batch = decode_batch(&payload).map_err(|why| {
                        StoreError::Unavailable(format!(
                            "the stream's batch of seqs {first}..={last} is damaged: {why}"
                        ))
                    })?;
                    events.extend(batch);
                }
                return Ok(events);
            }
            if let Some(why) = &st.error {
                return Err(StoreError::Unavailable(why.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            st = feed.changed.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn wait_for(&self, after: Seq, wait: Duration) -> mltrace_store::Result<()> {
        let feed = &self.shared.feed;
        let deadline = Instant::now() + wait;
        let mut st = feed.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.entries.back().is_some_and(|e| e.last > after) {
                return Ok(());
            }
            if let Some(why) = &st.error {
                return Err(StoreError::Unavailable(why.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            st = feed.changed.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn last_seq(&self) -> mltrace_store::Result<Seq> {
        self.status()
            .stream_last_seq
            .ok_or_else(|| StoreError::Unavailable("the stream's state has not been read yet".into()))
    }
}

/// Keeps the map of message ends short: only the newest positions are ever asked for.
fn trim(ends: &mut BTreeMap<Seq, u64>) {
    while ends.len() > 4096 {
        ends.pop_first();
    }
}

/// Reads the stream into the feed, from where the node stands, for as long as the node runs;
/// recreates its consumer after errors.
async fn read_stream(shared: Arc<Shared>, stream: stream::Stream) {
    let mut failures = 0u32;
    loop {
        let from = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner()).read_to + 1;
        let read = read_from(&shared, &stream, from).await;
        if shared.feed.state.lock().unwrap_or_else(|p| p.into_inner()).read_to >= from {
            failures = 0;
        }
        match read {
            Ok(()) => return,
            Err(why) => {
                // Once per outage, not once per attempt: an outage can last.
                if failures == 0 {
                    tracing::warn!("reading the stream {}: {why}; trying again", shared.stream);
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn read_from(shared: &Shared, stream: &stream::Stream, from: u64) -> Result<(), String> {
    let config = consumer::pull::OrderedConfig {
        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
        ..Default::default()
    };
    let consumer = tokio::time::timeout(Duration::from_secs(5), stream.create_consumer(config))
        .await
        .map_err(|_| "creating a consumer took more than 5 s".to_string())?
        .map_err(|e| format!("creating a consumer: {e}"))?;
    let mut messages = consumer.messages().await.map_err(|e| format!("reading messages: {e}"))?;
    loop {
        // The ordered consumer lives on one server; when that server goes away it may wait for
        // nothing for long. A stream that has more than we read, and no message for a second,
        // means a consumer to recreate.
        let m = match tokio::time::timeout(Duration::from_secs(1), messages.next()).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                let behind = {
                    let status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
                    let read = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner()).read_event;
                    status.0.stream_last_seq.is_some_and(|last| last > read)
                };
                if behind {
                    return Err("the consumer stalled behind the stream".into());
                }
                continue;
            }
        };
        let m = m.map_err(|e| e.to_string())?;
        let seq = m.info().map_err(|e| e.to_string())?.stream_sequence;
        let (Some(first), Some(last)) =
            (header_u64(m.headers.as_ref(), FIRST_SEQ), header_u64(m.headers.as_ref(), LAST_SEQ))
        else {
            let mut st = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner());
            st.error = Some(format!("message {seq} of the stream was not written by mltrace"));
            shared.feed.changed.notify_all();
            return Ok(());
        };
        {
            let mut ends = shared.ends.lock().unwrap_or_else(|p| p.into_inner());
            ends.insert(last, seq);
            trim(&mut ends);
        }
        // Bounded: wait while the store is far behind.
        loop {
            let full = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner()).bytes >= FEED_BYTES;
            if !full {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut st = shared.feed.state.lock().unwrap_or_else(|p| p.into_inner());
        if seq <= st.read_to {
            continue;
        }
        st.read_to = seq;
        st.read_event = last;
        st.bytes += m.payload.len();
        st.entries.push_back(Entry { stream_seq: seq, first, last, payload: m.payload.clone() });
        shared.feed.changed.notify_all();
    }
    Err("the consumer ended".into())
}

/// Polls the stream's state and announces this node, every second.
async fn watch_stream(shared: Arc<Shared>, mut stream: stream::Stream) {
    let bucket = bucket_of(&shared.stream);
    let mut kv = None;
    let mut bucket_failed = false;
    loop {
        let checked = check_stream(&mut stream).await;
        {
            let mut status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
            match checked {
                Ok(fresh) => {
                    status.0 = Status { stream: shared.stream.clone(), ..fresh };
                    status.1 = Some(Instant::now());
                }
                Err(e) => status.0.error = Some(e),
            }
        }
        if kv.is_none() {
            match node_bucket(&shared.js, &bucket, stream.cached_info().config.num_replicas, NODE_TTL).await {
                Ok(b) => kv = Some(b),
                Err(e) if !bucket_failed => {
                    tracing::warn!("cannot announce this node in the bucket {bucket}: {e}");
                    bucket_failed = true;
                }
                Err(_) => {}
            }
        }
        if let Some(kv) = &kv {
            let info = NodeInfo {
                node: shared.node.clone(),
                applied: shared.applied.load(Ordering::Acquire),
                at_ms: now_ms(),
            };
            if let Ok(body) = serde_json::to_vec(&info) {
                let _ = kv.put(node_key(&shared.node), body.into()).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A key-value key for a node name (keys take letters, digits, `-`, `_`, `=` and `.`).
fn node_key(node: &str) -> String {
    node.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Holds the writer's lease while it can, renewing it every second; otherwise learns who holds it.
/// Writes on other nodes are forwarded to the holder (by the server); the stream's
/// expected-last-sequence condition still fences a writer that lost its lease without knowing.
async fn hold_lease(shared: Arc<Shared>, replicas: usize) {
    let bucket = format!("mltrace-writer-{}", shared.stream);
    let mut kv = None;
    loop {
        if kv.is_none() {
            kv = node_bucket(&shared.js, &bucket, replicas, LEASE_TTL).await.ok();
        }
        if let Some(kv) = &kv {
            let held = shared.lease.lock().unwrap_or_else(|p| p.into_inner()).1;
            let me = Bytes::from(shared.node.clone());
            let taken = match held {
                Some(revision) => kv.update(LEASE_KEY, me.clone(), revision).await.ok(),
                None => kv.create(LEASE_KEY, me.clone()).await.ok(),
            };
            let known = shared.lease.lock().unwrap_or_else(|p| p.into_inner()).0.clone();
            let lease = match taken {
                Some(revision) => (Some(shared.node.clone()), Some(revision)),
                None => match kv.entry(LEASE_KEY).await {
                    // Still ours (a renewal that timed out): take it up again at its revision.
                    Ok(Some(e)) if e.value == me && e.operation == jetstream::kv::Operation::Put => {
                        (Some(shared.node.clone()), Some(e.revision))
                    }
                    Ok(Some(e)) if e.operation == jetstream::kv::Operation::Put => {
                        (Some(String::from_utf8_lossy(&e.value).into_owned()), None)
                    }
                    Ok(_) => (None, None),
                    // The bucket did not answer: the holder last seen is the best guess (a wrong
                    // one costs a refused forward, while writing here could race the holder).
                    Err(_) => (known.filter(|k| *k != shared.node), None),
                },
            };
            *shared.lease.lock().unwrap_or_else(|p| p.into_inner()) = lease;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn node_bucket(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
    max_age: Duration,
) -> Result<jetstream::kv::Store, String> {
    if let Ok(kv) = js.get_key_value(bucket).await {
        return Ok(kv);
    }
    // The bucket's stream is made here, as `create_key_value` would make it: that call first reads
    // the account's limits, whose answer from a 2.9 server this client version does not parse.
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas.max(1),
        ..Default::default()
    };
    js.create_stream(config).await.map_err(|e| e.to_string())?;
    js.get_key_value(bucket).await.map_err(|e| e.to_string())
}

async fn check_stream(stream: &mut stream::Stream) -> Result<Status, String> {
    let info = tokio::time::timeout(Duration::from_secs(2), stream.info())
        .await
        .map_err(|_| "the stream's state did not come within 2 s".to_string())?
        .map_err(|e| e.to_string())?
        .clone();
    let last = info.state.last_sequence;
    let stream_last_seq = if info.state.messages == 0 {
        Some(0)
    } else {
        let m = stream.get_raw_message(last).await.map_err(|e| e.to_string())?;
        header_u64(Some(&m.headers), LAST_SEQ)
    };
    let (leader, replicas) = match &info.cluster {
        Some(c) => {
            let mut replicas: Vec<Replica> = c
                .replicas
                .iter()
                .map(|p| Replica { name: p.name.clone(), current: p.current, offline: p.offline })
                .collect();
            if let Some(l) = &c.leader {
                replicas.insert(0, Replica { name: l.clone(), current: true, offline: false });
            }
            (c.leader.clone(), replicas)
        }
        None => (None, Vec::new()),
    };
    Ok(Status {
        stream: info.config.name.clone(),
        connected: true,
        stream_last_seq,
        stream_messages: Some(info.state.messages),
        leader,
        replicas,
        checked_ms_ago: None,
        error: None,
        conflicts: 0,
        writer: None,
        is_writer: false,
    })
}

/// The cluster as `mltrace cluster status` shows it: the stream and the nodes that announced
/// themselves in the last [`NODE_TTL`].
#[derive(Clone, Debug, Serialize)]
pub struct ClusterView {
    /// The stream.
    pub stream: Status,
    /// Replicas configured for the stream.
    pub configured_replicas: usize,
    /// The nodes, with their lag behind the stream.
    pub nodes: Vec<NodeView>,
}

/// One node in [`ClusterView`].
#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    /// Its name (HTTP address).
    pub node: String,
    /// The last seq it applied.
    pub applied: Seq,
    /// Events it is behind the stream.
    pub lag: Seq,
    /// Milliseconds since it last said so.
    pub seen_ms_ago: i64,
}

/// Reads the stream's state and the nodes' announcements (for `mltrace cluster status`).
pub fn cluster_view(opts: &Options) -> Result<ClusterView, ClusterError> {
    check_stream_name(&opts.stream)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Nats(format!("starting the NATS runtime: {e}")))?;
    runtime.block_on(async {
        let client = connect_client(opts).await?;
        let js = jetstream::new(client);
        let mut stream = js
            .get_stream(&opts.stream)
            .await
            .map_err(|e| ClusterError::Nats(format!("the stream {}: {e}", opts.stream)))?;
        let status = check_stream(&mut stream).await.map_err(ClusterError::Nats)?;
        let configured_replicas = stream.cached_info().config.num_replicas;
        let last = status.stream_last_seq.unwrap_or(0);
        let mut nodes = Vec::new();
        if let Ok(kv) = js.get_key_value(bucket_of(&opts.stream)).await {
            let mut keys = kv.keys().await.map_err(nats("listing the nodes"))?;
            while let Some(key) = keys.next().await {
                let Ok(key) = key else { continue };
                if let Ok(Some(body)) = kv.get(&key).await
                    && let Ok(n) = serde_json::from_slice::<NodeInfo>(&body)
                {
                    nodes.push(NodeView {
                        lag: last.saturating_sub(n.applied),
                        seen_ms_ago: now_ms() - n.at_ms,
                        node: n.node,
                        applied: n.applied,
                    });
                }
            }
        }
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(ClusterView { stream: Status { checked_ms_ago: Some(0), ..status }, configured_replicas, nodes })
    })
}

/// `serve --log`: what the server calls once its data directory is open.
#[derive(Debug)]
pub struct Connect(pub Options);

impl mltrace_api::cluster::ClusterConnect for Connect {
    fn connect(&self, after: Seq) -> Result<Arc<dyn mltrace_api::cluster::ClusterLink>, String> {
        let log = JetStreamLog::connect(&self.0, after).map_err(|e| e.to_string())?;
        Ok(Arc::new(Link(Arc::new(log))))
    }
}

/// A node's link: the log and its status, for the server.
struct Link(Arc<JetStreamLog>);

impl mltrace_api::cluster::ClusterLink for Link {
    fn log(&self) -> Arc<dyn LogBackend> {
        self.0.clone()
    }
    fn connected(&self) -> bool {
        self.0.status().connected
    }
    fn stream_last_seq(&self) -> Option<Seq> {
        self.0.status().stream_last_seq
    }
    fn checked_ms_ago(&self) -> Option<u64> {
        self.0.status().checked_ms_ago
    }
    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.0.status()).unwrap_or(serde_json::Value::Null)
    }
    fn note_applied(&self, seq: Seq) {
        self.0.note_applied(seq);
    }
    fn forward_to(&self) -> Option<String> {
        self.0.forward_to()
    }
}
