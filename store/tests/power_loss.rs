//! Simulated power loss and failing disks, at every point of a realistic workload.
//!
//! The workload (runs logged in batches, notes, flags, a checkpoint, segment rolls with a tiny
//! segment size) runs on the simulated disk of `storage::sim`, which keeps what was written apart
//! from what was made durable. For every mutating operation `n` of the workload:
//!
//! - **power cut before `n`**: the disk keeps only durable bytes and directory entries, plus any
//!   prefix of the write that was in flight (torn at every byte).
//!   The reopened store must open, hold every acknowledged event, hold nothing but a prefix of the
//!   events the workload would have written, and report exactly the bytes it cut.
//! - **operation `n` fails** (a write or an fsync, as a full or broken disk would; a failed write
//!   either writes nothing or half its bytes): the workload goes
//!   on; once the store says it failed, every later write is refused; after a power cut the reopened
//!   store holds every acknowledged event.
//!
//! `MLTRACE_LONG_TESTS=1` runs a longer workload (40 batches instead of 16).

use mltrace_store::codec::HEADER_LEN;
use mltrace_store::storage::Storage;
use mltrace_store::storage::sim::{OpKind, SimStorage};
use mltrace_store::{Event, EventKind, FsyncPolicy, LogOptions, NewRun, Seq, Store, TestResult, Timestamp};
use std::path::Path;
use std::sync::Arc;

const DIR: &str = "/data";

fn long() -> bool {
    std::env::var("MLTRACE_LONG_TESTS").is_ok_and(|v| v == "1")
}

fn opts() -> LogOptions {
    LogOptions { segment_bytes: 1024, fsync: FsyncPolicy::Always, ..LogOptions::default() }
}

fn open(disk: &SimStorage) -> mltrace_store::Result<(Store, mltrace_store::Recovery)> {
    Store::open_on(Arc::new(disk.clone()), Path::new(DIR), opts())
}

/// What one run of the workload saw.
#[derive(Default)]
struct Outcome {
    /// The last seq acknowledged to a caller.
    acked: Seq,
    /// Whether a write succeeded after the store had said that it refuses writes.
    wrote_after_failure: bool,
    /// Whether the store ever said it refuses writes.
    failed: bool,
}

/// Runs the workload; with `stop_at_error` it stops at the first failed step (the machine died),
/// else it goes on (a disk that failed once).
fn workload(store: &Store, stop_at_error: bool) -> Outcome {
    let batches = if long() { 40 } else { 16 };
    let t = Timestamp(1_700_000_000_000);
    let mut out = Outcome::default();
    let step = |out: &mut Outcome, result: mltrace_store::Result<()>| -> bool {
        let failed_before = out.failed;
        match result {
            Ok(()) => {
                out.acked = store.last_seq();
                if failed_before {
                    out.wrote_after_failure = true;
                }
            }
            Err(_) => {
                if store.failure().is_some() {
                    out.failed = true;
                }
                if stop_at_error {
                    return false;
                }
            }
        }
        true
    };
    let tags = vec!["etl".to_string()];
    if !step(&mut out, store.register_component("c0", "first", "ana", &tags).map(drop)) {
        return out;
    }
    for b in 0..batches {
        let runs: Vec<NewRun> = (0..(b % 3) + 1)
            .map(|i| {
                let mut r = NewRun::new(&format!("c{}", b % 4), t, t)
                    .outputs([format!("out-{b}-{i}").as_str()])
                    .inputs([if b == 0 { "raw.csv".to_string() } else { format!("out-{}-0", b - 1) }.as_str()]);
                r.git_tags = vec![format!("v{b}")];
                r.tests =
                    vec![TestResult { name: "t".into(), phase: "after".into(), passed: i % 2 == 0, message: None }];
                r
            })
            .collect();
        if !step(&mut out, store.log_runs(&runs).map(drop)) {
            return out;
        }
        if b % 3 == 1 && !step(&mut out, store.set_notes(1, &format!("note {b}"))) {
            return out;
        }
        if b % 5 == 2 && !step(&mut out, store.flag(&[format!("out-{b}-0")], Some("bad"), None).map(drop)) {
            return out;
        }
        if b % 5 == 4 && !step(&mut out, store.unflag_all().map(drop)) {
            return out;
        }
        if b == batches / 2 && !step(&mut out, store.checkpoint().map(drop)) {
            return out;
        }
    }
    out
}

/// The events a store holds, without their append times (which are the wall clock). A signed tree
/// head's root and signature cover those times too, so of a head only what it covers is compared.
fn events(store: &Store) -> Vec<(Seq, EventKind)> {
    let all: Vec<Event> = store.events_after(0, usize::MAX).expect("events read back");
    all.into_iter()
        .map(|e| {
            let kind = match e.kind {
                EventKind::TreeHead { size, key, .. } => {
                    EventKind::TreeHead { size, root: [0; 32], key, signature: Vec::new() }
                }
                other => other,
            };
            (e.seq, kind)
        })
        .collect()
}

fn log_bytes(disk: &SimStorage) -> (u64, Option<u64>) {
    let log = Path::new(DIR).join("log");
    let mut names: Vec<String> =
        disk.list(&log).unwrap_or_default().into_iter().filter(|n| n.ends_with(".seg")).collect();
    names.sort();
    let sizes: Vec<u64> = names.iter().filter_map(|n| disk.file(&log.join(n))).map(|b| b.len() as u64).collect();
    (sizes.iter().sum(), sizes.last().copied())
}

/// The reference: the whole workload on a disk that never fails.
fn reference() -> (Vec<(Seq, EventKind)>, Vec<OpKind>) {
    let disk = SimStorage::new();
    let (store, _) = open(&disk).expect("open");
    let out = workload(&store, true);
    let all = events(&store);
    assert_eq!(out.acked, all.len() as u64, "the clean workload acknowledges everything");
    drop(store);
    (all, disk.op_kinds())
}

/// Opens what a power cut left and checks it against what was acknowledged and what could exist.
/// `torn` is how many bytes of an interrupted write the cut kept: the longest valid prefix drops at
/// most those (every other byte on the disk belongs to a whole batch).
fn check_after_cut(cut: &SimStorage, acked: Seq, reference: &[(Seq, EventKind)], torn: usize, what: &str) {
    let (before, last_segment) = log_bytes(cut);
    let (store, recovery) = match open(cut) {
        Ok(s) => s,
        Err(e) => panic!("{what}: the open failed: {e}"),
    };
    let got = events(&store);
    assert!(got.len() as u64 >= acked, "{what}: {} events after reopen, {acked} were acknowledged", got.len());
    assert_eq!(got[..], reference[..got.len()], "{what}: the log is not a prefix of the workload's events");
    let (after, _) = store.log_size();
    let dropped = recovery.torn_tail.as_ref().map_or(0, |t| t.bytes_dropped);
    if last_segment.is_some_and(|l| l < HEADER_LEN as u64) {
        // An unfinished roll: the empty segment is started again (nothing in it was acknowledged).
        assert!(after >= before - last_segment.unwrap_or(0), "{what}: more than the empty segment went");
    } else {
        assert_eq!(before - after.min(before), dropped, "{what}: bytes were cut without being reported");
        assert!(dropped <= torn as u64, "{what}: {dropped} bytes cut, but only {torn} were of an unfinished write");
    }
    // The reopened store takes writes, and they survive the next reopen.
    let t = Timestamp(1_700_000_000_000);
    store.log_run(&NewRun::new("after", t, t).outputs(["after.csv"])).expect("a write after recovery");
    let n = store.last_seq();
    drop(store);
    let (store, _) = open(cut).expect("reopen after recovery");
    assert_eq!(store.last_seq(), n, "{what}: the write after recovery is there");
}

#[test]
fn a_power_cut_at_every_operation_keeps_every_acknowledged_event_and_reports_what_it_cut() {
    let started = std::time::Instant::now();
    let (reference, ops) = reference();
    let (mut cuts, mut torn_writes) = (0u64, 0u64);
    for n in 0..=ops.len() as u64 {
        let disk = SimStorage::new();
        disk.power_off_at(n);
        let acked = match open(&disk) {
            Ok((store, _)) => workload(&store, true).acked,
            Err(_) => 0,
        };
        // Process death (every written byte stays) and power loss (only durable bytes stay).
        check_after_cut(&disk.power_cut(0, true), acked, &reference, 0, &format!("process killed before op {n}"));
        check_after_cut(&disk.power_cut(0, false), acked, &reference, 0, &format!("power cut before op {n}"));
        cuts += 2;
        if let Some(len) = disk.in_flight_len() {
            torn_writes += 1;
            for k in 1..=len {
                let what = format!("power cut during op {n} ({:?}), {k} of {len} bytes written", ops[n as usize]);
                check_after_cut(&disk.power_cut(k, false), acked, &reference, k, &what);
                cuts += 1;
            }
        }
    }
    assert!(torn_writes > 10, "the workload tore only {torn_writes} writes");
    eprintln!(
        "{} operations, {cuts} power cuts checked ({torn_writes} torn writes) in {:.1?}",
        ops.len(),
        started.elapsed()
    );
}

#[test]
fn a_failed_write_or_fsync_at_every_operation_loses_nothing_acknowledged_and_a_failed_fsync_stops_writes() {
    let (_, ops) = reference();
    let mut permanent = 0;
    let cases = ops.iter().enumerate().filter(|(_, k)| matches!(k, OpKind::Write | OpKind::Sync));
    // Each failure twice for a write: one that writes nothing, one that writes half its bytes.
    let cases = cases.flat_map(|(n, k)| [(n, k, false), (n, k, *k == OpKind::Write)]);
    for (n, kind, partial) in cases {
        let disk = SimStorage::new();
        disk.fail_op(n as u64);
        if partial {
            disk.partial_writes();
        }
        let Ok((store, _)) = open(&disk) else { continue };
        let out = workload(&store, false);
        let what = format!("op {n} ({kind:?}) failed{}", if partial { " midway" } else { "" });
        assert!(!out.wrote_after_failure, "{what}: a write was accepted after the store said it refuses writes");
        if out.failed {
            permanent += 1;
            let t = Timestamp(1_700_000_000_000);
            assert!(store.log_run(&NewRun::new("late", t, t)).is_err(), "{what}: writes go on after a failed fsync");
        }
        let expected: Vec<(Seq, EventKind)> = events(&store).into_iter().take(out.acked as usize).collect();
        drop(store);
        let cut = disk.power_cut(0, false);
        let (store, _) = open(&cut).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
        let got = events(&store);
        assert!(got.len() >= expected.len(), "{what}: {} events after reopen, {} acknowledged", got.len(), out.acked);
        assert_eq!(got[..expected.len()], expected[..], "{what}: acknowledged events changed");
    }
    assert!(permanent > 5, "only {permanent} failures stopped writes: the fsync failures were not injected");
}

/// Batches of 300 runs: their events are framed and checksummed on the store's encoding thread
/// (in chunks of 128) while the writer is still resolving the batch's later runs. A write that
/// fails there (nothing written, or half of it) must be undone like any other: the runs of the
/// failed batch are not in the state, later batches get the right seqs, and after a power cut the
/// reopened store holds exactly what was acknowledged, in the same order as a clean run.
#[test]
fn a_failed_write_of_a_batch_encoded_on_the_encoding_thread_is_undone() {
    let t = Timestamp(1_700_000_000_000);
    let batch = |b: usize| -> Vec<NewRun> {
        (0..300)
            .map(|i| {
                let input = if i == 0 { format!("seed-{b}") } else { format!("big-{b}-{}", i - 1) };
                NewRun::new("big", t, t).inputs([input.as_str()]).outputs([format!("big-{b}-{i}").as_str()])
            })
            .collect()
    };
    let opts = || LogOptions { segment_bytes: 64 * 1024, fsync: FsyncPolicy::Always, ..LogOptions::default() };
    let open = |disk: &SimStorage| Store::open_on(Arc::new(disk.clone()), Path::new(DIR), opts());
    let clean = SimStorage::new();
    let (store, _) = open(&clean).expect("open");
    for b in 0..4 {
        store.log_runs(&batch(b)).expect("a clean write");
    }
    let reference = events(&store);
    drop(store);
    let ops = clean.op_kinds();
    let mut failed_writes = 0;
    for (n, kind) in ops.iter().enumerate().filter(|(_, k)| **k == OpKind::Write) {
        for partial in [false, true] {
            let disk = SimStorage::new();
            disk.fail_op(n as u64);
            if partial {
                disk.partial_writes();
            }
            let Ok((store, _)) = open(&disk) else { continue };
            let mut acked = Vec::new();
            for b in 0..4 {
                let before = store.last_seq();
                match store.log_runs(&batch(b)) {
                    Ok(logged) => {
                        assert_eq!(logged.len(), 300);
                        assert_eq!(logged[0].seq, before + 1, "op {n}: the batch follows what was acknowledged");
                        acked.push(b);
                    }
                    Err(_) => {
                        failed_writes += 1;
                        assert_eq!(store.last_seq(), before, "op {n} ({kind:?}): a failed batch is not visible");
                        let runs = store.reader(None).stats().runs;
                        assert_eq!(runs as usize, acked.len() * 300, "op {n}: the failed batch left no run");
                    }
                }
            }
            let got = events(&store);
            drop(store);
            let (store, _) = open(&disk.power_cut(0, false)).expect("reopen");
            assert_eq!(events(&store)[..], got[..], "op {n}: the log holds what the store acknowledged");
            if acked.len() == 4 {
                assert_eq!(got, reference, "op {n}: nothing failed, so the log is the clean one");
            }
        }
    }
    assert!(failed_writes >= 4, "only {failed_writes} batch writes failed: the failures were not injected");
}
