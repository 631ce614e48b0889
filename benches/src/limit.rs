//! The disk's limit for the workload, measured beside the store in the same run: the very record
//! bytes a log holds, appended with plain `pwrite` and one `fdatasync` per group of records (the
//! store's fsync cadence: one per batch of 1,000 runs), then read back with a crc32 of every record
//! (what replay must do at the least). The store's ingest and replay figures are reported as shares
//! of these two rates, which move from machine to machine far less than the figures themselves.
//!
//! The records are taken from a real data directory the load generator has just written, so their
//! sizes and order are the workload's own; nothing is encoded, resolved or applied here.

use mltrace_store::codec::{self, FRAME_LEN, HEADER_LEN};
use serde::Serialize;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One segment's records, as written by the store: the segment's bytes and where each record ends.
pub struct Segment {
    /// The whole segment file (header and records).
    pub bytes: Vec<u8>,
    /// Offset just past each record, ascending.
    pub ends: Vec<usize>,
}

/// The segments of the log in `data_dir`, read into memory, their records located.
pub fn read_log(data_dir: &Path) -> io::Result<Vec<Segment>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir.join("log"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = std::fs::read(&p)?;
        let ends = record_ends(&bytes).map_err(|why| io::Error::other(format!("{}: {why}", p.display())))?;
        out.push(Segment { bytes, ends });
    }
    Ok(out)
}

/// Where each record of a segment ends; stops at the first incomplete record (a torn tail).
pub fn record_ends(seg: &[u8]) -> Result<Vec<usize>, String> {
    let mut ends = Vec::new();
    let mut at = HEADER_LEN;
    while at < seg.len() {
        match codec::read_frame(seg, at) {
            Ok(f) => {
                ends.push(f.next);
                at = f.next;
            }
            Err(codec::FrameError::Incomplete) => break,
            Err(codec::FrameError::Bad(why)) => return Err(format!("record at offset {at}: {why}")),
        }
    }
    Ok(ends)
}

/// The raw durable append of the log's bytes.
#[derive(Serialize, Debug, Clone)]
pub struct AppendLimit {
    /// Records written (every event of the log, runs and the rest).
    pub records: u64,
    /// Bytes written (segment headers included).
    pub bytes: u64,
    /// Writes, each followed by one `fdatasync`.
    pub fsyncs: u64,
    /// Wall time.
    pub seconds: f64,
    /// Records a second: the limit for runs a second, since almost every record is one run.
    pub records_per_s: f64,
    /// Mebibytes a second.
    pub mib_per_s: f64,
}

/// The raw read of the log's bytes with a crc32 of every record.
#[derive(Serialize, Debug, Clone)]
pub struct ReadLimit {
    /// Records checked.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Records a second: the limit for replay's events a second.
    pub records_per_s: f64,
    /// Mebibytes a second.
    pub mib_per_s: f64,
}

/// Both limits.
#[derive(Serialize, Debug, Clone)]
pub struct Limit {
    /// Records per `fdatasync` in the append.
    pub records_per_sync: u64,
    /// The raw durable append (the median of the rounds, by records a second).
    pub append: AppendLimit,
    /// The raw read-and-checksum, of the files the append wrote (the median of the rounds).
    pub read: ReadLimit,
    /// Records a second of every round, append then read: on a shared disk the fsync latency
    /// moves from one second to the next, and the spread says by how much.
    pub rounds: Vec<(f64, f64)>,
}

/// [`measure`] `rounds` times; reports the median round of each kind, and all of them.
pub fn measure_rounds(segments: &[Segment], scratch: &Path, per_sync: u64, rounds: usize) -> io::Result<Limit> {
    let mut all = Vec::new();
    for _ in 0..rounds.max(1) {
        all.push(measure(segments, scratch, per_sync)?);
    }
    let rates: Vec<(f64, f64)> = all.iter().map(|l| (l.append.records_per_s, l.read.records_per_s)).collect();
    let median = |key: fn(&Limit) -> f64| -> usize {
        let mut idx: Vec<usize> = (0..all.len()).collect();
        idx.sort_by(|&a, &b| key(&all[a]).total_cmp(&key(&all[b])));
        idx[idx.len() / 2]
    };
    let (a, r) = (median(|l| l.append.records_per_s), median(|l| l.read.records_per_s));
    Ok(Limit {
        records_per_sync: per_sync.max(1),
        append: all[a].append.clone(),
        read: all[r].read.clone(),
        rounds: rates,
    })
}

/// Appends `segments` into new files under `scratch` (one per segment, as the log rolls), a group
/// of `per_sync` records per `pwrite` followed by one `fdatasync`; then reads every file back and
/// checks each record's crc32. The files are removed before returning.
pub fn measure(segments: &[Segment], scratch: &Path, per_sync: u64) -> io::Result<Limit> {
    let per_sync = per_sync.max(1) as usize;
    let dir = scratch.join(format!("limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure_in(segments, &dir, per_sync);
    let removed = std::fs::remove_dir_all(&dir);
    let limit = result?;
    removed?;
    Ok(limit)
}

fn measure_in(segments: &[Segment], dir: &Path, per_sync: usize) -> io::Result<Limit> {
    let path = |i: usize| dir.join(format!("{:08}.seg", i + 1));
    let (mut records, mut bytes, mut fsyncs) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for (i, seg) in segments.iter().enumerate() {
        let file = File::options().create_new(true).write(true).open(path(i))?;
        // The header is made durable with the segment's creation, as the log does.
        file.write_all_at(&seg.bytes[..HEADER_LEN.min(seg.bytes.len())], 0)?;
        file.sync_all()?;
        let mut at = HEADER_LEN;
        for group in seg.ends.chunks(per_sync) {
            let Some(&end) = group.last() else { continue };
            file.write_all_at(&seg.bytes[at..end], at as u64)?;
            file.sync_data()?;
            fsyncs += 1;
            records += group.len() as u64;
            at = end;
        }
        bytes += at as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let append = AppendLimit {
        records,
        bytes,
        fsyncs,
        seconds: round3(seconds),
        records_per_s: (records as f64 / seconds.max(1e-9)).round(),
        mib_per_s: round3(bytes as f64 / 1048576.0 / seconds.max(1e-9)),
    };

    let (mut checked, mut read_bytes) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..segments.len() {
        let buf = std::fs::read(path(i))?;
        let mut at = HEADER_LEN;
        while at + FRAME_LEN <= buf.len() {
            let len = u32::from_le_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]]) as usize;
            let end = at + FRAME_LEN + len;
            let stored = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            let Some(body) = buf.get(at + 4..end) else { break };
            if crc32fast::hash(body) != stored {
                return Err(io::Error::other(format!("record at offset {at} of {} does not check", path(i).display())));
            }
            checked += 1;
            at = end;
        }
        read_bytes += buf.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let read = ReadLimit {
        records: checked,
        bytes: read_bytes,
        seconds: round3(seconds),
        records_per_s: (checked as f64 / seconds.max(1e-9)).round(),
        mib_per_s: round3(read_bytes as f64 / 1048576.0 / seconds.max(1e-9)),
    };
    if checked != records {
        return Err(io::Error::other(format!("wrote {records} records but read back {checked}")));
    }
    Ok(Limit { records_per_sync: per_sync as u64, append, read, rounds: Vec::new() })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use mltrace_store::{FsyncPolicy, LogOptions, Store};

    #[test]
    fn the_limit_writes_and_checks_every_record_of_a_real_log() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (store, mut pipeline) = {
            let opts = LogOptions { fsync: FsyncPolicy::Never, ..LogOptions::default() };
            let (store, _) = Store::open(&data, opts).unwrap();
            (store, crate::workload::Pipeline::new("p", crate::workload::Shape::default(), 1))
        };
        let mut runs = Vec::new();
        while runs.len() < 2500 {
            if let crate::workload::Step::Run(r) = pipeline.next_step() {
                runs.push(r.to_new_run());
            }
        }
        for chunk in runs.chunks(1000) {
            store.log_runs(chunk).unwrap();
        }
        let events = store.last_seq();
        let (log_bytes, _) = store.log_size();
        drop(store);

        let segments = read_log(&data).unwrap();
        let found: usize = segments.iter().map(|s| s.ends.len()).sum();
        assert_eq!(found as u64, events, "every event of the log is one record");
        let limit = measure_rounds(&segments, dir.path(), 1000, 3).unwrap();
        assert_eq!(limit.rounds.len(), 3);
        assert_eq!(limit.append.records, events);
        assert_eq!(limit.read.records, events, "every record read back and checked");
        assert_eq!(limit.append.bytes, log_bytes, "the same bytes as the log");
        assert_eq!(limit.append.fsyncs, events.div_ceil(1000), "one fdatasync per 1,000 records");
        assert!(limit.append.records_per_s > 0.0 && limit.read.records_per_s > 0.0);
        assert!(!dir.path().join(format!("limit-{}", std::process::id())).exists(), "scratch files removed");
    }

    #[test]
    fn a_damaged_record_is_reported_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (store, _) = Store::open(&data, LogOptions { fsync: FsyncPolicy::Never, ..LogOptions::default() }).unwrap();
        store.flag(&[], None, None).ok();
        let mut p = crate::workload::Pipeline::new("p", crate::workload::Shape::default(), 1);
        let mut runs = Vec::new();
        while runs.len() < 10 {
            if let crate::workload::Step::Run(r) = p.next_step() {
                runs.push(r.to_new_run());
            }
        }
        store.log_runs(&runs).unwrap();
        drop(store);
        let mut segments = read_log(&data).unwrap();
        let last = segments[0].ends[segments[0].ends.len() - 1];
        segments[0].bytes[last - 1] ^= 0xff;
        assert!(record_ends(&segments[0].bytes).is_err(), "a bad checksum is an error");
    }
}
