//! Readers never hold writers behind their disk reads: a query takes the state lock only to work in
//! memory, and reads the runs it names from the log with no lock held. The simulated disk holds a
//! trace in the middle of a log read for as long as the test likes; meanwhile writes and other reads
//! must go through, and the trace, once let go, answers what it would have answered at its own seq.

use mltrace_store::storage::sim::SimStorage;
use mltrace_store::{LogOptions, NewRun, Store, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const CHAIN: i64 = 600;

fn run(i: i64, input: Option<String>) -> NewRun {
    let t = Timestamp(1_700_000_000_000 + i * 1000);
    let r = NewRun::new(&format!("step{}", i % 5), t, t).outputs([format!("out-{i}").as_str()]);
    match input {
        Some(name) => r.inputs([name.as_str()]),
        None => r,
    }
}

#[test]
fn a_trace_held_in_a_log_read_does_not_hold_writers_or_other_readers() {
    let disk = SimStorage::new();
    let (store, _) = Store::open_on(Arc::new(disk.clone()), Path::new("/data"), LogOptions::default()).expect("open");
    let store = Arc::new(store);
    let runs: Vec<NewRun> = (0..CHAIN).map(|i| run(i, (i > 0).then(|| format!("out-{}", i - 1)))).collect();
    store.log_runs(&runs).expect("log the chain");
    let last = format!("out-{}", CHAIN - 1);
    let before = store.reader(None).trace(&last, None, 10_000).expect("trace");
    assert_eq!(before.nodes.len(), CHAIN as usize);

    disk.hold_reads();
    let (done_tx, done_rx) = mpsc::channel();
    let tracer = {
        let store = store.clone();
        let last = last.clone();
        std::thread::spawn(move || {
            let answer = store.reader(None).trace(&last, None, 10_000);
            let _ = done_tx.send(());
            answer
        })
    };
    assert!(disk.wait_for_held_read(Duration::from_secs(10)), "the trace never reached the log");

    // While the trace waits on the disk: a write (which needs the state's write lock) and a read
    // that works in memory both finish.
    let (tx, rx) = mpsc::channel();
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let logged = store.log_run(&run(CHAIN, Some(format!("out-{}", CHAIN - 1)))).map(|l| l.id);
            let lineage = store.reader(None).lineage(&format!("out-{CHAIN}"), None, 10_000).map(|l| l.nodes.len());
            let _ = tx.send((logged, lineage));
        });
    }
    let (logged, lineage) = rx.recv_timeout(Duration::from_secs(10)).expect("a write waited for a reader's disk read");
    assert_eq!(logged.expect("log"), CHAIN as u32 + 1);
    assert_eq!(lineage.expect("lineage"), CHAIN as usize + 1);
    assert!(done_rx.try_recv().is_err(), "the trace finished while its read was held");

    disk.release_reads();
    let held = tracer.join().expect("tracer").expect("trace");
    assert_eq!(held, before, "the trace answers as of its own seq, without the run logged meanwhile");
    assert_eq!(
        store.reader(None).trace(&format!("out-{CHAIN}"), None, 10_000).expect("trace").nodes.len(),
        CHAIN as usize + 1
    );
}

#[test]
fn a_checkpoint_waiting_on_the_disk_does_not_hold_writers() {
    let disk = SimStorage::new();
    // No fsync on the write path, so that only the checkpoint waits on the held fsyncs.
    let opts = LogOptions { fsync: mltrace_store::FsyncPolicy::Never, ..LogOptions::default() };
    let (store, _) = Store::open_on(Arc::new(disk.clone()), Path::new("/data"), opts).expect("open");
    let store = Arc::new(store);
    let runs: Vec<NewRun> = (0..200).map(|i| run(i, (i > 0).then(|| format!("out-{}", i - 1)))).collect();
    store.log_runs(&runs).expect("log");

    disk.hold_syncs();
    let checkpointer = {
        let store = store.clone();
        std::thread::spawn(move || store.checkpoint())
    };
    assert!(disk.wait_for_held_sync(Duration::from_secs(10)), "the checkpoint never reached an fsync");
    let (tx, rx) = mpsc::channel();
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let _ = tx.send(store.log_run(&run(200, Some("out-199".into()))).map(|l| l.id));
        });
    }
    let logged = rx.recv_timeout(Duration::from_secs(10)).expect("a write waited for a checkpoint's fsync");
    assert_eq!(logged.expect("log"), 201);
    disk.release_syncs();
    let covered = checkpointer.join().expect("checkpointer").expect("checkpoint");
    // 200 runs and the tree head written before the checkpoint; the run logged meanwhile is after.
    assert_eq!(covered, 201);
    assert_eq!(store.events_since_checkpoint(), 1);
}
