//! Checkpoints: the materialized state written to one file, so that an open is a load plus a replay
//! of the events after it instead of a replay of the whole log. The bytes are the codec's (see
//! `codec.rs`, "Checkpoint"); this module owns the file: where it lives, how it replaces the old one.
//!
//! A checkpoint is a cache, never a source of truth: it is written to a temporary file, fsynced and
//! renamed over the old one (then the directory is fsynced), and a missing, damaged, foreign or
//! outdated one is ignored (with a warning) in favour of a full replay.
//!
//! Writing is two steps so that the store holds its state lock only for the first: [`begin`]
//! encodes the state into the temporary file (a write into the page cache, no fsync), and
//! [`Pending::commit`] makes it durable and puts it in place with no lock held.
//!
//! The body covers, for each segment from the first, its length and the crc32 of its bytes when the
//! checkpoint was written ([`SegmentSum`]): an open from the checkpoint checks them, since it does not
//! scan what the checkpoint covers, and a log shorter than what a checkpoint covered is one that lost
//! its newest segments.

use crate::codec::{self, CHECKPOINT_HEADER_LEN, CheckpointHeader};
use crate::error::{Result, StoreError};
use crate::event::Seq;
use crate::log::SegmentSum;
use crate::state::State;
use crate::storage::{OpenMode, Storage, StorageFile};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::codec::CHECKPOINT_VERSION as VERSION;

/// Where a data directory's checkpoint lives.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("checkpoint")
}

fn tmp_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.tmp")
}

/// Sequential writes to a storage file, checksummed and counted on the way.
struct Appender {
    file: Arc<dyn StorageFile>,
    at: u64,
    crc: crc32fast::Hasher,
}

impl Write for Appender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        self.crc.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A checkpoint written to its temporary file but not yet durable nor in place.
pub(crate) struct Pending {
    file: Arc<dyn StorageFile>,
    dir: PathBuf,
    /// The last seq the state includes.
    pub(crate) seq: Seq,
}

fn io_error(path: &Path, what: &str) -> impl Fn(std::io::Error) -> StoreError {
    let (path, what) = (path.to_path_buf(), what.to_string());
    move |e| StoreError::io(format!("{what} {}", path.display()), e)
}

/// Encodes `state` into the directory's temporary checkpoint file, without syncing it.
pub(crate) fn begin(
    storage: &dyn Storage,
    dir: &Path,
    state: &State,
    log_id: u32,
    covered: &[SegmentSum],
) -> Result<Pending> {
    let tmp = tmp_path(dir);
    let file = storage.open(&tmp, OpenMode::Create).map_err(io_error(&tmp, "creating"))?;
    let appender = Appender { file: file.clone(), at: CHECKPOINT_HEADER_LEN as u64, crc: crc32fast::Hasher::new() };
    let mut out = BufWriter::with_capacity(1 << 20, appender);
    codec::encode_checkpoint_body(&mut out, log_id, covered, state).map_err(io_error(&tmp, "writing"))?;
    let appender = out.into_inner().map_err(|e| io_error(&tmp, "writing")(e.into_error()))?;
    let header = CheckpointHeader {
        crc: appender.crc.finalize(),
        len: appender.at - CHECKPOINT_HEADER_LEN as u64,
        seq: state.last_seq,
    };
    file.write_all_at(&codec::encode_checkpoint_header(header), 0).map_err(io_error(&tmp, "writing"))?;
    Ok(Pending { file, dir: dir.to_path_buf(), seq: state.last_seq })
}

impl Pending {
    /// Makes the checkpoint durable and puts it in place of the old one.
    pub(crate) fn commit(self, storage: &dyn Storage) -> Result<Seq> {
        let tmp = tmp_path(&self.dir);
        self.file.sync_all().map_err(io_error(&tmp, "fsyncing"))?;
        drop(self.file);
        storage.rename(&tmp, &path(&self.dir)).map_err(io_error(&tmp, "renaming"))?;
        storage.sync_dir(&self.dir).map_err(|e| StoreError::io(format!("fsync of {}", self.dir.display()), e))?;
        Ok(self.seq)
    }
}

/// What a checkpoint holds.
pub(crate) struct Loaded {
    pub(crate) state: State,
    pub(crate) log_id: u32,
    pub(crate) covered: Vec<SegmentSum>,
}

fn map(storage: &dyn Storage, dir: &Path) -> std::result::Result<Option<crate::storage::Bytes>, String> {
    // Mapped rather than read, so that the load does not hold the file twice; a checkpoint is
    // replaced by a rename, never written in place.
    match storage.map(&path(dir)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path(dir).display())),
    }
}

/// What a checkpoint knows of the log, without loading the state: its last seq, the log's id and
/// the segments it covers.
pub(crate) fn read_known(
    storage: &dyn Storage,
    dir: &Path,
) -> std::result::Result<Option<(Seq, u32, Vec<SegmentSum>)>, String> {
    let Some(bytes) = map(storage, dir)? else { return Ok(None) };
    let (header, body) = codec::decode_checkpoint(&bytes)?;
    let (log_id, covered, _) = codec::decode_checkpoint_known(body)?;
    Ok(Some((header.seq, log_id, covered)))
}

/// Loads the checkpoint, or says why it cannot be used.
pub(crate) fn read(storage: &dyn Storage, dir: &Path) -> std::result::Result<Option<Loaded>, String> {
    let Some(bytes) = map(storage, dir)? else { return Ok(None) };
    let (header, body) = codec::decode_checkpoint(&bytes)?;
    let (log_id, covered, used) = codec::decode_checkpoint_known(body)?;
    let state: State = codec::decode_checkpoint_state(body, used)?;
    if state.last_seq != header.seq || state.locs.len() as u64 != header.seq {
        return Err("the state disagrees with its header".into());
    }
    Ok(Some(Loaded { state, log_id, covered }))
}
