//! Durability against real crashes and real damage.
//!
//! - A writer in a child process (this test binary, re-executed with an environment variable that
//!   makes [`crash_writer_child`] write instead of returning) is killed with SIGKILL mid-write, many
//!   times over one data directory: every write it acknowledged is there after reopen, and the log
//!   verifies.
//! - Copies of real segment files are cut (a torn tail: cut off and reported) or have one bit
//!   flipped (in a sealed segment, or in the tail before valid records: the open stops with
//!   `StoreError::Corrupt` naming the file and the damaged record's offset).

mod common;

use common::*;
use mltrace_store::codec::{self, HEADER_LEN};
use mltrace_store::{FsyncPolicy, LogOptions, NewRun, Recovery, Store, StoreError, verify};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Environment variable that turns [`crash_writer_child`] into the writer: the data directory.
const CHILD_DIR: &str = "MLTRACE_CRASH_WRITER_DIR";
/// The fsync policy the child writes with.
const CHILD_FSYNC: &str = "MLTRACE_CRASH_WRITER_FSYNC";
/// The round number, so that every round writes fresh output names.
const CHILD_ROUND: &str = "MLTRACE_CRASH_WRITER_ROUND";
/// Kill rounds; override with MLTRACE_CRASH_ROUNDS.
const DEFAULT_ROUNDS: usize = 24;
/// Small segments, so that the writer rolls often and crashes land around rolls too.
const SEGMENT_BYTES: u64 = 8 * 1024;

fn crash_options(fsync: FsyncPolicy) -> LogOptions {
    LogOptions { fsync, segment_bytes: SEGMENT_BYTES, ..LogOptions::default() }
}

/// A small xorshift generator: enough randomness for kill delays without another dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// One acknowledged write, as the child printed it.
#[derive(Debug)]
enum Ack {
    Run { id: u32, component: String, output: String },
    Event { seq: u64 },
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.split(' ');
    match (words.next(), words.next()) {
        (Some("ACK"), Some("run")) => {
            let id = words.next()?.parse().ok()?;
            let component = words.next()?.to_string();
            let output = words.next()?.to_string();
            Some(Ack::Run { id, component, output })
        }
        (Some("ACK"), Some("event")) => Some(Ack::Event { seq: words.next()?.parse().ok()? }),
        _ => None,
    }
}

/// The writer. Does nothing unless [`CHILD_DIR`] is set, so it passes trivially in a normal run.
/// Writes until it is killed, printing each acknowledged write on its own flushed line.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let fsync =
        std::env::var(CHILD_FSYNC).ok().and_then(|p| FsyncPolicy::parse(&p).ok()).unwrap_or(FsyncPolicy::Always);
    let round = std::env::var(CHILD_ROUND).unwrap_or_default();
    let store = open_with(Path::new(&dir), crash_options(fsync));
    let mut out = std::io::stdout().lock();
    let mut ack = |line: String| {
        // A line is printed only after the write returned: printed means acknowledged.
        writeln!(out, "{line}").and_then(|_| out.flush()).expect("stdout");
    };
    let big_code = "x = 1\n".repeat(11_000);
    let mut previous = String::from("seed.csv");
    for i in 0u64.. {
        if i == 5_000 {
            // Enough for one round: wait for the kill rather than grow the log without bound.
            std::thread::sleep(Duration::from_secs(3_600));
        }
        let component = format!("w{}", i % 5);
        let output = format!("r{round}-o{i}.csv");
        let mut one = run(&component, at(0, i as i64), [previous.as_str()], [output.as_str()]);
        if i % 9 == 4 {
            // Bigger than a segment: a write that spans many pages.
            one.code_snapshot = Some(big_code.clone());
        }
        match i % 6 {
            0 => {
                // A batch of three, acknowledged together.
                let second = format!("{output}.b");
                let third = format!("{output}.c");
                let batch: Vec<NewRun> = vec![
                    one,
                    run("batch", at(0, i as i64), [output.as_str()], [second.as_str()]),
                    run("batch", at(0, i as i64), [second.as_str()], [third.as_str()]),
                ];
                let logged = store.log_runs(&batch).expect("batch");
                for (l, (r, name)) in logged.iter().zip(batch.iter().zip([&output, &second, &third])) {
                    ack(format!("ACK run {} {} {name}", l.id, r.component));
                }
                previous = third;
                continue;
            }
            3 => {
                store.flag(&[previous.clone()], Some("crash test"), None).expect("flag");
                ack(format!("ACK event {}", store.last_seq()));
            }
            5 => {
                store.set_notes(1, &format!("note {i}")).expect("notes");
                ack(format!("ACK event {}", store.last_seq()));
            }
            _ => {}
        }
        let logged = store.log_run(&one).expect("run");
        ack(format!("ACK run {} {component} {output}", logged.id));
        previous = output;
    }
}

/// Starts the writer on `dir`, lets it write for a random while, kills it with SIGKILL; answers
/// every line it printed.
fn write_and_kill(exe: &Path, dir: &Path, fsync: &str, round: usize, rng: &mut Rng) -> Vec<String> {
    let spawn = || {
        Command::new(exe)
            .args(["crash_writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_FSYNC, fsync)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
    };
    // The target directory is shared: a concurrent `cargo test` may be relinking this very binary
    // (exec then fails with ETXTBSY for a moment). That is no failure of the store: try again.
    let mut attempts = 0;
    let mut child = loop {
        match spawn() {
            Ok(child) => break child,
            Err(e) if attempts < 20 && e.raw_os_error() == Some(26) => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("cannot start the writer {}: {e}", exe.display()),
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for the first acknowledgement, so that every kill lands while writes are going on.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l: &String| l.starts_with("ACK")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the writer acknowledged nothing within 30 s: {lines:?}");
            }
        }
    }
    // Two processes never write the same directory; a reader beside the writer is welcome and
    // sees at least everything acknowledged before it opened. (In the first rounds only: the
    // writer keeps writing meanwhile, and a big log would make the round long.)
    if round < 3 {
        beside_a_live_writer(dir, child.id(), &lines);
    }
    std::thread::sleep(Duration::from_millis(rng.below(60)));
    // std's Child::kill sends SIGKILL on Unix: no destructor, no flush, no fsync runs.
    child.kill().expect("kill the writer");
    let status = child.wait().expect("reap the writer");
    assert!(!status.success(), "the writer was killed, not finished");
    reader.join().expect("stdout reader");
    lines.extend(lines_rx.try_iter());
    lines
}

/// While the writer process runs: a second writer is locked out, naming it, and a reader opens
/// beside it and sees every run acknowledged so far.
fn beside_a_live_writer(dir: &Path, writer_pid: u32, lines: &[String]) {
    match Store::open(dir, crash_options(FsyncPolicy::Never)) {
        Err(StoreError::Locked { holder, .. }) => {
            assert!(holder.contains(&writer_pid.to_string()), "the lock names the writer: {holder}")
        }
        Err(other) => panic!("expected Locked beside a live writer, got {other}"),
        Ok(_) => panic!("a second writer opened a directory another process writes"),
    }
    let acked_before: Vec<u32> = lines
        .iter()
        .filter_map(|l| match parse_ack(l) {
            Some(Ack::Run { id, .. }) => Some(id),
            _ => None,
        })
        .collect();
    match Store::open_read_only(dir) {
        Ok(reader) => {
            let r = reader.reader(None);
            for id in acked_before {
                assert!(r.run(id).is_ok(), "a reader beside the writer misses acknowledged run {id}");
            }
        }
        Err(e) => panic!("a read-only open beside a live writer failed: {e}"),
    }
}

/// Everything recovery must guarantee after a crash: every acknowledged write is there, every
/// event reads back, ids and seqs have no gaps, and the log verifies.
fn check_after_crash(dir: &Path, acks: &[Ack]) -> Recovery {
    let (store, recovery) = match Store::open(dir, crash_options(FsyncPolicy::Always)) {
        Ok(opened) => opened,
        Err(e) => panic!("reopen after SIGKILL failed: {e}"),
    };
    let r = store.reader(None);
    let stats = r.stats();
    for ack in acks {
        match ack {
            Ack::Run { id, component, output } => {
                let run = match r.run(*id) {
                    Ok(run) => run,
                    Err(e) => panic!("acknowledged run {id} is lost: {e}"),
                };
                assert_eq!(&run.component, component, "run {id}");
                assert_eq!(run.outputs.first().map(|o| &o.name), Some(output), "run {id}");
            }
            Ack::Event { seq } => {
                assert!(*seq <= stats.last_seq, "acknowledged event {seq} is lost (log ends at {})", stats.last_seq)
            }
        }
    }
    for id in 1..=stats.runs as u32 {
        if let Err(e) = r.run(id) {
            panic!("run {id} of {} does not read back: {e}", stats.runs);
        }
    }
    let events = store.events_after(0, usize::MAX).expect("every event reads back");
    assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1), "seqs have no gaps");
    assert_eq!(events.len() as u64, stats.last_seq);
    drop(store);
    let report = verify(dir, |_, _| {}).expect("the log verifies");
    assert!(report.torn_tail.is_none(), "the writer's open cut the torn tail");
    assert_eq!(report.last_seq, stats.last_seq);
    recovery
}

#[test]
fn sigkill_mid_write_loses_no_acknowledged_write_and_corrupts_nothing() {
    let rounds = std::env::var("MLTRACE_CRASH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_ROUNDS);
    let dir = tempdir();
    let exe = std::env::current_exe().expect("the test binary");
    let mut rng = Rng::seeded();
    let mut all_acks = Vec::new();
    let mut torn = 0;
    for round in 0..rounds {
        // Every policy promises the same against a process crash: the page cache survives it.
        let fsync = ["always", "interval:20", "never"][round % 3];
        let lines = write_and_kill(&exe, dir.path(), fsync, round, &mut rng);
        let acks: Vec<Ack> = lines.iter().filter_map(|l| parse_ack(l)).collect();
        assert!(!acks.is_empty(), "round {round}: nothing acknowledged");
        all_acks.extend(acks);
        // Check everything acknowledged in every round so far, not just this one.
        let recovery = check_after_crash(dir.path(), &all_acks);
        torn += usize::from(recovery.torn_tail.is_some());
    }
    let (store, _) = Store::open(dir.path(), fast()).expect("final open");
    let stats = store.reader(None).stats();
    assert!(stats.segments > 1, "the writers rolled segments");
    eprintln!(
        "{rounds} kills: {} runs, {} events, {} segments, {torn} torn tails cut",
        stats.runs, stats.events, stats.segments
    );
}

// ---------------------------------------------------------------------------------------------
// Damage on copies of real segment files
// ---------------------------------------------------------------------------------------------

/// A closed data directory with several segments, the last one ending in a batch of three runs.
struct Fixture {
    dir: tempfile::TempDir,
    runs: u64,
    /// Where the final batch starts in the last segment.
    last_batch: u64,
}

fn fixture() -> Fixture {
    let dir = tempdir();
    let opts = LogOptions { segment_bytes: 1024, ..fast() };
    let store = open_with(dir.path(), opts);
    for i in 0..24 {
        let input = format!("o{}.csv", i.max(1) - 1);
        let output = format!("o{i}.csv");
        log(&store, &run(&format!("c{}", i % 4), at(0, i), [input.as_str()], [output.as_str()]));
    }
    let before = fs::metadata(last_segment(dir.path())).expect("segment").len();
    let segments_before = store.reader(None).stats().segments;
    store
        .log_runs(&[
            run("final", at(1, 0), ["o23.csv"], ["f1.csv"]),
            run("final", at(1, 1), ["f1.csv"], ["f2.csv"]),
            run("final", at(1, 2), ["f2.csv"], ["f3.csv"]),
        ])
        .expect("final batch");
    let segments = store.reader(None).stats().segments;
    drop(store);
    assert!(segments >= 3, "several segments: {segments}");
    let last_batch = if segments == segments_before { before } else { HEADER_LEN as u64 };
    Fixture { dir, runs: 27, last_batch }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .expect("log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

fn last_segment(dir: &Path) -> PathBuf {
    segments(dir).pop().expect("a segment")
}

/// A copy of a data directory's segment files, to damage.
fn copy_of(from: &Path) -> tempfile::TempDir {
    let to = tempdir();
    fs::create_dir_all(to.path().join("log")).expect("log dir");
    for seg in segments(from) {
        let name = seg.file_name().expect("file name");
        fs::copy(&seg, to.path().join("log").join(name)).expect("copy segment");
    }
    to
}

/// Start offsets of every record of a segment file.
fn record_offsets(path: &Path) -> Vec<usize> {
    let buf = fs::read(path).expect("segment");
    let mut offsets = Vec::new();
    let mut at = HEADER_LEN;
    while at < buf.len() {
        let frame = codec::read_frame(&buf, at).expect("an intact record");
        offsets.push(at);
        at = frame.next;
    }
    offsets
}

fn flip_bit(path: &Path, offset: usize, bit: u8) {
    let mut buf = fs::read(path).expect("segment");
    buf[offset] ^= 1 << bit;
    fs::write(path, buf).expect("write segment");
}

fn expect_corrupt(dir: &Path, file: &Path, offset: usize) {
    let expected_path = dir.join("log").join(file.file_name().expect("name"));
    match Store::open(dir, fast()) {
        Err(StoreError::Corrupt { path, offset: found, reason }) => {
            assert_eq!(path, expected_path, "{reason}");
            assert_eq!(found, offset as u64, "{reason}");
            let shown = StoreError::Corrupt { path, offset: found, reason }.to_string();
            assert!(shown.contains(&expected_path.display().to_string()), "{shown}");
            assert!(shown.contains(&format!("offset {offset}")), "{shown}");
        }
        Err(other) => panic!("expected Corrupt at {offset}, got {other}"),
        Ok(_) => panic!("a flipped bit at {} offset {offset} went unnoticed", file.display()),
    }
    assert!(Store::open_read_only(dir).is_err(), "read-only stops too");
    assert!(verify(dir, |_, _| {}).is_err(), "verify reports it too");
}

#[test]
fn a_torn_tail_is_cut_off_and_reported() {
    let f = fixture();
    let last = last_segment(f.dir.path());
    let len = fs::metadata(&last).expect("segment").len();
    // Every cut inside the final batch (three records) drops the whole batch, nothing before it.
    for cut in (f.last_batch + 1..len).step_by(3) {
        let copy = copy_of(f.dir.path());
        let seg = last_segment(copy.path());
        fs::OpenOptions::new().write(true).open(&seg).and_then(|file| file.set_len(cut)).expect("cut");
        let (store, recovery) = match Store::open(copy.path(), fast()) {
            Ok(opened) => opened,
            Err(e) => panic!("a tail cut at {cut} stopped the open: {e}"),
        };
        let torn = recovery.torn_tail.unwrap_or_else(|| panic!("the tail cut at {cut} was not reported"));
        assert_eq!(torn.path, seg);
        assert_eq!(torn.offset, f.last_batch, "cut at {cut}");
        assert_eq!(torn.bytes_dropped, cut - f.last_batch);
        assert_eq!(store.reader(None).stats().runs, f.runs - 3, "cut at {cut}");
        assert_eq!(fs::metadata(&seg).expect("segment").len(), f.last_batch, "the tail is cut off on disk");
        // The store goes on: the next run takes the next id, and the next open is clean.
        let id = log(&store, &run("after", at(2, 0), ["o23.csv"], ["after.csv"]));
        assert_eq!(u64::from(id), f.runs - 2);
        drop(store);
        let (store, recovery) = Store::open(copy.path(), fast()).expect("reopen");
        assert!(recovery.torn_tail.is_none());
        assert_eq!(store.reader(None).stats().runs, f.runs - 2);
    }
    // Cut exactly at a batch boundary: nothing torn, nothing reported.
    let copy = copy_of(f.dir.path());
    let seg = last_segment(copy.path());
    fs::OpenOptions::new().write(true).open(&seg).and_then(|file| file.set_len(f.last_batch)).expect("cut");
    let (store, recovery) = Store::open(copy.path(), fast()).expect("open");
    assert!(recovery.torn_tail.is_none());
    assert_eq!(store.reader(None).stats().runs, f.runs - 3);
}

#[test]
fn zeros_after_the_last_batch_are_a_torn_tail() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let seg = last_segment(copy.path());
    let len = fs::metadata(&seg).expect("segment").len();
    let mut file = fs::OpenOptions::new().append(true).open(&seg).expect("open");
    file.write_all(&[0u8; 4096]).expect("append zeros");
    drop(file);
    let (store, recovery) = Store::open(copy.path(), fast()).expect("open");
    let torn = recovery.torn_tail.expect("reported");
    assert_eq!((torn.offset, torn.bytes_dropped), (len, 4096));
    assert_eq!(store.reader(None).stats().runs, f.runs, "nothing acknowledged is lost");
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_stops_the_open_naming_the_file_and_offset() {
    let f = fixture();
    let files = segments(f.dir.path());
    assert!(files.len() >= 3);
    // The first segment and one in the middle, every record (the last one too), several places
    // in each: checksum, length, flags, reserved bits, payload.
    for sealed in [&files[0], &files[files.len() / 2]] {
        let offsets = record_offsets(sealed);
        let len = fs::metadata(sealed).expect("segment").len() as usize;
        for (i, &record) in offsets.iter().enumerate() {
            let end = offsets.get(i + 1).copied().unwrap_or(len);
            for (place, bit) in [
                (record, 0),
                (record + 4, 3),
                (record + 7, 7),
                (record + 8, 0),
                (record + 10, 2),
                (record + 12, 1),
                ((record + end) / 2, 5),
                (end - 1, 6),
            ] {
                let copy = copy_of(f.dir.path());
                let target = copy.path().join("log").join(sealed.file_name().expect("name"));
                flip_bit(&target, place, bit);
                expect_corrupt(copy.path(), &target, record);
            }
        }
        // The header too.
        let copy = copy_of(f.dir.path());
        let target = copy.path().join("log").join(sealed.file_name().expect("name"));
        flip_bit(&target, 17, 0);
        expect_corrupt(copy.path(), &target, 0);
    }
}

#[test]
fn a_flipped_bit_in_the_tail_followed_by_valid_records_stops_the_open() {
    let f = fixture();
    let last = last_segment(f.dir.path());
    let offsets = record_offsets(&last);
    assert!(offsets.len() >= 3, "the tail holds the final batch");
    // Every record but the last is followed by a valid one: damage, not a torn write.
    for &record in &offsets[..offsets.len() - 1] {
        for (delta, bit) in [(0, 4), (5, 1), (14, 3)] {
            let copy = copy_of(f.dir.path());
            let target = last_segment(copy.path());
            flip_bit(&target, record + delta, bit);
            expect_corrupt(copy.path(), &target, record);
            // Nothing was cut: the damage is still there for an operator to look at.
            assert_eq!(fs::read(&target).ok().map(|b| b.len()), fs::read(&last).ok().map(|b| b.len()));
        }
    }
}

#[test]
fn a_damaged_header_of_the_tail_segment_stops_the_open() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let target = last_segment(copy.path());
    flip_bit(&target, 20, 1);
    expect_corrupt(copy.path(), &target, 0);
}

#[test]
fn a_sealed_segment_cut_short_stops_the_open() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let first = segments(copy.path()).remove(0);
    let last_record = *record_offsets(&first).last().expect("a record");
    fs::OpenOptions::new().write(true).open(&first).and_then(|file| file.set_len(last_record as u64 + 5)).expect("cut");
    expect_corrupt(copy.path(), &first, last_record);
}

#[test]
fn a_flipped_bit_in_the_last_record_is_a_corrupt_tail_cut_off_and_reported() {
    let f = fixture();
    let last = last_segment(f.dir.path());
    let offsets = record_offsets(&last);
    let record = *offsets.last().expect("a record");
    let copy = copy_of(f.dir.path());
    let target = last_segment(copy.path());
    flip_bit(&target, record + 20, 2);
    let (store, recovery) = Store::open(copy.path(), fast()).expect("open");
    let torn = recovery.torn_tail.expect("reported");
    assert_eq!(torn.offset, f.last_batch, "the whole final batch goes");
    assert!(torn.reason.contains("checksum"), "{}", torn.reason);
    assert_eq!(store.reader(None).stats().runs, f.runs - 3);
}

#[test]
fn a_missing_segment_stops_the_open() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let files = segments(copy.path());
    fs::remove_file(&files[1]).expect("remove");
    match Store::open(copy.path(), fast()) {
        Err(StoreError::Corrupt { path, .. }) => assert_eq!(path, files[1]),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a gap in the log went unnoticed"),
    }
}

/// Regression: when a torn tail held complete records of an unfinished batch (a crash in the middle
/// of writing a multi-run batch), recovery dropped the batch but still counted its records, so the
/// log's next seq ran ahead of the state's. The next append tripped over the mismatch, and the
/// segment header written at the next roll named the wrong first seq, so the open after that failed
/// with `Corrupt`: one crash, and the store would not open again.
#[test]
fn regression_a_torn_batch_with_complete_records_does_not_skew_the_next_seq() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let seg = last_segment(copy.path());
    let last_record = *record_offsets(&seg).last().expect("a record") as u64;
    // Cut inside the batch's third record: its first two records are complete.
    fs::OpenOptions::new().write(true).open(&seg).and_then(|file| file.set_len(last_record + 5)).expect("cut");
    let opts = LogOptions { segment_bytes: 1024, ..fast() };
    {
        let (store, recovery) = Store::open(copy.path(), opts.clone()).expect("open");
        assert_eq!(recovery.torn_tail.map(|t| t.offset), Some(f.last_batch));
        assert_eq!(store.last_seq(), f.runs - 3);
        for i in 0..20 {
            let logged = store.log_run(&run("after", at(3, i), [], [format!("a{i}").as_str()])).expect("append");
            assert_eq!(logged.seq, f.runs - 3 + i as u64 + 1);
        }
        assert!(store.reader(None).stats().segments > segments(f.dir.path()).len() as u64, "rolled");
    }
    let (store, recovery) = match Store::open(copy.path(), opts) {
        Ok(opened) => opened,
        Err(e) => panic!("the store does not open after writing past a recovered torn batch: {e}"),
    };
    assert!(recovery.torn_tail.is_none());
    assert_eq!(store.reader(None).stats().runs, f.runs - 3 + 20);
    drop(store);
    let report = verify(copy.path(), |_, _| {}).expect("verifies");
    assert_eq!(report.last_seq, f.runs - 3 + 20);
}

#[test]
fn a_read_only_open_beside_a_torn_tail_shows_the_complete_events_and_cuts_nothing() {
    let f = fixture();
    let copy = copy_of(f.dir.path());
    let seg = last_segment(copy.path());
    let cut = f.last_batch + 7;
    fs::OpenOptions::new().write(true).open(&seg).and_then(|file| file.set_len(cut)).expect("cut");
    let store = Store::open_read_only(copy.path()).expect("read-only");
    assert_eq!(store.reader(None).stats().runs, f.runs - 3);
    drop(store);
    // A writer may still be finishing that batch: a reader never touches the file.
    assert_eq!(fs::metadata(&seg).expect("segment").len(), cut);
}

#[test]
fn an_empty_segment_left_by_a_crash_while_rolling_is_started_again() {
    let f = fixture();
    for leftover in [0usize, 10] {
        let copy = copy_of(f.dir.path());
        let files = segments(copy.path());
        let next = copy.path().join("log").join(format!("{:08}.seg", files.len() + 1));
        fs::write(&next, vec![0u8; leftover]).expect("empty segment");
        {
            let (store, recovery) = Store::open(copy.path(), fast()).expect("open");
            assert!(recovery.torn_tail.is_none());
            assert_eq!(store.reader(None).stats().runs, f.runs, "nothing acknowledged is lost");
            let id = log(&store, &run("after", at(2, 0), [], ["after.csv"]));
            assert_eq!(u64::from(id), f.runs + 1);
        }
        let (store, _) = Store::open(copy.path(), fast()).expect("reopen");
        assert_eq!(store.reader(None).stats().runs, f.runs + 1);
        drop(store);
        verify(copy.path(), |_, _| {}).expect("verifies");
    }
}
