//! Regression tests for findings 3, 6 and 7 of the hostile review (issue 17), each named after its
//! finding, on real files: damage that a checkpoint used to hide, a record copied over the next
//! one, and a log that lost its newest segment.

use mltrace_store::codec::{self, HEADER_LEN};
use mltrace_store::{LogOptions, NewRun, Store, StoreError, Timestamp, verify};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

fn opts() -> LogOptions {
    LogOptions { segment_bytes: 4096, ..LogOptions::default() }
}

/// Logs `n` single-run batches whose records all have the same length.
fn log_runs(store: &Store, n: usize) {
    let t = Timestamp(1_700_000_000_000);
    for i in 0..n {
        store.log_run(&NewRun::new("train", t, t).outputs([format!("model-{i:05}").as_str()])).expect("log");
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    all.sort();
    all
}

/// The offset and length of every record of a segment, with the seq it holds.
fn records(path: &Path) -> Vec<(u64, usize, u64)> {
    let buf = std::fs::read(path).expect("read segment");
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while let Ok(f) = codec::read_frame(&buf, at) {
        let e = codec::decode_event(f.payload).expect("decodes");
        out.push((at as u64, f.next - at, e.seq));
        at = f.next;
    }
    out
}

/// A data directory with several segments and a checkpoint covering all but the last few events.
fn checkpointed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path(), opts()).expect("open");
    log_runs(&store, 120);
    store.checkpoint().expect("checkpoint");
    log_runs(&store, 5);
    drop(store);
    assert!(segments(dir.path()).len() >= 3, "the test needs sealed segments");
    dir
}

fn is_corrupt<T>(r: &mltrace_store::Result<T>) -> bool {
    matches!(r, Err(StoreError::Corrupt { .. }))
}

#[test]
fn finding_3_a_checkpoint_does_not_hide_a_flipped_bit_in_a_covered_segment() {
    let dir = checkpointed();
    let first = &segments(dir.path())[0];
    let (at, len, _) = records(first)[3];
    let f = std::fs::OpenOptions::new().read(true).write(true).open(first).expect("open");
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, at + len as u64 - 2).expect("read");
    f.write_all_at(&[byte[0] ^ 0x10], at + len as u64 - 2).expect("flip");
    let opened = Store::open(dir.path(), opts());
    assert!(is_corrupt(&opened), "the open must refuse damage the checkpoint covers: {:?}", opened.err());
    assert!(verify(dir.path(), |_, _| {}).is_err());
}

#[test]
fn finding_3_a_checkpoint_does_not_hide_a_truncated_sealed_segment_nor_lets_writes_follow_a_gap() {
    let dir = checkpointed();
    let first = segments(dir.path())[0].clone();
    let f = std::fs::OpenOptions::new().write(true).open(&first).expect("open");
    f.set_len(0).expect("truncate");
    drop(f);
    let opened = Store::open(dir.path(), opts());
    assert!(is_corrupt(&opened), "a zero-length covered segment must stop the open: {:?}", opened.err());
    // Nothing was written on top of the gap.
    assert_eq!(std::fs::metadata(&first).expect("stat").len(), 0);
}

#[test]
fn finding_3_a_checkpoint_whose_covered_segment_changed_falls_back_to_a_replay_that_opens_when_the_log_is_sound() {
    // The same log rewritten by another history of the same shape: the checkpoint's sums no longer
    // match, the open replays the log (and answers from it) instead of trusting the checkpoint.
    let dir = checkpointed();
    let other = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = Store::open(other.path(), opts()).expect("open");
        log_runs(&store, 125);
    }
    std::fs::remove_dir_all(dir.path().join("log")).expect("rm");
    std::fs::rename(other.path().join("log"), dir.path().join("log")).expect("mv");
    let (store, _) = Store::open(dir.path(), opts()).expect("a sound log of another history opens by replay");
    assert_eq!(store.last_seq(), 125);
}

#[test]
fn finding_6_a_read_checks_that_the_record_is_the_event_it_expects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path(), opts()).expect("open");
    log_runs(&store, 10);
    let seg = &segments(dir.path())[0];
    let recs = records(seg);
    let (from, len, _) = recs[4];
    let (to, len_to, seq_to) = recs[5];
    assert_eq!(len, len_to, "equal-length records");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(seg).expect("open");
    let mut copy = vec![0u8; len];
    f.read_exact_at(&mut copy, from).expect("read");
    f.write_all_at(&copy, to).expect("copy the record over the next one");
    let read = store.reader(None).run(seq_to as u32);
    assert!(is_corrupt(&read), "run {seq_to} must not answer run {}'s content: {read:?}", seq_to - 1);
    let events = store.events_after(0, 100);
    assert!(is_corrupt(&events), "the event stream must not repeat an event: {:?}", events.map(|e| e.len()));
}

#[test]
fn finding_7_losing_the_only_segment_is_noticed_without_a_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = Store::open(dir.path(), opts()).expect("open");
        log_runs(&store, 3);
    }
    let seg = segments(dir.path())[0].clone();
    std::fs::write(&seg, b"MLTR").expect("cut below the header");
    let opened = Store::open(dir.path(), opts());
    assert!(is_corrupt(&opened), "the open must not start an empty log: {:?}", opened.err());
    assert_eq!(std::fs::read(&seg).expect("read"), b"MLTR", "left as found");
    assert!(verify(dir.path(), |_, _| {}).is_err());
}

/// Puts the newest segment back as it was: the directory opens and verifies with every event again.
fn put_back_and_check(dir: &std::path::Path, last: &std::path::Path, saved: &[u8], expected: u64) {
    std::fs::write(last, saved).expect("restore");
    let (store, _) = Store::open(dir, opts()).expect("open");
    assert_eq!(store.last_seq(), expected);
    drop(store);
    assert_eq!(verify(dir, |_, _| {}).expect("verifies").last_seq, expected);
}

#[test]
fn finding_7_losing_the_newest_segment_is_noticed_on_open_and_by_verify() {
    let dir = checkpointed();
    let segs = segments(dir.path());
    let last = segs.last().expect("segments").clone();
    // Make the checkpoint cover the newest segment too. (A checkpoint first appends a signed tree
    // head, so the history ends a little after the 125 runs.)
    let expected = {
        let (store, _) = Store::open(dir.path(), opts()).expect("open");
        store.checkpoint().expect("checkpoint");
        store.last_seq()
    };
    let saved = std::fs::read(&last).expect("read");
    std::fs::remove_file(&last).expect("delete the newest segment");
    let opened = Store::open(dir.path(), opts());
    let Err(StoreError::Corrupt { reason, .. }) = &opened else {
        panic!("a lost segment must stop the open: {:?}", opened.as_ref().err())
    };
    assert!(reason.contains("checkpoint holds events up to seq"), "{reason}");
    assert!(!last.exists(), "nothing was written in place of the lost segment");
    assert!(verify(dir.path(), |_, _| {}).is_err(), "verify notices it too");

    // Truncated below its header: the same.
    std::fs::write(&last, &saved[..HEADER_LEN - 5]).expect("truncate");
    let opened = Store::open(dir.path(), opts());
    assert!(is_corrupt(&opened), "a segment cut below its header must stop the open: {:?}", opened.err());
    assert_eq!(std::fs::metadata(&last).expect("stat").len(), (HEADER_LEN - 5) as u64, "left as found");
    assert!(verify(dir.path(), |_, _| {}).is_err(), "verify notices it too");

    put_back_and_check(dir.path(), &last, &saved, expected);

    // Without the checkpoint, `log/newest` still knows which segment was written last.
    std::fs::remove_file(mltrace_store::checkpoint::path(dir.path())).expect("rm checkpoint");
    std::fs::remove_file(&last).expect("delete the newest segment");
    let opened = Store::open(dir.path(), opts());
    let Err(StoreError::Corrupt { reason, .. }) = &opened else {
        panic!("a lost segment must stop the open: {:?}", opened.as_ref().err())
    };
    assert!(reason.contains("missing"), "{reason}");
    assert!(verify(dir.path(), |_, _| {}).is_err(), "verify notices it too");
    std::fs::write(&last, &saved[..HEADER_LEN - 1]).expect("truncate");
    assert!(is_corrupt(&Store::open(dir.path(), opts())), "cut below its header, without a checkpoint");
    assert!(verify(dir.path(), |_, _| {}).is_err(), "verify notices it too");

    put_back_and_check(dir.path(), &last, &saved, expected);
}
