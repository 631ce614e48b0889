//! Criterion benchmarks of the store, on the pipeline workload of `mltrace_benches::workload`.
//!
//! Bounded on purpose (small fixtures, short measurement times): `cargo bench --workspace` must stay
//! quick on a shared 2-core machine. The figures at 100,000 and 1,000,000 runs come from the
//! `loadgen` binary (see BENCHMARKS.md).
//!
//! | group        | what                                                                      |
//! |--------------|---------------------------------------------------------------------------|
//! | `append`     | `log_runs` of 1,000 runs under each fsync policy; `log_run` of single runs |
//! | `replay`     | `Store::open` of a 20,000-run log (read-only: a full replay)                |
//! | `trace`      | `lineage` (structure) at max depth 1, 10, 50; `trace` (with summaries)     |
//! | `downstream` | everything derived from a clean file                                       |
//! | `review`     | review with 10, 1,000 and 10,000 flagged predictions                       |
//! | `reads`      | `history`, `recent`                                                        |
//! | `as_of`      | lineage and recent at a past seq; review at a seq before the last flags    |

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mltrace_benches::build_store;
use mltrace_benches::workload::{Pipeline, Shape};
use mltrace_store::{AsOf, FsyncPolicy, LogOptions, NewRun, Store};
use std::hint::black_box;
use std::time::Duration;

/// Runs in the query fixtures.
const FIXTURE_RUNS: u64 = 20_000;

fn batch(p: &mut Pipeline, n: usize) -> Vec<NewRun> {
    (0..n).map(|_| p.next_run().to_new_run()).collect()
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let policies = [
        ("always", FsyncPolicy::Always),
        ("interval_10ms", FsyncPolicy::Interval(Duration::from_millis(10))),
        ("never", FsyncPolicy::Never),
    ];
    g.throughput(Throughput::Elements(1000));
    for (name, fsync) in policies {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(dir.path(), LogOptions { fsync, ..LogOptions::default() }).expect("open");
        let mut p = Pipeline::new("churn", Shape::default(), 1);
        g.bench_function(format!("batch_1000/{name}"), |b| {
            b.iter_batched(|| batch(&mut p, 1000), |runs| store.log_runs(&runs).expect("log"), BatchSize::PerIteration)
        });
    }
    g.throughput(Throughput::Elements(1));
    for (name, fsync) in [("always", FsyncPolicy::Always), ("never", FsyncPolicy::Never)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(dir.path(), LogOptions { fsync, ..LogOptions::default() }).expect("open");
        let mut p = Pipeline::new("churn", Shape::default(), 1);
        g.bench_function(format!("single/{name}"), |b| {
            b.iter_batched(|| p.next_run().to_new_run(), |run| store.log_run(&run).expect("log"), BatchSize::SmallInput)
        });
    }
    g.finish();
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, _) = build_store(dir.path(), "churn", Shape { flag_every: 100, ..Shape::default() }, FIXTURE_RUNS);
    let events = store.last_seq();
    drop(store);
    let mut g = c.benchmark_group("replay");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(events));
    g.bench_function(format!("open/{FIXTURE_RUNS}_runs"), |b| {
        b.iter(|| Store::open_read_only(dir.path()).expect("open"))
    });
    g.finish();
}

/// A fixture with long warm-start chains, so that depth 50 is reachable.
fn deep_fixture() -> (tempfile::TempDir, Store, Pipeline) {
    let dir = tempfile::tempdir().expect("temp dir");
    let shape = Shape { warm_start_chain: 100, flag_every: 200, ..Shape::default() };
    let (store, p) = build_store(dir.path(), "churn", shape, FIXTURE_RUNS);
    (dir, store, p)
}

fn trace(c: &mut Criterion) {
    let (_dir, store, p) = deep_fixture();
    // A prediction of the last complete cycle: its model is deep in a warm-start chain.
    let target = p.prediction(p.cycles() - 2, 1);
    let mut g = c.benchmark_group("trace");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for depth in [1u32, 10, 50] {
        let nodes = store.reader(None).lineage(&target, Some(depth), 10_000).expect("lineage").nodes.len();
        g.throughput(Throughput::Elements(nodes as u64));
        g.bench_function(format!("lineage/depth_{depth}/{nodes}_nodes"), |b| {
            b.iter(|| store.reader(None).lineage(black_box(&target), Some(depth), 10_000).expect("lineage"))
        });
    }
    let nodes = store.reader(None).lineage(&target, Some(10), 10_000).expect("lineage").nodes.len();
    g.throughput(Throughput::Elements(nodes as u64));
    g.bench_function(format!("with_summaries/depth_10/{nodes}_nodes"), |b| {
        b.iter(|| store.reader(None).trace(black_box(&target), Some(10), 10_000).expect("trace"))
    });
    g.finish();

    let mut g = c.benchmark_group("downstream");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let source = p.path("clean", p.cycles() / 2, 0);
    let nodes = store.reader(None).downstream(&source, None, 10_000).expect("downstream").runs.len();
    g.throughput(Throughput::Elements(nodes as u64));
    g.bench_function(format!("clean_file/{nodes}_runs"), |b| {
        b.iter(|| store.reader(None).downstream(black_box(&source), None, 10_000).expect("downstream"))
    });
    g.finish();

    let mut g = c.benchmark_group("as_of");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let half = AsOf::Seq(store.last_seq() / 2);
    let early = p.prediction(p.cycles() / 4, 1);
    g.bench_function("lineage/depth_10/half_the_log", |b| {
        b.iter(|| store.reader(Some(half)).lineage(black_box(&early), Some(10), 10_000).expect("lineage"))
    });
    g.bench_function("recent_20/half_the_log", |b| {
        b.iter(|| store.reader(Some(half)).recent(20, None).expect("recent"))
    });
    g.finish();

    let mut g = c.benchmark_group("reads");
    g.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    let train = p.components()[3].clone();
    g.bench_function("history_10", |b| {
        b.iter(|| store.reader(None).history(black_box(&train), 10, None, None, None).expect("history"))
    });
    g.bench_function("recent_20", |b| b.iter(|| store.reader(None).recent(20, None).expect("recent")));
    g.finish();
}

fn review(c: &mut Criterion) {
    // 60,000 runs hold over 14,000 predictions; flags are added between the measurements.
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, p) = build_store(dir.path(), "churn", Shape::default(), 60_000);
    let complete = p.cycles() - 1;
    let mut predictions = (0..complete).flat_map(|c| (0..4).map(move |part| (c, part)));
    let mut flagged = 0usize;
    let mut g = c.benchmark_group("review");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(3));
    let mut before_last = 0;
    for target in [10usize, 1_000, 10_000] {
        let names: Vec<String> =
            predictions.by_ref().take(target - flagged).map(|(c, part)| p.prediction(c, part)).collect();
        before_last = store.last_seq();
        for chunk in names.chunks(1000) {
            store.flag(chunk, Some("bad predictions"), Some("bench")).expect("flag");
        }
        flagged = target;
        g.bench_function(format!("flagged_{target}"), |b| b.iter(|| store.reader(None).review(20).expect("review")));
    }
    g.finish();
    let mut g = c.benchmark_group("as_of");
    g.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(3));
    let at = AsOf::Seq(before_last);
    g.bench_function("review/flagged_1000", |b| b.iter(|| store.reader(Some(at)).review(20).expect("review")));
    g.finish();
}

criterion_group!(benches, append, replay, trace, review);
criterion_main!(benches);
