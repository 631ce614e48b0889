//! Checkpoints: the materialized state written to one file, so that an open is a load plus a replay
//! of the events after it instead of a replay of the whole log.
//!
//! A checkpoint is a cache, never a source of truth: it is written to a temporary file, fsynced and
//! renamed over the old one (then the directory is fsynced), and a missing, damaged, foreign or
//! outdated one is ignored (with a warning) in favour of a full replay.
//!
//! **File** `DATA_DIR/checkpoint` (little-endian)
//!
//! | offset | width | field                                              |
//! |-------:|------:|----------------------------------------------------|
//! |      0 |     8 | magic `MLTRCKP\0`                                  |
//! |      8 |     2 | format version, u16 ([`VERSION`])                  |
//! |     10 |     2 | reserved, zero                                     |
//! |     12 |     4 | crc32 of the payload                               |
//! |     16 |     8 | payload length, u64                                |
//! |     24 |     8 | seq of the last event the state includes, u64      |
//! |     32 |   len | payload: the log id, the segments covered, then the state, bincode 2 standard configuration |
//!
//! The segments covered are, for each segment from the first, its length and the crc32 of its bytes
//! when the checkpoint was written ([`SegmentSum`]): an open from the checkpoint checks them, since
//! it does not scan what the checkpoint covers, and a log shorter than what a checkpoint covered is
//! one that lost its newest segments.

use crate::error::{Result, StoreError};
use crate::event::Seq;
use crate::log::SegmentSum;
use crate::state::State;
use crate::storage::{OpenMode, Storage, StorageFile};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: [u8; 8] = *b"MLTRCKP\0";
/// Format version of checkpoints this build writes and reads.
pub const VERSION: u16 = 5;
const HEADER_LEN: usize = 32;
const CONFIG: bincode::config::Configuration = bincode::config::standard();

/// Where a data directory's checkpoint lives.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("checkpoint")
}

/// Sequential writes to a storage file.
struct Appender {
    file: Arc<dyn StorageFile>,
    at: u64,
}

impl Write for Appender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that checksums and counts what passes through it.
struct Summing<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `state` as the directory's checkpoint, atomically.
pub(crate) fn write(
    storage: &dyn Storage,
    dir: &Path,
    state: &State,
    log_id: u32,
    covered: &[SegmentSum],
) -> Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    let io = |what: &str| {
        let tmp = tmp.clone();
        let what = what.to_string();
        move |e: std::io::Error| StoreError::io(format!("{what} {}", tmp.display()), e)
    };
    let file = storage.open(&tmp, OpenMode::Create).map_err(io("creating"))?;
    let writer = Appender { file: file.clone(), at: HEADER_LEN as u64 };
    let mut out = Summing { inner: BufWriter::with_capacity(1 << 20, writer), crc: crc32fast::Hasher::new(), len: 0 };
    bincode::serde::encode_into_std_write((log_id, covered), &mut out, CONFIG)
        .and_then(|_| bincode::serde::encode_into_std_write(state, &mut out, CONFIG))
        .map_err(|e| StoreError::io(format!("writing {}", tmp.display()), std::io::Error::other(e.to_string())))?;
    out.flush().map_err(io("writing"))?;
    let Summing { crc, len, inner } = out;
    drop(inner);
    let crc = crc.finalize();
    let mut header = [0u8; HEADER_LEN];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header[16..24].copy_from_slice(&len.to_le_bytes());
    header[24..32].copy_from_slice(&state.last_seq.to_le_bytes());
    file.write_all_at(&header, 0).map_err(io("writing"))?;
    file.sync_all().map_err(io("fsyncing"))?;
    drop(file);
    storage.rename(&tmp, &path(dir)).map_err(io("renaming"))?;
    storage.sync_dir(dir).map_err(|e| StoreError::io(format!("fsync of {}", dir.display()), e))
}

/// Loads the checkpoint, or says why it cannot be used.
/// What a checkpoint holds.
pub(crate) struct Loaded {
    pub(crate) state: State,
    pub(crate) log_id: u32,
    pub(crate) covered: Vec<SegmentSum>,
}

/// What a checkpoint knows of the log, without loading the state: its last seq, the log's id and
/// the segments it covers.
pub(crate) fn read_known(
    storage: &dyn Storage,
    dir: &Path,
) -> std::result::Result<Option<(Seq, u32, Vec<SegmentSum>)>, String> {
    let bytes = match storage.map(&path(dir)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path(dir).display())),
    };
    let (seq, payload) = check(&bytes)?;
    let ((log_id, covered), _): ((u32, Vec<SegmentSum>), usize) = bincode::serde::decode_from_slice(payload, CONFIG)
        .map_err(|e| format!("the segments covered do not decode: {e}"))?;
    Ok(Some((seq, log_id, covered)))
}

/// Checks a checkpoint's header and checksum; answers its last seq and its payload.
fn check(bytes: &[u8]) -> std::result::Result<(Seq, &[u8]), String> {
    let header = bytes.get(..HEADER_LEN).ok_or("the file is shorter than its header")?;
    if header[0..8] != MAGIC {
        return Err("bad magic bytes".into());
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != VERSION {
        return Err(format!("format version {version}, this build reads {VERSION}"));
    }
    let word = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(a)
    };
    let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    let len = word(16) as usize;
    let seq: Seq = word(24);
    let payload = bytes.get(HEADER_LEN..HEADER_LEN.saturating_add(len)).ok_or("the payload is cut short")?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    Ok((seq, payload))
}

pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> std::result::Result<Option<Loaded>, String> {
    let p = path(dir);
    // Mapped rather than read, so that the load does not hold the file twice; a checkpoint is
    // replaced by a rename, never written in place.
    let bytes = match storage.map(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", p.display())),
    };
    let (seq, payload) = check(&bytes)?;
    let ((log_id, covered), used): ((u32, Vec<SegmentSum>), usize) = bincode::serde::decode_from_slice(payload, CONFIG)
        .map_err(|e| format!("the segments covered do not decode: {e}"))?;
    let (state, _): (State, usize) = bincode::serde::decode_from_slice(&payload[used..], CONFIG)
        .map_err(|e| format!("the state does not decode: {e}"))?;
    if state.last_seq != seq || state.locs.len() as u64 != seq {
        return Err("the state disagrees with its header".into());
    }
    Ok(Some(Loaded { state, log_id, covered }))
}
