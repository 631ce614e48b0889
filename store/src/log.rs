//! The segmented, append-only log: files, framing on disk, group commit, recovery.
//!
//! This module owns the files of a data directory and nothing else: it never looks inside an event
//! beyond its `seq`. Appends write a whole batch with one `write`; durability is a separate step
//! ([`Log::wait_durable`]) so that concurrent writers share one fsync (group commit).
//!
//! Recovery at open: sealed segments (all but the last) are read through a memory map and must be
//! perfect, or the open stops with [`StoreError::Corrupt`] naming the file and offset. The last
//! segment may end in a torn batch (a crash during a write): that tail is cut off and reported. A bad
//! record followed by good ones is not a torn write but damage, and stops the open too, because
//! cutting there would drop acknowledged events.

use crate::audit::{Hash, leaf_hash};
use crate::codec::{self, FrameError, HEADER_LEN};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventRef, Seq};
use crate::storage::{Bytes, Fs, OpenMode, Storage, StorageFile, read_at_most};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When appended events are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Acknowledge after fsync; concurrent writers share one.
    Always,
    /// Acknowledge after the write; fsync at most every this often in the background.
    Interval(Duration),
    /// Never fsync (the OS writes back when it likes).
    Never,
}

impl FsyncPolicy {
    /// Parses `always`, `never` or `interval:MS` (also `interval(MS)`).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        match t {
            "always" => return Ok(FsyncPolicy::Always),
            "never" => return Ok(FsyncPolicy::Never),
            _ => {}
        }
        let ms = t
            .strip_prefix("interval:")
            .or_else(|| t.strip_prefix("interval(").and_then(|r| r.strip_suffix(')')))
            .and_then(|n| n.trim_end_matches("ms").parse::<u64>().ok())
            .filter(|&n| n > 0);
        match ms {
            Some(ms) => Ok(FsyncPolicy::Interval(Duration::from_millis(ms))),
            None => Err(format!("`{t}` is not an fsync policy: use always, never or interval:MS (e.g. interval:100)")),
        }
    }
}

/// How to open a log.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Roll to a new segment once the current one would grow past this many bytes.
    pub segment_bytes: u64,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Open without the writer lock: no appends, no truncation, may run beside a writer.
    pub read_only: bool,
    /// What a second writer is told about us (pid, address).
    pub holder: String,
    /// Keep the audit Merkle tree (off only to measure what it costs).
    pub merkle: bool,
    /// Sign tree heads with the key in this file instead of the data directory's own.
    pub signing_key: Option<PathBuf>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            read_only: false,
            holder: format!("pid {}", std::process::id()),
            merkle: true,
            signing_key: None,
        }
    }
}

/// The highest segment number a [`Loc`] can hold (24 bits).
const MAX_SEGMENT: u32 = (1 << 24) - 1;
/// The highest offset a [`Loc`] can hold (40 bits).
const MAX_OFFSET: u64 = (1 << 40) - 1;

/// Where a record lives: segment number (high 24 bits) and byte offset (low 40 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loc(u64);

impl Loc {
    /// A placeholder for an event applied to the state before its batch is written.
    pub const PENDING: Loc = Loc(0);

    pub(crate) fn new(segment: u32, offset: u64) -> Self {
        Loc((u64::from(segment) << 40) | (offset & ((1 << 40) - 1)))
    }
    /// The segment number.
    pub fn segment(self) -> u32 {
        (self.0 >> 40) as u32
    }
    /// The byte offset in the segment.
    pub fn offset(self) -> u64 {
        self.0 & ((1 << 40) - 1)
    }
}

/// What recovery found at open.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// A torn tail that was cut off (or, read-only, ignored).
    pub torn_tail: Option<TornTail>,
    /// Segments read.
    pub segments: usize,
    /// Bytes of log read.
    pub bytes: u64,
}

/// A torn tail found at open.
#[derive(Clone, Debug)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Where the valid log ends.
    pub offset: u64,
    /// How many bytes followed it.
    pub bytes_dropped: u64,
    /// What the first bad record looked like.
    pub reason: String,
}

/// A segment's length and the crc32 of its bytes up to that length: what a checkpoint records of
/// each segment it covers, so that an open can tell the covered log is still the one it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentSum {
    /// Bytes covered, from the start of the segment.
    pub len: u64,
    /// crc32 of those bytes.
    pub crc: u32,
}

impl SegmentSum {
    fn of(bytes: &[u8]) -> Self {
        SegmentSum { len: bytes.len() as u64, crc: crc32fast::hash(bytes) }
    }
}

/// What a checkpoint knows of the log: its last event and the segments it covers.
#[derive(Clone, Debug)]
pub struct Known<'a> {
    /// The checkpoint's last event and its seq, when the checkpoint is used to resume.
    pub resume: Option<(Loc, Seq)>,
    /// The seq of the checkpoint's last event.
    pub last_seq: Seq,
    /// The id of the log the checkpoint was taken of (0: not recorded).
    pub log_id: u32,
    /// Each covered segment's length and checksum at checkpoint time (the last one may have grown).
    pub segments: &'a [SegmentSum],
}

struct Tail {
    file: Arc<dyn StorageFile>,
    segment: u32,
    len: u64,
    /// crc32 of the segment's first `len` bytes, kept up to date by every append.
    crc: crc32fast::Hasher,
    /// A roll failed after the next segment's file may have been made: the next append must roll
    /// (and make that file again with the right first seq) instead of writing here.
    roll_pending: bool,
    next_seq: Seq,
    buf: Vec<u8>,
}

#[derive(Default)]
struct Durability {
    written: Seq,
    durable: Seq,
    syncing: bool,
    failed: Option<String>,
    file: Option<Arc<dyn StorageFile>>,
}

struct Shared {
    durability: Mutex<Durability>,
    synced: Condvar,
    fsync_nanos: std::sync::atomic::AtomicU64,
    fsyncs: std::sync::atomic::AtomicU64,
    /// fsync latencies, bucketed by [`FSYNC_BUCKETS_S`] plus one overflow bucket.
    fsync_hist: [std::sync::atomic::AtomicU64; FSYNC_BUCKETS_S.len() + 1],
}

/// Upper bounds (seconds) of the fsync latency histogram's buckets.
pub const FSYNC_BUCKETS_S: [f64; 10] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

/// The open log of one data directory.
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    storage: Arc<dyn Storage>,
    segments: RwLock<Vec<Arc<dyn StorageFile>>>,
    /// Random, in every segment header: tells a checkpoint of this log from another log's.
    log_id: u32,
    /// The sums of the sealed segments (all but the tail), in order.
    sealed: Mutex<Vec<SegmentSum>>,
    tail: Option<Mutex<Tail>>,
    shared: Arc<Shared>,
    flusher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    _lock: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// A batch's records, framed and checksummed ahead of [`Log::append_encoded`].
pub struct Encoded {
    buf: Vec<u8>,
    /// Offset of each record in `buf`.
    offsets: Vec<u64>,
    first_seq: Seq,
}

impl Encoded {
    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// Encodes a batch one event at a time, so that encoding can run beside whatever produces the
/// events. The last record must carry the batch-end flag, and which one is last is known only at
/// [`Encoder::finish`], which sets the flag on that record and checksums it again.
#[derive(Default)]
pub struct Encoder {
    buf: Vec<u8>,
    offsets: Vec<u64>,
    first_seq: Seq,
}

impl Encoder {
    /// An encoder that writes into `buf` (cleared), to reuse a buffer's capacity.
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        Encoder { buf, offsets: Vec::new(), first_seq: 0 }
    }

    /// Encodes `event`, the batch's next, showing its payload bytes to `on_payload`.
    pub fn push(&mut self, event: &Event, on_payload: &mut impl FnMut(&[u8])) -> std::result::Result<(), String> {
        if self.offsets.is_empty() {
            self.first_seq = event.seq;
        } else if event.seq != self.first_seq + self.offsets.len() as u64 {
            return Err(format!(
                "event {} does not follow event {}",
                event.seq,
                self.first_seq + self.offsets.len() as u64 - 1
            ));
        }
        let start = self.buf.len();
        let len = codec::encode_record(event, false, &mut self.buf)?;
        self.offsets.push(start as u64);
        on_payload(&self.buf[start + codec::FRAME_LEN..start + len]);
        Ok(())
    }

    /// Marks the last record as the end of its batch.
    pub fn finish(mut self) -> Encoded {
        if let Some(&last) = self.offsets.last() {
            codec::mark_batch_end(&mut self.buf[last as usize..]);
        }
        Encoded { buf: self.buf, offsets: self.offsets, first_seq: self.first_seq }
    }
}

fn lock(m: &Mutex<Durability>) -> MutexGuard<'_, Durability> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn newest_path(dir: &Path) -> PathBuf {
    dir.join("log").join("newest")
}

/// The newest segment whose header was durable, as `log/newest` records it (none in logs from
/// older builds, or when the file is unreadable: then there is nothing to check against).
fn recorded_newest(storage: &dyn Storage, dir: &Path, log_id: Option<u32>) -> Option<u32> {
    let bytes = storage.read(&newest_path(dir)).ok()?;
    match codec::decode_newest(&bytes) {
        // Without a whole first segment there is no id to compare: the record is this log's.
        Ok((n, id)) if log_id.is_none_or(|ours| ours == id) => Some(n),
        Ok(_) => None,
        Err(why) => {
            tracing::warn!("ignoring {}: {why}", newest_path(dir).display());
            None
        }
    }
}

/// Refuses a log whose newest segment is gone or cut below its header while `log/newest` says its
/// header was durable: a crash cannot do that, so events were lost.
fn check_newest(
    storage: &dyn Storage,
    dir: &Path,
    log_id: Option<u32>,
    segments: usize,
    last_is_short: bool,
) -> Result<()> {
    let Some(newest) = recorded_newest(storage, dir, log_id) else { return Ok(()) };
    let whole = if last_is_short { segments.saturating_sub(1) } else { segments };
    // A reader (a read-only open, `verify`) beside a live writer listed the segments a moment before
    // it read `log/newest`; a roll in between is the writer moving on, not a loss. What is listed
    // now tells the two apart: a lost segment is still missing.
    let grew = |now: Vec<u32>| now.len() > segments && now.len() >= newest as usize;
    if (newest as usize) > whole && list_segments(storage, dir).is_ok_and(grew) {
        return Ok(());
    }
    if (newest as usize) > whole {
        let first_lost = whole + 1;
        return Err(StoreError::Corrupt {
            path: segment_path(dir, first_lost as u32),
            offset: 0,
            reason: format!(
                "segment {first_lost} is {} but {} says segment {newest} was written: the newest segment was \
                 deleted or cut below its header, and the events in it are lost",
                if first_lost <= segments { "shorter than its header" } else { "missing" },
                newest_path(dir).display()
            ),
        });
    }
    Ok(())
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join("log").join(format!("{n:08}.seg"))
}

pub use crate::storage::lock_path;

/// Who holds the data directory for writing, if anyone.
pub fn holder(dir: &Path) -> Option<String> {
    let f = File::open(lock_path(dir)).ok()?;
    match f.try_lock_shared() {
        Ok(()) => None,
        Err(_) => std::fs::read_to_string(lock_path(dir)).ok().map(|s| s.trim().to_string()),
    }
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage.sync_dir(dir).map_err(|e| StoreError::io(format!("fsync of directory {}", dir.display()), e))
}

/// The bytes of the log's segments, as far as they can be listed and sized (0 for what cannot):
/// a hint to size the state before a replay, never trusted for anything else.
pub(crate) fn segment_bytes(storage: &dyn Storage, dir: &Path) -> u64 {
    list_segments(storage, dir).map_or(0, |numbers| bytes_of(storage, dir, &numbers))
}

fn bytes_of(storage: &dyn Storage, dir: &Path, numbers: &[u32]) -> u64 {
    numbers
        .iter()
        .map(|&n| storage.open(&segment_path(dir, n), OpenMode::Read).and_then(|f| f.size()).unwrap_or(0))
        .sum()
}

fn list_segments(storage: &dyn Storage, dir: &Path) -> Result<Vec<u32>> {
    let log_dir = dir.join("log");
    let mut found = Vec::new();
    let entries = storage.list(&log_dir).map_err(|e| StoreError::io(format!("reading {}", log_dir.display()), e))?;
    for name in entries {
        if let Some(n) = name.strip_suffix(".seg").and_then(|s| s.parse::<u32>().ok()) {
            found.push(n);
        }
    }
    found.sort_unstable();
    for (i, &n) in found.iter().enumerate() {
        if n != i as u32 + 1 {
            return Err(StoreError::Corrupt {
                path: segment_path(dir, i as u32 + 1),
                offset: 0,
                reason: "segment file is missing: the log has a gap".into(),
            });
        }
    }
    Ok(found)
}

fn header_crc(segment: u32, first_seq: Seq, log_id: u32) -> crc32fast::Hasher {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&codec::encode_header(segment, first_seq, log_id));
    crc
}

/// Whether a log that ends at `last_seq` has lost its newest segments, by what a checkpoint (`k`)
/// knows of it: `sums` are the whole segments before the last of the `segments` present, whose
/// complete part is `tail_len` bytes long (`u64::MAX`: shorter than a header).
fn lost_segments(
    dir: &Path,
    k: &Known<'_>,
    log_id: u32,
    last_seq: Seq,
    sums: &[SegmentSum],
    segments: usize,
    tail_len: u64,
) -> Option<StoreError> {
    if last_seq >= k.last_seq {
        return None;
    }
    // Fewer events than the checkpoint saw (which only ever covers durable events). If this is
    // the log the checkpoint was taken of, segments were lost from its end.
    let same_log = if k.log_id != 0 && log_id != 0 {
        k.log_id == log_id
    } else {
        // Logs from older builds have no id: the whole sealed segments that remain must be those
        // the checkpoint saw (its last one may have grown and been sealed since), and there must
        // be one.
        let last_covered = k.segments.len().saturating_sub(1);
        !sums.is_empty()
            && sums
                .iter()
                .zip(k.segments)
                .enumerate()
                .all(|(i, (have, want))| if i == last_covered { have.len >= want.len } else { have == want })
    };
    if !same_log {
        return None;
    }
    let first_lost = if tail_len == u64::MAX || segments == 0 { segments.max(1) } else { segments + 1 };
    Some(StoreError::Corrupt {
        path: segment_path(dir, first_lost as u32),
        offset: 0,
        reason: format!(
            "the log ends at seq {last_seq}, but the checkpoint holds events up to seq {}: the newest \
             segment was deleted or cut below its header (the checkpoint saw {} segments, {segments} remain)",
            k.last_seq,
            k.segments.len(),
        ),
    })
}

/// The header of a segment, if it has a whole one.
fn first_header(storage: &dyn Storage, path: &Path) -> Option<codec::SegmentHeader> {
    let file = storage.open(path, OpenMode::Read).ok()?;
    let mut buf = [0u8; HEADER_LEN];
    file.read_exact_at(&mut buf, 0).ok()?;
    codec::decode_header(&buf).ok()
}

/// A fresh log's id: random enough to tell two logs apart (never 0, which means "not recorded").
fn new_log_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    (h.finish() as u32).max(1)
}

/// Events of one segment, delivered a batch at a time, borrowed from the segment's bytes.
struct Scanner<'f, F: FnMut(&EventRef<'_>, Loc, Option<&Hash>) -> Result<()>> {
    expected_seq: Seq,
    on_event: &'f mut F,
    /// Whether each record's audit leaf hash is computed where it is decoded.
    leaves: bool,
    /// The segment being scanned, for errors.
    path: PathBuf,
}

/// Segments (or tails after a checkpoint) at least this long are decoded on a second thread.
const PARALLEL_DECODE_BYTES: usize = 1 << 20;
/// Records handed from the decoding thread to the applying one at a time (at least; a chunk ends
/// with a batch).
const DECODE_CHUNK: usize = 256;

/// One record of a segment as the decoding pass found it; the pass stops after the first that is
/// not a good record.
// Nearly every item is a `Record`: boxing it to shrink the rare error variants would cost an
// allocation per event.
#[allow(clippy::large_enum_variant)]
enum Decoded<'b> {
    Record(Record<'b>),
    /// The frame at `offset` is cut short or damaged.
    BadFrame {
        offset: usize,
        error: FrameError,
    },
    /// The frame checks but its payload does not decode.
    BadPayload {
        offset: usize,
        reason: String,
    },
}

struct Record<'b> {
    event: EventRef<'b>,
    loc: Loc,
    /// The audit leaf hash of the payload, when the scan computes them.
    leaf: Option<Hash>,
    batch_end: bool,
    next: usize,
}

/// Reads, checks and decodes the records of `buf` from `start` on, in chunks that end with a
/// batch's last record (or with the end of what decodes): the applying side then applies a chunk's
/// whole batches in place, never moving a record again.
fn decode_chunks(buf: &[u8], start: usize, segment: u32, leaves: bool) -> impl Iterator<Item = Vec<Decoded<'_>>> {
    let mut offset = start;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut chunk = Vec::with_capacity(DECODE_CHUNK);
        loop {
            if offset >= buf.len() {
                done = true;
                break;
            }
            let at = offset;
            let d = match codec::read_frame(buf, at) {
                Err(error) => Decoded::BadFrame { offset: at, error },
                Ok(frame) => match codec::decode_event_ref(frame.payload) {
                    Err(reason) => Decoded::BadPayload { offset: at, reason },
                    Ok(event) => {
                        offset = frame.next;
                        // Hashed here, while the payload is in cache, and on this thread: on the
                        // applying one it was a sixth of a replay.
                        chunk.push(Decoded::Record(Record {
                            event,
                            loc: Loc::new(segment, at as u64),
                            leaf: leaves.then(|| leaf_hash(frame.payload)),
                            batch_end: frame.batch_end,
                            next: frame.next,
                        }));
                        if frame.batch_end && chunk.len() >= DECODE_CHUNK {
                            break;
                        }
                        continue;
                    }
                },
            };
            chunk.push(d);
            done = true;
            break;
        }
        (!chunk.is_empty()).then_some(chunk)
    })
}

enum ScanEnd {
    Clean,
    /// The segment ends with something that is not a complete batch, starting at `cut`.
    Torn {
        cut: u64,
        at: u64,
        reason: String,
    },
}

impl<F: FnMut(&EventRef<'_>, Loc, Option<&Hash>) -> Result<()>> Scanner<'_, F> {
    /// Scans a whole segment, or (`from`) the records after a checkpoint's last one.
    fn scan(&mut self, path: &Path, segment: u32, buf: &[u8], from: Option<usize>) -> Result<ScanEnd> {
        self.path = path.to_path_buf();
        let corrupt = |offset: usize, reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        let header = codec::decode_header(buf).map_err(|r| corrupt(0, r))?;
        if header.segment != segment {
            return Err(corrupt(0, format!("header says segment {}, file name says {segment}", header.segment)));
        }
        if from.is_none() && header.first_seq != self.expected_seq {
            return Err(corrupt(
                0,
                format!("segment starts at seq {}, expected {}", header.first_seq, self.expected_seq),
            ));
        }
        let start = from.unwrap_or(HEADER_LEN);
        let leaves = self.leaves;
        // A whole segment is decoded (and hashed) on a second thread while this one applies the
        // events in order; a short tail is not worth a thread.
        if buf.len() - start.min(buf.len()) < PARALLEL_DECODE_BYTES {
            return self.apply_chunks(buf, start, decode_chunks(buf, start, segment, leaves));
        }
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::sync_channel::<Vec<Decoded<'_>>>(2);
            let decoder = std::thread::Builder::new().name("mltrace-decode".into()).spawn_scoped(s, move || {
                for chunk in decode_chunks(buf, start, segment, leaves) {
                    if tx.send(chunk).is_err() {
                        return;
                    }
                }
            });
            let Ok(decoder) = decoder else {
                // No thread to be had: decode here, as for a short segment.
                return self.apply_chunks(buf, start, decode_chunks(buf, start, segment, leaves));
            };
            let result = self.apply_chunks(buf, start, rx.into_iter());
            // On an early return the receiver is dropped here, which ends the decoder's sends.
            let _ = decoder.join();
            result
        })
    }

    /// The checks and the in-order delivery of [`Scanner::scan`], over the records as decoded.
    /// A batch is delivered only once its last record decoded; an unfinished one at the end is cut.
    fn apply_chunks<'b>(
        &mut self,
        buf: &'b [u8],
        start: usize,
        chunks: impl Iterator<Item = Vec<Decoded<'b>>>,
    ) -> Result<ScanEnd> {
        let corrupt = |offset: usize, reason: String| StoreError::Corrupt {
            path: self.path.clone(),
            offset: offset as u64,
            reason,
        };
        let mut batch_start = start;
        for chunk in chunks {
            // Every record before `whole` belongs to a complete batch; what follows is the end of
            // the scan: a batch cut short, then whatever stopped the decoding.
            let whole = chunk.iter().rposition(|d| matches!(d, Decoded::Record(r) if r.batch_end)).map_or(0, |i| i + 1);
            let mut seq = self.expected_seq;
            for d in &chunk {
                if let Decoded::Record(r) = d {
                    if r.event.seq != seq {
                        return Err(corrupt(
                            r.loc.offset() as usize,
                            format!("record has seq {}, expected {seq}", r.event.seq),
                        ));
                    }
                    seq += 1;
                }
            }
            for d in &chunk[..whole] {
                if let Decoded::Record(r) = d {
                    (self.on_event)(&r.event, r.loc, r.leaf.as_ref())?;
                    batch_start = r.next;
                }
            }
            self.expected_seq += whole as u64;
            let Some(last) = chunk.get(whole..).and_then(|rest| rest.last()) else { continue };
            return match last {
                Decoded::BadPayload { offset, reason } => Err(corrupt(*offset, reason.clone())),
                Decoded::BadFrame { offset, error } => {
                    let reason = match error {
                        FrameError::Incomplete => "record cut short".to_string(),
                        FrameError::Bad(r) => r.clone(),
                    };
                    if let Some(good) = find_frame_after(buf, offset + 1) {
                        return Err(corrupt(*offset, format!("{reason}, yet a valid record follows at offset {good}")));
                    }
                    // The unfinished batch is dropped whole, and the seqs its complete records
                    // took are not counted: otherwise the log's next seq runs ahead of the state's,
                    // and the next segment header names a first seq the open after it rejects.
                    Ok(ScanEnd::Torn { cut: batch_start as u64, at: *offset as u64, reason })
                }
                Decoded::Record(_) => Ok(ScanEnd::Torn {
                    cut: batch_start as u64,
                    at: batch_start as u64,
                    reason: "the last batch has no end marker".into(),
                }),
            };
        }
        Ok(ScanEnd::Clean)
    }
}

/// Looks for any valid record starting after `from`: its presence means damage, not a torn write.
fn find_frame_after(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len().saturating_sub(codec::FRAME_LEN))
        .find(|&at| codec::read_frame(buf, at).is_ok_and(|f| codec::decode_event_ref(f.payload).is_ok()))
}

impl Log {
    /// Opens (creating when needed) the log in `dir`, delivering every complete event in order,
    /// with its audit leaf hash when `opts.merkle`.
    /// With a checkpoint (`known`), the segments it covers must still be what it saw (same bytes),
    /// else the open fails and the caller replays the whole log; with `known.resume`, only the events
    /// after the checkpoint's last one are read. A log that holds fewer events than the checkpoint
    /// while the segments it still has are those the checkpoint saw has lost its newest segments:
    /// that fails the open too, before anything is written.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: LogOptions,
        known: Option<Known<'_>>,
        mut on_event: impl FnMut(&EventRef<'_>, Loc, Option<&Hash>) -> Result<()>,
    ) -> Result<(Log, Recovery)> {
        let log_dir = dir.join("log");
        let lock_file = if opts.read_only {
            if !storage.exists(&log_dir) {
                return Err(StoreError::not_found("data_dir", format!("{} holds no mltrace log", dir.display())));
            }
            None
        } else {
            storage
                .create_dir_all(&log_dir)
                .map_err(|e| StoreError::io(format!("creating {}", log_dir.display()), e))?;
            Some(storage.lock(dir, &opts.holder)?)
        };
        let numbers = list_segments(&*storage, dir)?;
        let resume = known.as_ref().and_then(|k| k.resume);
        if let Some((loc, seq)) = resume
            && loc.segment() as usize > numbers.len()
        {
            return Err(StoreError::Corrupt {
                path: segment_path(dir, loc.segment()),
                offset: loc.offset(),
                reason: format!("the checkpoint's last event (seq {seq}) is in a segment that does not exist"),
            });
        }
        let mut recovery = Recovery { segments: numbers.len(), ..Recovery::default() };
        let mut scanner = Scanner {
            expected_seq: resume.map_or(1, |(_, seq)| seq + 1),
            on_event: &mut on_event,
            leaves: opts.merkle,
            path: PathBuf::new(),
        };
        // Where the scan of segment `n` starts: nowhere before the checkpoint's segment, right after
        // its last record in that segment, at the header after it.
        let from = |n: u32, buf: &[u8]| -> Result<Option<usize>> {
            let Some((loc, seq)) = resume else { return Ok(None) };
            if n != loc.segment() {
                return Ok(None);
            }
            let at = loc.offset() as usize;
            let frame = codec::read_frame(buf, at).ok();
            let event = frame.as_ref().and_then(|f| codec::decode_event_ref(f.payload).ok());
            match (frame, event) {
                (Some(f), Some(e)) if e.seq == seq => Ok(Some(f.next)),
                _ => Err(StoreError::Corrupt {
                    path: segment_path(dir, n),
                    offset: at as u64,
                    reason: format!("the checkpoint's last event (seq {seq}) is not there"),
                }),
            }
        };
        let mut files = Vec::with_capacity(numbers.len());
        let mut sums: Vec<SegmentSum> = Vec::with_capacity(numbers.len());
        let mut tail_len = 0u64;
        let mut tail_crc = crc32fast::Hasher::new();
        let covered = known.as_ref().map_or(&[][..], |k| k.segments);
        for &n in &numbers {
            let path = segment_path(dir, n);
            let file = storage
                .open(&path, OpenMode::Read)
                .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
            let is_last = n as usize == numbers.len();
            if let Some(want) = covered.get(n as usize - 1)
                && resume.is_some()
            {
                // A checkpoint hides what it covers from the scan, so damage there (a flipped bit,
                // a cut or a copied record) would go unseen: the covered bytes must be exactly
                // those the checkpoint saw.
                let bytes = if is_last { storage.read(&path).map(Bytes::Owned) } else { storage.map(&path) }
                    .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
                let sealed = (n as usize) < covered.len();
                let fits = if sealed { bytes.len() as u64 == want.len } else { bytes.len() as u64 >= want.len };
                let prefix = &bytes[..(want.len as usize).min(bytes.len())];
                if !fits || SegmentSum::of(prefix) != *want {
                    return Err(StoreError::Corrupt {
                        path,
                        offset: 0,
                        reason: format!(
                            "the segment ({} bytes) is not what the checkpoint covered ({} bytes, crc {:08x})",
                            bytes.len(),
                            want.len,
                            want.crc
                        ),
                    });
                }
                if resume.is_some_and(|(loc, _)| n < loc.segment()) {
                    recovery.bytes += bytes.len() as u64;
                    if is_last {
                        tail_len = bytes.len() as u64;
                        tail_crc.update(&bytes);
                    } else {
                        sums.push(SegmentSum::of(&bytes));
                    }
                    files.push(file);
                    continue;
                }
            }
            if is_last {
                // The tail is still written to (by us later, or by a writer beside a read-only open):
                // it is read into memory, never mapped.
                let buf = storage.read(&path).map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
                recovery.bytes += buf.len() as u64;
                if buf.len() < HEADER_LEN {
                    // A crash while rolling left an empty new segment: it held nothing acknowledged.
                    tail_len = u64::MAX;
                } else {
                    match scanner.scan(&path, n, &buf, from(n, &buf)?)? {
                        ScanEnd::Clean => {
                            tail_len = buf.len() as u64;
                            tail_crc.update(&buf);
                        }
                        ScanEnd::Torn { cut, at, reason } => {
                            recovery.torn_tail = Some(TornTail {
                                path: path.clone(),
                                offset: cut,
                                bytes_dropped: buf.len() as u64 - cut,
                                reason: format!("{reason} (at offset {at})"),
                            });
                            tail_len = cut;
                            tail_crc.update(&buf[..cut as usize]);
                        }
                    }
                }
            } else {
                let map = storage.map(&path).map_err(|e| StoreError::io(format!("mapping {}", path.display()), e))?;
                recovery.bytes += map.len() as u64;
                if let ScanEnd::Torn { at, reason, .. } = scanner.scan(&path, n, &map, from(n, &map)?)? {
                    return Err(StoreError::Corrupt {
                        path,
                        offset: at,
                        reason: format!("{reason} in a sealed segment"),
                    });
                }
                sums.push(SegmentSum::of(&map));
            }
            files.push(file);
        }
        let next_seq = scanner.expected_seq;
        let header_id =
            numbers.first().and_then(|&first| first_header(&*storage, &segment_path(dir, first))).map(|h| h.log_id);
        let log_id = header_id.unwrap_or_else(new_log_id);
        if let Some(k) = &known
            && let Some(e) = lost_segments(dir, k, header_id.unwrap_or(0), next_seq - 1, &sums, numbers.len(), tail_len)
        {
            return Err(e);
        }
        check_newest(&*storage, dir, header_id, numbers.len(), tail_len == u64::MAX)?;
        let shared = Arc::new(Shared {
            durability: Mutex::new(Durability {
                written: next_seq - 1,
                durable: next_seq - 1,
                ..Durability::default()
            }),
            synced: Condvar::new(),
            fsync_nanos: Default::default(),
            fsyncs: Default::default(),
            fsync_hist: Default::default(),
        });
        let mut log = Log {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            storage,
            segments: RwLock::new(files),
            sealed: Mutex::new(sums),
            log_id,
            tail: None,
            shared,
            flusher: None,
            _lock: lock_file,
        };
        if !opts.read_only {
            log.prepare_tail(&numbers, tail_len, tail_crc, next_seq, &recovery)?;
            if let FsyncPolicy::Interval(every) = opts.fsync {
                log.flusher = Some(spawn_flusher(log.shared.clone(), every));
            }
        }
        Ok((log, recovery))
    }

    fn prepare_tail(
        &mut self,
        numbers: &[u32],
        tail_len: u64,
        crc: crc32fast::Hasher,
        next_seq: Seq,
        recovery: &Recovery,
    ) -> Result<()> {
        let last = numbers.last().copied();
        let reuse = last.filter(|_| tail_len != u64::MAX);
        let tail = match reuse {
            Some(n) => {
                let path = segment_path(&self.dir, n);
                let file = self
                    .storage
                    .open(&path, OpenMode::ReadWrite)
                    .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
                if recovery.torn_tail.is_some() {
                    file.set_len(tail_len)
                        .and_then(|_| file.sync_all())
                        .map_err(|e| StoreError::io(format!("cutting the torn tail of {}", path.display()), e))?;
                }
                if let Some(slot) = self.segments_mut().last_mut() {
                    *slot = file.clone();
                }
                Tail { file, segment: n, len: tail_len, crc, roll_pending: false, next_seq, buf: Vec::new() }
            }
            None => {
                let n = match last {
                    Some(n) => {
                        // An empty segment left by a crash while rolling: start it again.
                        self.segments_mut().pop();
                        n
                    }
                    None => 1,
                };
                let file = self.create_segment(n, next_seq)?;
                let crc = header_crc(n, next_seq, self.log_id);
                Tail { file, segment: n, len: HEADER_LEN as u64, crc, roll_pending: false, next_seq, buf: Vec::new() }
            }
        };
        lock(&self.shared.durability).file = Some(tail.file.clone());
        self.tail = Some(Mutex::new(tail));
        Ok(())
    }

    fn segments_mut(&mut self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<dyn StorageFile>>> {
        self.segments.write().unwrap_or_else(|p| p.into_inner())
    }

    fn create_segment(&self, n: u32, first_seq: Seq) -> Result<Arc<dyn StorageFile>> {
        let path = segment_path(&self.dir, n);
        let file = self
            .storage
            .open(&path, OpenMode::Create)
            .map_err(|e| StoreError::io(format!("creating {}", path.display()), e))?;
        file.write_all_at(&codec::encode_header(n, first_seq, self.log_id), 0)
            .and_then(|_| file.sync_all())
            .map_err(|e| StoreError::io(format!("writing the header of {}", path.display()), e))?;
        sync_dir(&*self.storage, &self.dir.join("log"))?;
        self.write_newest(n)?;
        let mut segs = self.segments.write().unwrap_or_else(|p| p.into_inner());
        segs.push(file.clone());
        Ok(file)
    }

    /// The options it was opened with.
    pub fn options(&self) -> LogOptions {
        self.opts.clone()
    }

    /// Records that segment `n`'s header is durable (see [`codec::encode_newest`]); done after the
    /// header and its directory entry are synced, so that a crash can never leave the record
    /// naming a segment that a power cut could take away.
    fn write_newest(&self, n: u32) -> Result<()> {
        let log_dir = self.dir.join("log");
        let tmp = log_dir.join("newest.tmp");
        let io = |e| StoreError::io(format!("writing {}", tmp.display()), e);
        let file = self.storage.open(&tmp, OpenMode::Create).map_err(io)?;
        file.write_all_at(&codec::encode_newest(n, self.log_id), 0).and_then(|_| file.sync_all()).map_err(io)?;
        self.storage.rename(&tmp, &newest_path(&self.dir)).map_err(io)?;
        sync_dir(&*self.storage, &log_dir)
    }

    /// The sums of every segment as it is now (written, not necessarily durable): what a checkpoint
    /// written now covers. Call with writes held off.
    pub fn sums(&self) -> Vec<SegmentSum> {
        let mut all = self.sealed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(t) = &self.tail {
            let t = t.lock().unwrap_or_else(|p| p.into_inner());
            all.push(SegmentSum { len: t.len, crc: t.crc.clone().finalize() });
        }
        all
    }

    /// The log's id (0 for logs written before ids were recorded).
    pub fn id(&self) -> u32 {
        self.log_id
    }

    /// The storage this log lives on.
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The seq the next appended event must carry.
    pub fn next_seq(&self) -> Seq {
        match &self.tail {
            Some(t) => t.lock().unwrap_or_else(|p| p.into_inner()).next_seq,
            None => lock(&self.shared.durability).written + 1,
        }
    }

    /// The buffer of the last append, emptied, for the next batch's [`Encoder`] (keeps its
    /// capacity instead of growing a new one for every batch).
    pub fn spare_buffer(&self) -> Vec<u8> {
        let mut buf = match &self.tail {
            Some(t) => std::mem::take(&mut t.lock().unwrap_or_else(|p| p.into_inner()).buf),
            None => Vec::new(),
        };
        buf.clear();
        buf
    }

    /// Why writes are refused, if they are.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.durability).failed.clone()
    }

    /// Writes one batch (events with consecutive seqs starting at [`Log::next_seq`]) with one write.
    /// Durability is [`Log::wait_durable`]'s job. On a failed write the partial batch is cut off
    /// again, so the log stays a sequence of whole batches.
    pub fn append(&self, events: &[Event]) -> Result<Vec<Loc>> {
        self.append_with(events, |_| {})
    }

    /// [`Log::append`], showing each record's payload bytes to `on_payload` as they are encoded
    /// (the audit tree hashes them), whether or not the write then succeeds.
    pub fn append_with(&self, events: &[Event], mut on_payload: impl FnMut(&[u8])) -> Result<Vec<Loc>> {
        let mut enc = Encoder::default();
        for e in events {
            enc.push(e, &mut on_payload).map_err(|why| StoreError::invalid("", why))?;
        }
        self.append_encoded(enc.finish())
    }

    /// Writes one batch encoded ahead by an [`Encoder`] (possibly on another thread, while the
    /// writer went on resolving): its first event must be [`Log::next_seq`].
    pub fn append_encoded(&self, batch: Encoded) -> Result<Vec<Loc>> {
        let tail = self.tail.as_ref().ok_or_else(|| StoreError::Unavailable("the store is open read-only".into()))?;
        if let Some(why) = self.failure() {
            return Err(StoreError::Unavailable(why));
        }
        let Encoded { mut buf, offsets, first_seq } = batch;
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if offsets.is_empty() {
            return Ok(Vec::new());
        }
        if first_seq != t.next_seq {
            return Err(StoreError::Unavailable(format!(
                "a batch starting at event {first_seq} came to a log whose next event is {}",
                t.next_seq
            )));
        }
        let events = offsets.len();
        if t.roll_pending || (t.len + buf.len() as u64 > self.opts.segment_bytes && t.len > HEADER_LEN as u64) {
            t.buf = buf;
            self.roll(&mut t)?;
            buf = std::mem::take(&mut t.buf);
        }
        let at = t.len;
        if t.segment > MAX_SEGMENT || at + buf.len() as u64 > MAX_OFFSET {
            t.buf = buf;
            return Err(StoreError::Unavailable(format!(
                "segment {} at offset {at} is beyond what a location can address (segments up to {MAX_SEGMENT}, \
                 offsets up to {MAX_OFFSET}): use a smaller segment size",
                t.segment
            )));
        }
        if let Err(e) = t.file.write_all_at(&buf, at) {
            let path = segment_path(&self.dir, t.segment);
            if let Err(cut) = t.file.set_len(at) {
                self.fail(format!(
                    "a write to {} failed ({e}) and the partial batch could not be cut off ({cut})",
                    path.display()
                ));
            }
            t.buf = buf;
            return Err(StoreError::Unavailable(format!("write to {} failed: {e}", path.display())));
        }
        t.len += buf.len() as u64;
        t.crc.update(&buf);
        t.next_seq += events as u64;
        let segment = t.segment;
        let last = t.next_seq - 1;
        t.buf = buf;
        lock(&self.shared.durability).written = last;
        Ok(offsets.into_iter().map(|o| Loc::new(segment, at + o)).collect())
    }

    fn roll(&self, t: &mut Tail) -> Result<()> {
        if let Err(e) = t.file.sync_all() {
            let why = format!("fsync of segment {} failed: {e}", t.segment);
            self.fail(why.clone());
            return Err(StoreError::Unavailable(why));
        }
        {
            let mut d = lock(&self.shared.durability);
            d.durable = d.durable.max(d.written);
        }
        self.shared.synced.notify_all();
        t.roll_pending = true;
        let file = self.create_segment(t.segment + 1, t.next_seq)?;
        t.roll_pending = false;
        let sealed = SegmentSum {
            len: t.len,
            crc: std::mem::replace(&mut t.crc, header_crc(t.segment + 1, t.next_seq, self.log_id)).finalize(),
        };
        self.sealed.lock().unwrap_or_else(|p| p.into_inner()).push(sealed);
        t.file = file.clone();
        t.segment += 1;
        t.len = HEADER_LEN as u64;
        lock(&self.shared.durability).file = Some(file);
        Ok(())
    }

    fn fail(&self, why: String) {
        tracing::error!("{why}; the store refuses writes from now on");
        let mut d = lock(&self.shared.durability);
        d.failed.get_or_insert(why);
        drop(d);
        self.shared.synced.notify_all();
    }

    /// Blocks until `seq` is durable under the policy: shares one fsync among concurrent callers.
    pub fn wait_durable(&self, seq: Seq) -> Result<()> {
        if self.opts.fsync != FsyncPolicy::Always {
            return Ok(());
        }
        sync_until(&self.shared, seq)
    }

    /// fsyncs everything written so far (shutdown, interval flush).
    pub fn flush(&self) -> Result<()> {
        let written = lock(&self.shared.durability).written;
        sync_until(&self.shared, written)
    }

    /// Reads the event stored at `loc`, which must be event `seq`: a valid record of another event
    /// there (a record copied over another) is damage, not an answer.
    pub fn read(&self, loc: Loc, seq: Seq) -> Result<Event> {
        let payload = self.read_payload(loc)?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: segment_path(&self.dir, loc.segment()),
            offset: loc.offset(),
            reason,
        };
        let event = codec::decode_event(&payload).map_err(corrupt)?;
        if event.seq != seq {
            return Err(corrupt(format!("the record holds event {}, expected event {seq}", event.seq)));
        }
        Ok(event)
    }

    /// Shows `f` the payload bytes of the records at `locs`, in order, each checksum checked. Records
    /// of one segment in ascending order (a run of consecutive events) are read with one `pread`.
    pub fn for_each_payload(&self, locs: &[Loc], mut f: impl FnMut(&[u8])) -> Result<()> {
        let (Some(&first), Some(&last)) = (locs.first(), locs.last()) else { return Ok(()) };
        let one_run = locs.windows(2).all(|w| w[0].segment() == w[1].segment() && w[0].offset() < w[1].offset());
        let file = {
            let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
            segs.get(first.segment() as usize - 1).cloned()
        };
        let (true, Some(file)) = (one_run, file) else {
            for &loc in locs {
                f(&self.read_payload(loc)?);
            }
            return Ok(());
        };
        let path = || segment_path(&self.dir, first.segment());
        let start = first.offset();
        let tail = (last.offset() - start) as usize;
        let mut buf = vec![0u8; tail + 512];
        let n = read_at_most(&*file, &mut buf, start)
            .map_err(|e| StoreError::io(format!("reading {}", path().display()), e))?;
        buf.truncate(n);
        // A length out of range is left for read_frame to report, not allocated.
        let need = codec::declared_len(&buf, tail).map_or(0, |len| tail + codec::FRAME_LEN + len);
        if need > buf.len() {
            buf.resize(need, 0);
            file.read_exact_at(&mut buf, start)
                .map_err(|e| StoreError::io(format!("reading {}", path().display()), e))?;
        }
        for &loc in locs {
            let at = (loc.offset() - start) as usize;
            let frame = codec::read_frame(&buf, at).map_err(|e| StoreError::Corrupt {
                path: path(),
                offset: loc.offset(),
                reason: format!("{e:?}"),
            })?;
            f(frame.payload);
        }
        Ok(())
    }

    /// The payload bytes of the record at `loc`, exactly as stored, its checksum checked.
    pub fn read_payload(&self, loc: Loc) -> Result<Vec<u8>> {
        let file = {
            let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
            segs.get(loc.segment() as usize - 1).cloned()
        };
        let path = || segment_path(&self.dir, loc.segment());
        let file =
            file.ok_or_else(|| StoreError::not_found("seq", format!("segment {} is not open", loc.segment())))?;
        let mut buf = vec![0u8; 512];
        let n = read_at_most(&*file, &mut buf, loc.offset())
            .map_err(|e| StoreError::io(format!("reading {}", path().display()), e))?;
        buf.truncate(n);
        let need = codec::declared_len(&buf, 0).map_or(0, |len| codec::FRAME_LEN + len);
        if need > buf.len() {
            buf.resize(need, 0);
            file.read_exact_at(&mut buf, loc.offset())
                .map_err(|e| StoreError::io(format!("reading {}", path().display()), e))?;
        }
        let corrupt = |reason: String| StoreError::Corrupt { path: path(), offset: loc.offset(), reason };
        let frame = codec::read_frame(&buf, 0).map_err(|e| corrupt(format!("{e:?}")))?;
        let end = frame.next;
        buf.truncate(end);
        buf.drain(..codec::FRAME_LEN);
        Ok(buf)
    }

    /// Bytes in all segments, and the number of segments.
    pub fn size(&self) -> (u64, usize) {
        let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
        let bytes = segs.iter().map(|f| f.size().unwrap_or(0)).sum();
        (bytes, segs.len())
    }

    /// fsync latencies: (bucket upper bound in seconds, count in that bucket); the last bound is infinite.
    pub fn fsync_histogram(&self) -> Vec<(f64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        FSYNC_BUCKETS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.shared.fsync_hist.iter().map(|c| c.load(Relaxed)))
            .collect()
    }

    /// fsync count and total fsync time, for metrics.
    pub fn fsync_stats(&self) -> (u64, Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.shared.fsyncs.load(Relaxed), Duration::from_nanos(self.shared.fsync_nanos.load(Relaxed)))
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Records whose checksum matched.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Seq of the last complete event.
    pub last_seq: Seq,
    /// An unfinished write at the end of the last segment (a crash residue that the next writer
    /// cuts off); not damage, but reported.
    pub torn_tail: Option<TornTail>,
}

/// Checks every record's checksum and the log's structure (headers, seq continuity, batch markers)
/// without changing anything; `progress(done, total)` is called with bytes after each segment.
/// Damage is an error naming the file and offset.
pub fn verify(dir: &Path, progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
    verify_in(&Fs, dir, progress, false, |_, _, _| Ok(()))
}

/// [`verify`], also delivering every complete event with its location and audit leaf hash, in
/// order (what the audit check recomputes the tree from).
pub fn verify_with(
    dir: &Path,
    progress: impl FnMut(u64, u64),
    mut on_event: impl FnMut(&EventRef<'_>, Loc, &Hash) -> Result<()>,
) -> Result<VerifyReport> {
    verify_in(&Fs, dir, progress, true, |event, loc, leaf| match leaf {
        Some(leaf) => on_event(event, loc, leaf),
        None => Err(StoreError::Unavailable("the scan computed no leaf hash".into())),
    })
}

/// [`verify`] on any storage; `leaves` says whether each event comes with its leaf hash.
pub fn verify_in(
    storage: &dyn Storage,
    dir: &Path,
    mut progress: impl FnMut(u64, u64),
    leaves: bool,
    mut on_event: impl FnMut(&EventRef<'_>, Loc, Option<&Hash>) -> Result<()>,
) -> Result<VerifyReport> {
    if !storage.exists(&dir.join("log")) {
        return Err(StoreError::not_found("data_dir", format!("{} holds no mltrace log", dir.display())));
    }
    let numbers = list_segments(storage, dir)?;
    let total = bytes_of(storage, dir, &numbers);
    let mut report = VerifyReport { segments: numbers.len(), ..VerifyReport::default() };
    let records = std::cell::Cell::new(0u64);
    let mut count = |event: &EventRef<'_>, loc: Loc, leaf: Option<&Hash>| {
        records.set(records.get() + 1);
        on_event(event, loc, leaf)
    };
    let mut scanner = Scanner { expected_seq: 1, on_event: &mut count, leaves, path: PathBuf::new() };
    let mut sums = Vec::with_capacity(numbers.len());
    let mut tail_len = u64::MAX;
    for &n in &numbers {
        let path = segment_path(dir, n);
        let buf = storage.read(&path).map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        report.bytes += buf.len() as u64;
        let is_last = n as usize == numbers.len();
        if is_last && buf.len() < HEADER_LEN {
            progress(report.bytes, total);
            continue;
        }
        if is_last {
            tail_len = buf.len() as u64;
        } else {
            sums.push(SegmentSum::of(&buf));
        }
        match scanner.scan(&path, n, &buf, None)? {
            ScanEnd::Clean => {}
            ScanEnd::Torn { cut, at, reason } if is_last => {
                tail_len = cut;
                report.torn_tail = Some(TornTail {
                    path: path.clone(),
                    offset: cut,
                    bytes_dropped: buf.len() as u64 - cut,
                    reason: format!("{reason} (at offset {at})"),
                });
            }
            ScanEnd::Torn { at, reason, .. } => {
                return Err(StoreError::Corrupt { path, offset: at, reason: format!("{reason} in a sealed segment") });
            }
        }
        progress(report.bytes, total);
    }
    report.last_seq = scanner.expected_seq - 1;
    report.records = records.get();
    let header_id = numbers.first().and_then(|&n| first_header(storage, &segment_path(dir, n))).map(|h| h.log_id);
    check_newest(storage, dir, header_id, numbers.len(), tail_len == u64::MAX && !numbers.is_empty())?;
    let log_id = header_id.unwrap_or(0);
    if let Ok(Some((last_seq, checkpoint_id, covered))) = crate::checkpoint::read_known(storage, dir) {
        let known = Known { resume: None, last_seq, log_id: checkpoint_id, segments: &covered };
        if let Some(e) = lost_segments(dir, &known, log_id, report.last_seq, &sums, numbers.len(), tail_len) {
            return Err(e);
        }
    }
    Ok(report)
}

/// The group commit: the first waiter becomes the leader and fsyncs for everyone written so far;
/// later arrivals wait for the next round. An fsync error is final: after one, the page cache may
/// have dropped dirty pages, so retrying could report success for data that is gone.
fn sync_until(shared: &Shared, seq: Seq) -> Result<()> {
    let mut d = lock(&shared.durability);
    loop {
        if let Some(why) = &d.failed {
            return Err(StoreError::Unavailable(why.clone()));
        }
        if d.durable >= seq {
            return Ok(());
        }
        if d.syncing {
            d = shared.synced.wait(d).unwrap_or_else(|p| p.into_inner());
            continue;
        }
        let (Some(file), upto) = (d.file.clone(), d.written) else {
            return Ok(());
        };
        d.syncing = true;
        drop(d);
        let started = Instant::now();
        let outcome = file.sync_data();
        let took = started.elapsed();
        {
            use std::sync::atomic::Ordering::Relaxed;
            shared.fsyncs.fetch_add(1, Relaxed);
            shared.fsync_nanos.fetch_add(took.as_nanos() as u64, Relaxed);
            let secs = took.as_secs_f64();
            let bucket = FSYNC_BUCKETS_S.iter().position(|&le| secs <= le).unwrap_or(FSYNC_BUCKETS_S.len());
            shared.fsync_hist[bucket].fetch_add(1, Relaxed);
        }
        d = lock(&shared.durability);
        d.syncing = false;
        match outcome {
            Ok(()) => d.durable = d.durable.max(upto),
            Err(e) => {
                let why = format!("fsync failed: {e}");
                tracing::error!("{why}; the store refuses writes from now on");
                d.failed.get_or_insert(why);
            }
        }
        shared.synced.notify_all();
    }
}

fn spawn_flusher(shared: Arc<Shared>, every: Duration) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("mltrace-fsync".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let written = lock(&shared.durability).written;
                if sync_until(&shared, written).is_err() {
                    break;
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the fsync thread: {e}"));
    (stop, handle)
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.flusher.take() {
            drop(stop);
            let _ = handle.join();
        }
        if self.tail.is_some() && self.opts.fsync != FsyncPolicy::Never {
            let _ = self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_batch_flags_only_its_last_record_and_every_checksum_holds() {
        use crate::event::{Event, EventKind};
        let ev = |seq| Event { seq, at: 1, kind: EventKind::NotesSet { run: 1, notes: format!("n{seq}") } };
        let mut enc = Encoder::default();
        let mut payloads = 0;
        for seq in 5..8 {
            enc.push(&ev(seq), &mut |_| payloads += 1).unwrap();
        }
        assert!(enc.push(&ev(9), &mut |_| {}).unwrap_err().contains("does not follow"), "a gap is refused");
        let batch = enc.finish();
        assert_eq!((batch.len(), batch.first_seq, payloads), (3, 5, 3));
        let mut at = 0;
        let mut ends = Vec::new();
        while at < batch.buf.len() {
            let frame = codec::read_frame(&batch.buf, at).unwrap();
            assert_eq!(codec::decode_event(frame.payload).unwrap(), ev(5 + ends.len() as u64));
            ends.push(frame.batch_end);
            at = frame.next;
        }
        assert_eq!(ends, [false, false, true], "only the last record closes the batch");
    }

    #[test]
    fn fsync_policies_parse() {
        assert_eq!(FsyncPolicy::parse("always").unwrap(), FsyncPolicy::Always);
        assert_eq!(FsyncPolicy::parse("never").unwrap(), FsyncPolicy::Never);
        assert_eq!(FsyncPolicy::parse("interval:50").unwrap(), FsyncPolicy::Interval(Duration::from_millis(50)));
        assert_eq!(FsyncPolicy::parse("interval(50ms)").unwrap(), FsyncPolicy::Interval(Duration::from_millis(50)));
        assert!(FsyncPolicy::parse("sometimes").is_err());
        assert!(FsyncPolicy::parse("interval:0").is_err());
    }

    #[test]
    fn locations_pack_segment_and_offset() {
        let l = Loc::new(7, 123_456_789);
        assert_eq!((l.segment(), l.offset()), (7, 123_456_789));
    }
}
