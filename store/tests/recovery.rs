//! Recovery paths beside crashes (see crash.rs): checkpoints are a cache, so an open from one answers
//! exactly what a full replay answers,
//! and a bad or foreign checkpoint falls back to the full replay; a failed fsync is final.

use mltrace_store::{LogOptions, NewRun, Store, Timestamp};
use serde_json::{Value, json};
use std::path::Path;

fn opts() -> LogOptions {
    LogOptions { segment_bytes: 4096, ..LogOptions::default() }
}

fn log_some(store: &Store, from: i64, n: i64) {
    for i in from..from + n {
        let t = Timestamp(1_700_000_000_000 + i * 1000);
        let mut r = NewRun::new(&format!("c{}", i % 3), t, t).outputs([format!("out-{i}").as_str()]);
        if i > 0 {
            r = r.inputs([format!("out-{}", i - 1).as_str()]);
        }
        store.log_run(&r).expect("log");
    }
    store.flag(&[format!("out-{}", from + n - 1)], Some("bad"), None).expect("flag");
}

fn answers(store: &Store) -> Value {
    let r = store.reader(None);
    let last = format!("out-{}", r.stats().runs - 1);
    let mut stats = serde_json::to_value(r.stats()).expect("json");
    stats["log_bytes"] = json!(0);
    json!({
        "stats": stats,
        "recent": r.recent(50, None).expect("recent"),
        "trace": r.trace(&last, None, 10_000).expect("trace"),
        "review": r.review(100).expect("review"),
        "as_of": store.reader(Some(mltrace_store::AsOf::Seq(7))).recent(5, None).expect("recent"),
        "components": r.components(None, None),
        // The audit tree, rebuilt from a checkpoint or from the log, has the same root.
        "root": store.signed_head(None).expect("head").root,
    })
}

fn reopen(dir: &Path) -> Value {
    let (store, _) = Store::open(dir, opts()).expect("open");
    answers(&store)
}

#[test]
fn an_open_from_a_checkpoint_answers_as_a_full_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = {
        let (store, _) = Store::open(dir.path(), opts()).expect("open");
        log_some(&store, 0, 60);
        // 61 events, then the signed tree head the checkpoint writes first.
        assert_eq!(store.checkpoint().expect("checkpoint"), 62);
        log_some(&store, 60, 40);
        answers(&store)
    };
    assert!(mltrace_store::checkpoint::path(dir.path()).exists());
    assert_eq!(reopen(dir.path()), expected, "checkpoint + tail");
    std::fs::remove_file(mltrace_store::checkpoint::path(dir.path())).expect("rm");
    assert_eq!(reopen(dir.path()), expected, "full replay");
    // And a store opened from a checkpoint goes on appending correctly.
    let (store, _) = Store::open(dir.path(), opts()).expect("open");
    store.checkpoint().expect("checkpoint");
    drop(store);
    let (store, _) = Store::open(dir.path(), opts()).expect("open");
    log_some(&store, 100, 5);
    let after = answers(&store);
    drop(store);
    std::fs::remove_file(mltrace_store::checkpoint::path(dir.path())).expect("rm");
    assert_eq!(reopen(dir.path()), after);
}

#[test]
fn a_damaged_or_foreign_checkpoint_falls_back_to_a_full_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    let expected = {
        let (store, _) = Store::open(dir.path(), opts()).expect("open");
        log_some(&store, 0, 30);
        store.checkpoint().expect("checkpoint");
        answers(&store)
    };
    let cp = mltrace_store::checkpoint::path(dir.path());
    let good = std::fs::read(&cp).expect("read");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&cp, &flipped).expect("write");
    assert_eq!(reopen(dir.path()), expected, "bit flip");
    std::fs::write(&cp, &good[..good.len() / 3]).expect("write");
    assert_eq!(reopen(dir.path()), expected, "cut short");
    {
        // A checkpoint of a longer, different history: its last event is not in this log.
        let (store, _) = Store::open(other.path(), opts()).expect("open");
        log_some(&store, 0, 80);
        store.checkpoint().expect("checkpoint");
    }
    std::fs::copy(mltrace_store::checkpoint::path(other.path()), &cp).expect("copy");
    assert_eq!(reopen(dir.path()), expected, "foreign checkpoint");
}

/// After a failed fsync the kernel may have dropped the dirty pages: the store must not retry and
/// pretend. The write that saw it fails, every later write fails with the reason, reads go on
/// (without the unacknowledged run), and a reopen finds everything acknowledged before.
#[test]
fn a_failed_fsync_stops_writes_for_good_and_reads_go_on() {
    use mltrace_store::storage::sim::{OpKind, SimStorage};
    let disk = SimStorage::new();
    let dir = std::path::Path::new("/data");
    let t = Timestamp(1_700_000_000_000);
    {
        let (store, _) = Store::open_on(std::sync::Arc::new(disk.clone()), dir, LogOptions::default()).expect("open");
        store.log_run(&NewRun::new("a", t, t).outputs(["x"])).expect("log");
        disk.fail_every(OpKind::Sync);
        let failed = store.log_run(&NewRun::new("b", t, t).inputs(["x"]).outputs(["y"]));
        assert!(
            matches!(failed, Err(mltrace_store::StoreError::Unavailable(ref why)) if why.contains("fsync")),
            "{failed:?}"
        );
        let again = store.flag(&["x".to_string()], None, None);
        assert!(matches!(again, Err(mltrace_store::StoreError::Unavailable(_))), "{again:?}");
        assert!(store.failure().is_some_and(|why| why.contains("injected failure")));
        let r = store.reader(None);
        assert_eq!(r.stats().runs, 1, "the unacknowledged run is not visible");
        assert_eq!(r.trace("x", None, 10).expect("trace").root, Some(1));
    }
    // A restart on the same disk (what was written stays; the broken fsync is gone).
    let disk = disk.power_cut(0, true);
    let (store, _) = Store::open_on(std::sync::Arc::new(disk), dir, LogOptions::default()).expect("reopen");
    assert!(store.failure().is_none(), "a restart starts afresh");
    assert!(store.reader(None).run(1).is_ok());
}

/// A log written by format version 1 (`tests/fixtures/format-v1`, made with `mltrace import`,
/// `tag`, `flag` and `notes`) must open and answer the same in every later build.
#[test]
fn a_log_written_by_format_version_1_still_opens_and_answers() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("log")).expect("mkdir");
    std::fs::copy(fixture.join("log/00000001.seg"), dir.path().join("log/00000001.seg")).expect("copy");
    let (store, recovery) = Store::open(dir.path(), LogOptions::default()).expect("open");
    assert!(recovery.torn_tail.is_none());
    let r = store.reader(None);
    assert_eq!(r.stats().events, 6);
    let trace = r.trace("pred_1", None, 100).expect("trace");
    assert_eq!(trace.nodes.iter().map(|n| n.run.id).collect::<Vec<_>>(), vec![3, 1, 2]);
    assert_eq!(trace.edges[0].via, None, "run 3 names ingest as an explicit upstream");
    let train = r.run(2).expect("run 2");
    assert_eq!((train.notes.as_str(), train.inputs[0].producer), ("retrained", Some(1)));
    assert_eq!(train.tests[0].name, "T.test_ok");
    assert_eq!(r.run(1).expect("run 1").code_snapshot.as_deref(), Some("def ingest(): ..."));
    assert_eq!(r.flags()[0].reason.as_deref(), Some("wrong"));
    assert_eq!(r.component("ingest").expect("ingest").component.tags, vec!["etl".to_string()]);
    let t = Timestamp::parse("2026-01-02T00:00:00Z").expect("time");
    let logged = store.log_run(&NewRun::new("infer", t, t).inputs(["model.pkl"])).expect("append after an old log");
    assert_eq!((logged.id, logged.dependencies.as_slice()), (4, &[2][..]));
}

#[test]
fn audit_proofs_read_blocks_across_segments_and_every_open_keeps_the_root() {
    use mltrace_store::audit::{leaf_hash, verify_consistency, verify_inclusion};
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments, so that 32-event blocks of the tree span segment files.
    let small = LogOptions { segment_bytes: 1024, ..opts() };
    let (store, _) = Store::open(dir.path(), small.clone()).expect("open");
    log_some(&store, 0, 100);
    let last = store.last_seq();
    let head = store.signed_head(None).expect("head");
    assert_eq!(head.size, last);
    assert!(store.log_size().1 > 4, "the log spans several segments");
    for seq in 1..=last {
        let p = store.inclusion_proof(seq, None).expect("proof");
        assert!(verify_inclusion(seq - 1, p.size, &leaf_hash(&p.event), &p.path, &head.root), "seq {seq}");
    }
    for from in [0, 1, 31, 32, 33, 64, 96, last - 1, last] {
        let c = store.consistency_proof(from, None).expect("consistency");
        let old = store.signed_head(Some(mltrace_store::AsOf::Seq(from))).expect("old head");
        assert_eq!(c.from_root, old.root);
        assert!(verify_consistency(from, last, &old.root, &head.root, &c.path), "{from} -> {last}");
    }
    let at = |store: &Store| store.signed_head(Some(mltrace_store::AsOf::Seq(last))).expect("head").root;
    store.checkpoint().expect("checkpoint");
    drop(store);
    let (store, _) = Store::open(dir.path(), small.clone()).expect("open from the checkpoint");
    assert_eq!(at(&store), head.root, "from a checkpoint");
    drop(store);
    std::fs::remove_file(mltrace_store::checkpoint::path(dir.path())).expect("rm");
    let store = Store::open_read_only_from_log(dir.path()).expect("open from the log");
    assert_eq!(at(&store), head.root, "from the log alone");
    let report = mltrace_store::audit::verify_dir(dir.path(), None, |_, _| {}).expect("verify");
    assert_eq!((report.heads, report.log.last_seq), (1, last + 1), "the checkpoint's head, and it matches");
}

/// A segment of more than a megabyte is decoded on a second thread while the events are applied:
/// it must answer as the records say, and damage or a torn tail in it must be found as in a short
/// one (the tests above use 4 KiB segments, which are decoded in place).
#[test]
fn a_long_segment_decoded_on_a_second_thread_opens_and_reports_damage_as_a_short_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let big = LogOptions { fsync: mltrace_store::FsyncPolicy::Never, ..LogOptions::default() };
    let (store, _) = Store::open(&data, big.clone()).expect("open");
    let t = Timestamp(1_700_000_000_000);
    for b in 0..12 {
        let runs: Vec<NewRun> = (0..1000)
            .map(|i| {
                let n = b * 1000 + i;
                let mut r = NewRun::new(&format!("c{}", n % 3), t, t).outputs([format!("out-{n}").as_str()]);
                if n > 0 {
                    r = r.inputs([format!("out-{}", n - 1).as_str()]);
                }
                r
            })
            .collect();
        store.log_runs(&runs).expect("log");
    }
    store.flag(&["out-11999".to_string()], Some("bad"), None).expect("flag");
    let expected = answers(&store);
    drop(store);
    let segment = data.join("log").join("00000001.seg");
    let bytes = std::fs::read(&segment).expect("segment");
    assert!(bytes.len() > 2 << 20, "the segment is long enough to be decoded on a second thread");

    let (store, recovery) = Store::open(&data, big.clone()).expect("reopen");
    assert!(recovery.torn_tail.is_none());
    assert_eq!(answers(&store), expected, "a replay through the decoding thread answers the same");
    drop(store);

    // A flipped byte in the middle of the segment is damage, reported at its record.
    let mut damaged = bytes.clone();
    let middle = bytes.len() / 2;
    damaged[middle] ^= 0x5a;
    std::fs::write(&segment, &damaged).expect("write");
    match Store::open(&data, big.clone()) {
        Err(mltrace_store::StoreError::Corrupt { offset, .. }) => {
            assert!(
                offset as usize <= middle && middle - (offset as usize) < 2048,
                "damage at {middle}, reported at {offset}"
            )
        }
        Err(e) => panic!("expected a corrupt record, got {e}"),
        Ok(_) => panic!("a damaged record in the middle of a long segment was not found"),
    }

    // A tail cut inside the last record (the flag's): its batch is dropped whole, and reported.
    std::fs::write(&segment, &bytes[..bytes.len() - 10]).expect("write");
    let (store, recovery) = Store::open(&data, big).expect("open with a torn tail");
    let torn = recovery.torn_tail.expect("the torn tail is reported");
    assert!(torn.bytes_dropped > 10, "the whole last record went: {} bytes", torn.bytes_dropped);
    assert_eq!(store.reader(None).stats().runs, 12_000, "every batch of runs remains");
    assert_eq!(store.reader(None).flags().len(), 0, "the flag, the last batch, was cut off");
}

/// Every answer a store gives about a log whose names are not known in advance: each run, each
/// name's producers and consumers, a trace and a downstream walk, review, recent, components.
fn answers_about_everything(store: &Store) -> Value {
    let r = store.reader(None);
    let runs = r.stats().runs;
    let details: Vec<_> = (1..=runs as mltrace_store::RunId).map(|id| r.run(id).expect("run")).collect();
    let mut names: Vec<String> = details
        .iter()
        .flat_map(|d| d.inputs.iter().map(|i| i.name.clone()).chain(d.outputs.iter().map(|o| o.name.clone())))
        .collect();
    names.sort();
    names.dedup();
    let io: Vec<_> = names.iter().map(|n| r.io(n).expect("io")).collect();
    let last = details.last().and_then(|d| d.outputs.first()).expect("an output").name.clone();
    let first = details.first().and_then(|d| d.outputs.first()).expect("an output").name.clone();
    json!({
        "stats": serde_json::to_value(r.stats()).expect("json"),
        "runs": details,
        "io": io,
        "trace": r.trace(&last, None, 10_000).expect("trace"),
        "downstream": r.downstream(&first, None, 10_000).expect("downstream"),
        "review": r.review(100).expect("review"),
        "recent": r.recent(50, None).expect("recent"),
        "components": r.components(None, None),
    })
}

/// A checkpoint of the state's previous layout (`tests/fixtures/checkpoint-v5`: the benchmark
/// workload's first 150 runs, written by `loadgen open --checkpoint` of the build before producer
/// and consumer lists became 4-byte handles) is ignored, never misread: the open replays the whole
/// log, answers as an open without the checkpoint does, and the next checkpoint is of this layout.
#[test]
fn a_checkpoint_of_an_earlier_layout_is_ignored_and_the_whole_log_replayed() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint-v5");
    let saved = std::fs::read(fixture.join("checkpoint")).expect("read");
    assert_eq!(u16::from_le_bytes([saved[8], saved[9]]), 5);
    assert_ne!(mltrace_store::checkpoint::VERSION, 5, "the fixture is of an earlier version");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("log")).expect("mkdir");
    std::fs::copy(fixture.join("log/00000001.seg"), dir.path().join("log/00000001.seg")).expect("copy");
    let expected = {
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open without a checkpoint");
        answers_about_everything(&store)
    };
    assert_eq!(expected["stats"]["runs"], 150);
    std::fs::write(mltrace_store::checkpoint::path(dir.path()), &saved).expect("write");
    let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open beside the old checkpoint");
    assert_eq!(store.events_since_checkpoint(), store.last_seq(), "nothing came from the old checkpoint");
    assert_eq!(answers_about_everything(&store), expected);
    store.checkpoint().expect("checkpoint");
    drop(store);
    let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open from the new checkpoint");
    assert_eq!(store.events_since_checkpoint(), 0, "the new checkpoint was used");
    let mut again = answers_about_everything(&store);
    // The new checkpoint wrote a signed tree head first: one more event.
    again["stats"]["events"] = expected["stats"]["events"].clone();
    again["stats"]["log_bytes"] = expected["stats"]["log_bytes"].clone();
    assert_eq!(again, expected);
}

/// A binary that chose its allocator registers how to hand freed pages back (`mltrace` and
/// `loadgen` do, for jemalloc): every open calls it once, at its end, by replay or from a checkpoint.
#[test]
fn every_open_ends_with_the_release_its_binary_registered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn release() {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }
    assert!(mltrace_store::memory::release_after_open(release));
    assert!(!mltrace_store::memory::release_after_open(release), "it is set once");
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = Store::open(dir.path(), opts()).expect("open");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1, "an open of an empty directory");
        log_some(&store, 0, 20);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1, "writes do not call it");
        store.checkpoint().expect("checkpoint");
    }
    let (store, _) = Store::open(dir.path(), opts()).expect("open from the checkpoint");
    assert_eq!((CALLS.load(Ordering::SeqCst), store.events_since_checkpoint()), (2, 0));
    drop(store);
    std::fs::remove_file(mltrace_store::checkpoint::path(dir.path())).expect("rm");
    Store::open(dir.path(), opts()).expect("open by replay");
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
}
