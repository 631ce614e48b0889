//! The byte formats of a data directory: the log's segments and records, the `log/newest` file and
//! the checkpoint's header and body. This module alone knows how events and state become bytes;
//! nothing outside it knows that payloads are bincode or where a field sits in a header.
//!
//! A data directory holds segment files `log/NNNNNNNN.seg`, numbered from 1. Each starts with a
//! header, followed by records. All integers are little-endian.
//!
//! **Segment header** (`HEADER_LEN` = 32 bytes)
//!
//! | offset | width | field                                                   |
//! |-------:|------:|---------------------------------------------------------|
//! |      0 |     8 | magic `MLTRLOG\0` ([`MAGIC`])                           |
//! |      8 |     2 | format version, u16 ([`FORMAT_VERSION`])                |
//! |     10 |     2 | reserved, zero                                          |
//! |     12 |     4 | segment number, u32 (1, 2, ...; the file name says it too) |
//! |     16 |     8 | seq of the first event the segment holds, u64           |
//! |     24 |     4 | log id, u32: random, the same in every segment of one log (0: not recorded) |
//! |     28 |     4 | crc32 (IEEE, crc32fast) of bytes 0..28                  |
//!
//! **Record** (`FRAME_LEN` = 12 bytes of frame, then the payload)
//!
//! | offset | width | field                                                   |
//! |-------:|------:|---------------------------------------------------------|
//! |      0 |     4 | crc32 of bytes 4..12+len (frame fields and payload)     |
//! |      4 |     4 | payload length `len`, u32 (1 ..= [`MAX_PAYLOAD`])       |
//! |      8 |     1 | flags: bit 0 = last record of its batch ([`FLAG_BATCH_END`]) |
//! |      9 |     3 | reserved, zero                                          |
//! |     12 |   len | payload: one [`Event`], bincode 2 standard configuration |
//!
//! A batch is the records written by one append; only a batch whose last record carries
//! `FLAG_BATCH_END` counts, so a batch cut by a crash vanishes whole. A batch never spans segments.
//!
//! **Checkpoint** `DATA_DIR/checkpoint` ([`CHECKPOINT_HEADER_LEN`] = 32 bytes of header, then the body)
//!
//! | offset | width | field                                              |
//! |-------:|------:|----------------------------------------------------|
//! |      0 |     8 | magic `MLTRCKP\0` ([`CHECKPOINT_MAGIC`])           |
//! |      8 |     2 | format version, u16 ([`CHECKPOINT_VERSION`])       |
//! |     10 |     2 | reserved, zero                                     |
//! |     12 |     4 | crc32 of the body                                  |
//! |     16 |     8 | body length, u64                                   |
//! |     24 |     8 | seq of the last event the state includes, u64      |
//! |     32 |   len | body: the log id and the segments covered, then the state, bincode 2 standard configuration |

use crate::event::Event;
use crate::log::SegmentSum;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Magic bytes at the start of every segment.
pub const MAGIC: [u8; 8] = *b"MLTRLOG\0";
/// The format version this build writes.
pub const FORMAT_VERSION: u16 = 1;
/// The range of format versions this build reads.
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u16> = 1..=1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 32;
/// Length of a record's frame (before its payload).
pub const FRAME_LEN: usize = 12;
/// Flag bit: the record closes its batch.
pub const FLAG_BATCH_END: u8 = 1;
/// The largest payload a record may carry (a run with a huge code snapshot fits well below).
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

const CONFIG: bincode::config::Configuration = bincode::config::standard();
/// Decoding claims at most a record's worth of bytes: a length prefix inside a payload (one with a
/// valid checksum but hostile or damaged contents) cannot make decode allocate more than that.
const DECODE: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_PAYLOAD>,
> = bincode::config::standard().with_limit::<MAX_PAYLOAD>();

/// Magic bytes of the `log/newest` file.
pub const NEWEST_MAGIC: [u8; 8] = *b"MLTRNEW\0";
/// Length of the `log/newest` file.
pub const NEWEST_LEN: usize = 24;

/// The `log/newest` file: the number of the newest segment whose header is durable, so that losing
/// that segment (deleted, or cut below its header) is noticed. `NEWEST_MAGIC`, then the segment
/// number (u32), the log id (u32), four reserved zero bytes and a crc32 of bytes 0..20.
pub fn encode_newest(segment: u32, log_id: u32) -> [u8; NEWEST_LEN] {
    let mut b = [0u8; NEWEST_LEN];
    b[0..8].copy_from_slice(&NEWEST_MAGIC);
    b[8..12].copy_from_slice(&segment.to_le_bytes());
    b[12..16].copy_from_slice(&log_id.to_le_bytes());
    let crc = crc32fast::hash(&b[0..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Reads the `log/newest` file: (segment, log id).
pub fn decode_newest(b: &[u8]) -> Result<(u32, u32), String> {
    if b.len() != NEWEST_LEN || b[0..8] != NEWEST_MAGIC {
        return Err("not an mltrace newest-segment file".into());
    }
    if crc32fast::hash(&b[0..20]) != u32_at(b, 20) {
        return Err("checksum mismatch".into());
    }
    Ok((u32_at(b, 8), u32_at(b, 12)))
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version found.
    pub version: u16,
    /// Segment number.
    pub segment: u32,
    /// First seq held.
    pub first_seq: u64,
    /// The log's id (0 in logs written before it was recorded).
    pub log_id: u32,
}

/// The header of a new segment.
pub fn encode_header(segment: u32, first_seq: u64, log_id: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&segment.to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    h[24..28].copy_from_slice(&log_id.to_le_bytes());
    let crc = crc32fast::hash(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Reads a segment header, saying what is wrong with it if anything.
pub fn decode_header(buf: &[u8]) -> Result<SegmentHeader, String> {
    let h = buf
        .get(0..HEADER_LEN)
        .ok_or_else(|| format!("file is {} bytes, shorter than the {HEADER_LEN}-byte header", buf.len()))?;
    if h[0..8] != MAGIC {
        return Err("bad magic bytes: not an mltrace segment".into());
    }
    let stored = u32_at(h, 28);
    if crc32fast::hash(&h[0..28]) != stored {
        return Err("header checksum mismatch".into());
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(format!(
            "format version {version} is not supported by this build (reads {}..={})",
            SUPPORTED_VERSIONS.start(),
            SUPPORTED_VERSIONS.end()
        ));
    }
    Ok(SegmentHeader { version, segment: u32_at(h, 12), first_seq: u64_at(h, 16), log_id: u32_at(h, 24) })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Appends one framed record holding `event` to `out`; returns the record's length. Refuses (leaving
/// `out` as it was) an event that [`read_frame`] would not read back: one whose payload is longer
/// than [`MAX_PAYLOAD`], so that nothing is acknowledged that a later open would cut off.
pub fn encode_record(event: &Event, batch_end: bool, out: &mut Vec<u8>) -> Result<usize, String> {
    encode_record_within(event, batch_end, out, MAX_PAYLOAD)
}

fn encode_record_within(event: &Event, batch_end: bool, out: &mut Vec<u8>, max: usize) -> Result<usize, String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_LEN]);
    // Writing into a Vec cannot fail, and our types have no serializer that errors.
    let _ = bincode::serde::encode_into_std_write(event, out, CONFIG);
    let payload = out.len() - start - FRAME_LEN;
    if payload > max {
        out.truncate(start);
        return Err(format!("event {} encodes to {payload} bytes, more than the {max} one record may hold", event.seq));
    }
    let len = payload as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8] = if batch_end { FLAG_BATCH_END } else { 0 };
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    Ok(out.len() - start)
}

/// Sets the batch-end flag of the record that starts `record` (as [`encode_record`] framed it) and
/// checksums it again: the flag is under the checksum.
pub fn mark_batch_end(record: &mut [u8]) {
    if record.len() < FRAME_LEN {
        return;
    }
    let len = u32_at(record, 4) as usize;
    let Some(end) = FRAME_LEN.checked_add(len).filter(|&e| e <= record.len()) else { return };
    record[8] |= FLAG_BATCH_END;
    let crc = crc32fast::hash(&record[4..end]);
    record[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// One record found in a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The payload bytes.
    pub payload: &'a [u8],
    /// Whether the record closes its batch.
    pub batch_end: bool,
    /// Offset just past the record.
    pub next: usize,
}

/// Why a record could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends inside the record: a write that did not finish.
    Incomplete,
    /// The bytes are there but wrong.
    Bad(String),
}

/// Reads the record at `offset` of `buf` (a whole segment).
pub fn read_frame(buf: &[u8], offset: usize) -> Result<Frame<'_>, FrameError> {
    let frame = buf.get(offset..offset + FRAME_LEN).ok_or(FrameError::Incomplete)?;
    let len = u32_at(frame, 4) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return Err(FrameError::Bad(format!("record length {len} is out of range")));
    }
    if frame[9..12] != [0, 0, 0] || frame[8] & !FLAG_BATCH_END != 0 {
        return Err(FrameError::Bad("reserved frame bits are set".into()));
    }
    let end = offset + FRAME_LEN + len;
    let body = buf.get(offset + 4..end).ok_or(FrameError::Incomplete)?;
    if crc32fast::hash(body) != u32_at(frame, 0) {
        return Err(FrameError::Bad("record checksum mismatch".into()));
    }
    Ok(Frame { payload: &buf[offset + FRAME_LEN..end], batch_end: frame[8] & FLAG_BATCH_END != 0, next: end })
}

/// The payload length that the record at `at` of `buf` declares, when `buf` holds its frame and
/// the length is one [`read_frame`] accepts: how many bytes a reader must hold to read the record.
pub fn declared_len(buf: &[u8], at: usize) -> Option<usize> {
    let frame = buf.get(at..at.checked_add(FRAME_LEN)?)?;
    let len = u32_at(frame, 4) as usize;
    (1..=MAX_PAYLOAD).contains(&len).then_some(len)
}

/// Decodes a payload whose checksum already matched, borrowing its strings (replay's path).
pub fn decode_event_ref(payload: &[u8]) -> Result<crate::event::EventRef<'_>, String> {
    match bincode::serde::borrow_decode_from_slice::<crate::event::EventRef<'_>, _>(payload, DECODE) {
        Ok((event, used)) if used == payload.len() => Ok(event),
        Ok((_, used)) => Err(format!("payload has {} trailing bytes", payload.len() - used)),
        Err(e) => Err(format!("payload does not decode: {e}")),
    }
}

/// Decodes a payload whose checksum already matched.
pub fn decode_event(payload: &[u8]) -> Result<Event, String> {
    match bincode::serde::decode_from_slice::<Event, _>(payload, DECODE) {
        Ok((event, used)) if used == payload.len() => Ok(event),
        Ok((_, used)) => Err(format!("payload has {} trailing bytes", payload.len() - used)),
        Err(e) => Err(format!("payload does not decode: {e}")),
    }
}

/// Magic bytes at the start of a checkpoint.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"MLTRCKP\0";
/// Format version of the checkpoints this build writes and reads. A checkpoint is a cache: one of
/// another version is ignored and the log replayed, so the version moves with the state's shape.
pub const CHECKPOINT_VERSION: u16 = 6;
/// Length of the checkpoint header.
pub const CHECKPOINT_HEADER_LEN: usize = 32;

/// What a checkpoint's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointHeader {
    /// crc32 of the body.
    pub crc: u32,
    /// Length of the body.
    pub len: u64,
    /// The last seq the state includes.
    pub seq: u64,
}

/// The 32 header bytes of a checkpoint.
pub fn encode_checkpoint_header(h: CheckpointHeader) -> [u8; CHECKPOINT_HEADER_LEN] {
    let mut b = [0u8; CHECKPOINT_HEADER_LEN];
    b[0..8].copy_from_slice(&CHECKPOINT_MAGIC);
    b[8..10].copy_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&h.crc.to_le_bytes());
    b[16..24].copy_from_slice(&h.len.to_le_bytes());
    b[24..32].copy_from_slice(&h.seq.to_le_bytes());
    b
}

/// Checks a whole checkpoint file's header and body checksum; answers the header and the body.
pub fn decode_checkpoint(bytes: &[u8]) -> Result<(CheckpointHeader, &[u8]), String> {
    let b = bytes.get(..CHECKPOINT_HEADER_LEN).ok_or("the file is shorter than its header")?;
    if b[0..8] != CHECKPOINT_MAGIC {
        return Err("bad magic bytes".into());
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if version != CHECKPOINT_VERSION {
        return Err(format!("format version {version}, this build reads {CHECKPOINT_VERSION}"));
    }
    let h = CheckpointHeader { crc: u32_at(b, 12), len: u64_at(b, 16), seq: u64_at(b, 24) };
    let end = usize::try_from(h.len).ok().and_then(|l| CHECKPOINT_HEADER_LEN.checked_add(l));
    let body = end.and_then(|end| bytes.get(CHECKPOINT_HEADER_LEN..end)).ok_or("the body is cut short")?;
    if crc32fast::hash(body) != h.crc {
        return Err("checksum mismatch".into());
    }
    Ok((h, body))
}

/// Writes a checkpoint body (the log id, the segments covered, the state) to `out`.
pub fn encode_checkpoint_body<W: std::io::Write>(
    out: &mut W,
    log_id: u32,
    covered: &[SegmentSum],
    state: &impl Serialize,
) -> std::io::Result<()> {
    bincode::serde::encode_into_std_write((log_id, covered), out, CONFIG)
        .and_then(|_| bincode::serde::encode_into_std_write(state, out, CONFIG))
        .map(|_| ())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The log id and segments covered at the start of a checkpoint body, and where the state begins.
pub fn decode_checkpoint_known(body: &[u8]) -> Result<(u32, Vec<SegmentSum>, usize), String> {
    let ((log_id, covered), used): ((u32, Vec<SegmentSum>), usize) = bincode::serde::decode_from_slice(body, CONFIG)
        .map_err(|e| format!("the segments covered do not decode: {e}"))?;
    Ok((log_id, covered, used))
}

/// The state of a checkpoint body, from where [`decode_checkpoint_known`] stopped.
pub fn decode_checkpoint_state<T: DeserializeOwned>(body: &[u8], from: usize) -> Result<T, String> {
    let rest = body.get(from..).ok_or("the body is cut short")?;
    match bincode::serde::decode_from_slice::<T, _>(rest, CONFIG) {
        Ok((state, used)) if used == rest.len() => Ok(state),
        Ok((_, used)) => Err(format!("the state has {} trailing bytes", rest.len() - used)),
        Err(e) => Err(format!("the state does not decode: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn ev(seq: u64) -> Event {
        Event { seq, at: 1_700_000_000_000, kind: EventKind::NotesSet { run: 7, notes: "héllo".into() } }
    }

    #[test]
    fn encode_refuses_what_decode_would_refuse_and_leaves_the_buffer_as_it_was() {
        let mut buf = Vec::new();
        let n = encode_record(&ev(1), true, &mut buf).unwrap();
        let payload = n - FRAME_LEN;
        let before = buf.clone();
        assert!(encode_record_within(&ev(2), true, &mut buf, payload - 1).unwrap_err().contains("more than"));
        assert_eq!(buf, before, "nothing of the refused record is left behind");
        assert_eq!(encode_record_within(&ev(2), true, &mut buf, payload).unwrap(), n, "exactly at the limit is fine");
        // And what encode accepts at the real limit, decode reads: both use MAX_PAYLOAD.
        let mut big = vec![0u8; FRAME_LEN];
        big[4..8].copy_from_slice(&((MAX_PAYLOAD + 1) as u32).to_le_bytes());
        assert!(matches!(read_frame(&big, 0), Err(FrameError::Bad(_))));
    }

    #[test]
    fn a_hostile_length_prefix_is_an_error_not_a_huge_allocation() {
        let mut buf = Vec::new();
        encode_record(&ev(1), true, &mut buf).unwrap();
        let payload = &buf[FRAME_LEN..];
        let notes = payload.windows(6).position(|w| w == "héllo".as_bytes()).unwrap();
        assert_eq!(payload[notes - 1], 6, "the length prefix of the notes");
        let mut hostile = payload[..notes - 1].to_vec();
        hostile.push(0xFD);
        hostile.extend_from_slice(&(1u64 << 62).to_le_bytes());
        hostile.extend_from_slice(&payload[notes..]);
        assert!(decode_event(&hostile).is_err());
        assert!(decode_event_ref(&hostile).is_err());
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = encode_header(3, 1001, 77);
        let d = decode_header(&h).unwrap();
        assert_eq!((d.version, d.segment, d.first_seq, d.log_id), (1, 3, 1001, 77));
        let mut bad = h;
        bad[13] ^= 1;
        assert!(decode_header(&bad).unwrap_err().contains("checksum"));
        let mut future = h;
        future[8] = 9;
        let crc = crc32fast::hash(&future[0..28]);
        future[28..32].copy_from_slice(&crc.to_le_bytes());
        assert!(decode_header(&future).unwrap_err().contains("not supported"));
        assert!(decode_header(b"MLTRLOG").is_err());
    }

    #[test]
    fn a_run_decodes_the_same_owned_and_borrowed() {
        use crate::event::{Dependency, IoRecord, IoType, RunRecord, TestResult};
        let io = |name: &str, hash: Option<&str>, producer| IoRecord {
            name: name.into(),
            hash: hash.map(Into::into),
            kind: IoType::Data,
            producer,
        };
        let run = RunRecord {
            id: 9,
            component: "train".into(),
            start: 1,
            end: 2,
            inputs: (0..6).map(|i| io(&format!("in-{i}"), Some("h"), Some(3))).collect(),
            outputs: vec![io("model.pkl", None, None)],
            dependencies: vec![Dependency { run: 3, via: Some("in-0".into()) }, Dependency { run: 4, via: None }],
            stale: vec!["x (ID 3) was run 40 days ago.".into()],
            git_hash: Some("abc".into()),
            git_tags: vec!["v1".into(), "v2".into()],
            code_snapshot: Some("def f(): ...".into()),
            notes: "n".into(),
            tests: vec![TestResult {
                name: "t".into(),
                phase: "after".into(),
                passed: false,
                message: Some("m".into()),
            }],
            idempotency_key: Some("k".into()),
        };
        let e = Event { seq: 5, at: 7, kind: EventKind::RunLogged(Box::new(run)) };
        let mut buf = Vec::new();
        encode_record(&e, true, &mut buf).unwrap();
        let f = read_frame(&buf, 0).unwrap();
        assert_eq!(decode_event(f.payload).unwrap(), e);
        let borrowed = decode_event_ref(f.payload).unwrap();
        assert_eq!(borrowed, e.as_ref());
        let crate::event::EventKindRef::RunLogged(r) = borrowed.kind else { panic!("not a run") };
        assert_eq!((r.inputs.len(), r.idempotency_key, r.notes), (6, Some("k"), "n"));
    }

    #[test]
    fn an_openlineage_event_round_trips_owned_and_borrowed() {
        use crate::event::{Dependency, IoRecord, IoType, LineageKind, LineageRecord, RunStatus, RunUpdate};
        let io = |n: &str| IoRecord { name: n.into(), hash: Some("v1".into()), kind: IoType::Data, producer: Some(1) };
        let update = RunUpdate {
            id: 2,
            uuid: "0190c0de-0000-7000-8000-000000000001".into(),
            opened: false,
            component: "etl/clean".into(),
            event_type: "COMPLETE".into(),
            start: 1,
            end: 9,
            status: RunStatus::Completed,
            inputs: vec![io("a")],
            outputs: vec![io("b")],
            produced: vec![io("b")],
            dependencies: vec![Dependency { run: 1, via: Some("a".into()) }],
            stale: vec!["s".into()],
            git_hash: Some("g".into()),
            source_url: None,
            code_snapshot: Some("select 1".into()),
            tests: Vec::new(),
            error: None,
            parent: Some("0190c0de-0000-7000-8000-000000000000".into()),
            parent_component: Some("etl/dag".into()),
        };
        let record = LineageRecord {
            raw: "{\"eventType\": \"COMPLETE\"}".into(),
            kind: LineageKind::Run,
            event_time: 9,
            run: Some(update),
        };
        let e = Event { seq: 3, at: 7, kind: EventKind::Lineage(Box::new(record)) };
        let mut buf = Vec::new();
        encode_record(&e, true, &mut buf).expect("the event encodes");
        let f = read_frame(&buf, 0).unwrap();
        assert_eq!(decode_event(f.payload).unwrap(), e);
        assert_eq!(decode_event_ref(f.payload).unwrap(), e.as_ref());
    }

    #[test]
    fn records_round_trip_and_detect_torn_and_flipped_bytes() {
        let mut buf = Vec::new();
        encode_record(&ev(1), false, &mut buf).unwrap();
        let second = buf.len();
        encode_record(&ev(2), true, &mut buf).unwrap();
        let f = read_frame(&buf, 0).unwrap();
        assert!(!f.batch_end);
        assert_eq!(decode_event(f.payload).unwrap(), ev(1));
        let first = ev(1);
        assert_eq!(decode_event_ref(f.payload).unwrap(), first.as_ref());
        let g = read_frame(&buf, f.next).unwrap();
        assert!(g.batch_end);
        assert_eq!(g.next, buf.len());
        assert_eq!(read_frame(&buf[..buf.len() - 1], second), Err(FrameError::Incomplete));
        for i in second..buf.len() {
            let mut flipped = buf.clone();
            flipped[i] ^= 0x10;
            assert!(read_frame(&flipped, second).is_err(), "flip at {i} went unnoticed");
        }
    }
}
