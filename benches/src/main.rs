//! `loadgen`: logs a realistic pipeline workload into mltrace at a given scale, then measures the
//! queries, and prints one JSON object (throughput, latency percentiles per operation, resident
//! memory, bytes on disk per run, open time).
//!
//! Two modes: `inproc` drives the store in this process; `http` drives a server, either one already
//! running (`--addr`) or one it starts itself (`--server target/release/mltrace`), over keep-alive
//! connections. Every loop is bounded in count and in time, and HTTP goes to loopback only.
//!
//! Ingest is timed without the workload's generation: each writer generates a chunk of requests,
//! all writers meet at a barrier, and only the time from that barrier until the last writer has
//! sent its chunk counts. In process a writer is a thread; over HTTP it is a task with its own
//! connection, all of them on one thread, so that the client's share of the CPU stays small. Memory and open time are measured in a fresh process (or a
//! fresh server) that does nothing but open the data directory, so the ingest's own garbage is not
//! counted.

// The allocator of the `mltrace` binary (the same file), so that in-process figures measure what
// the server runs.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use anyhow::{Context, Result, bail};

use clap::{Args, Parser, Subcommand};
use mltrace_benches::http::{AsyncConn, Conn, encode_query};
use mltrace_benches::measure::{self, Latency, Memory, Samples};
use mltrace_benches::workload::{Pipeline, RunSpec, Shape, SplitMix, Step, project_names};
use mltrace_store::{AsOf, FsyncPolicy, LogOptions, NewRun, Store};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "loadgen", version, about = "Load generator and benchmark driver for mltrace")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Drive the store in this process.
    Inproc(InprocArgs),
    /// Drive an mltrace server over HTTP (loopback only).
    Http(HttpArgs),
    /// Open a data directory in this fresh process and report time and memory (used by `inproc`).
    #[command(hide = true)]
    Open {
        /// The data directory.
        data_dir: PathBuf,
        /// Then write a checkpoint, and report how long that took.
        #[arg(long)]
        checkpoint: bool,
        /// Without the audit Merkle tree.
        #[arg(long)]
        no_audit_tree: bool,
    },
    /// The audit Merkle tree alone: build one of `--leaves` leaves directly, then time inclusion
    /// and consistency proofs (p50/p99) and head signing, and report its memory per leaf.
    Audit(AuditArgs),
    /// The disk's limit for a log: its record bytes appended raw with one fdatasync per
    /// `--records-per-sync` records, then read back with a crc32 of each (see `benches/src/limit.rs`).
    Limit {
        /// The data directory whose log supplies the bytes.
        data_dir: PathBuf,
        /// Records per fdatasync (the store's: one batch of 1,000 runs).
        #[arg(long, default_value_t = 1000)]
        records_per_sync: u64,
        /// Where the scratch files go (default: beside the data directory, on the same disk).
        #[arg(long)]
        tmp: Option<PathBuf>,
    },
    /// Print the workload of one writer as NDJSON (`{"run": {...}}` or `{"flag": name}`), for the
    /// peer comparison: the same runs, in the same order, as `inproc --concurrency 1`.
    Dump(Workload),
}

#[derive(Args, Clone, Debug)]
struct Workload {
    /// Runs to log in total.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Runs per request; 1 logs single runs (`log_run`, or one run per POST).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent writers, each logging its own project's pipeline (default: 1 in-process, 64 over HTTP).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Predictions flagged over the whole ingest (spread evenly), for review.
    #[arg(long, default_value_t = 1000)]
    flagged: u64,
    /// Partitions per pipeline cycle.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Trains that warm-start from the previous model before a fresh start.
    #[arg(long, default_value_t = 12)]
    warm_start_chain: u32,
    /// Seed of the workload and of the query targets.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Most queries of each kind.
    #[arg(long, default_value_t = 20_000)]
    queries: u64,
    /// Most seconds spent on each kind of query.
    #[arg(long, default_value_t = 10.0)]
    query_seconds: f64,
    /// Stop ingesting after this many seconds (what was logged by then is measured).
    #[arg(long, default_value_t = 900.0)]
    max_ingest_seconds: f64,
    /// Runs each writer generates ahead, untimed, between timed stretches.
    #[arg(long, default_value_t = 100_000)]
    chunk: u64,
    /// Skip the queries.
    #[arg(long)]
    no_queries: bool,
}

#[derive(Args, Debug)]
struct InprocArgs {
    #[command(flatten)]
    workload: Workload,
    /// Data directory (default: a new temporary directory, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the temporary data directory goes (default: the system's).
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// fsync policy: always, interval:MS or never.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Skip measuring open (replay) in a fresh process.
    #[arg(long)]
    no_open: bool,
    /// Measure open by full replay only (no checkpoint written).
    #[arg(long)]
    no_checkpoint: bool,
    /// Run without the audit Merkle tree (to measure what it costs).
    #[arg(long)]
    no_audit_tree: bool,
    /// After ingest, measure the disk's limit on the log just written (see the `limit` mode) and
    /// report ingest and replay as shares of it.
    #[arg(long)]
    limit: bool,
    /// Before the timed ingest, log a chain of this many runs (each reads the previous one's output),
    /// untimed, so that one output has a lineage of that many runs (0: none).
    #[arg(long, default_value_t = 0)]
    chain: u64,
    /// During the timed ingest, trace the chain's whole lineage (with run summaries) in a loop on
    /// another thread; needs `--chain`.
    #[arg(long, requires = "chain")]
    trace_loop: bool,
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// Leaves in the tree.
    #[arg(long, default_value_t = 10_000_000)]
    leaves: u64,
    /// Proofs of each kind to time.
    #[arg(long, default_value_t = 20_000)]
    proofs: u64,
    /// Heads to sign.
    #[arg(long, default_value_t = 5_000)]
    heads: u64,
    /// Also build a real store of this many runs and time proofs that read the log (0: skip).
    #[arg(long, default_value_t = 0)]
    store_runs: u64,
}

#[derive(Args, Debug)]
struct HttpArgs {
    #[command(flatten)]
    workload: Workload,
    /// A running server (loopback only), e.g. 127.0.0.1:8080.
    #[arg(long, conflicts_with = "server")]
    addr: Option<SocketAddr>,
    /// Start this mltrace binary (`serve`) on a free loopback port with a temporary data directory.
    #[arg(long)]
    server: Option<PathBuf>,
    /// fsync policy passed to the started server.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Where the started server's temporary data directory goes.
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// Send each run as OpenLineage events (START with the inputs, COMPLETE with the outputs) to
    /// `POST /api/v1/lineage`: one event a request with --batch 1, else one JSON array a batch.
    #[arg(long)]
    openlineage: bool,
}

fn main() -> Result<()> {
    // What the `mltrace` binary does, so that an open here measures what the server holds.
    allocator::install();
    let cli = Cli::parse();
    let report = match cli.mode {
        Mode::Inproc(a) => inproc(a)?,
        Mode::Http(a) => http(a)?,
        Mode::Open { data_dir, checkpoint, no_audit_tree } => open_report(&data_dir, checkpoint, !no_audit_tree)?,
        Mode::Audit(a) => {
            let mut r = json!({"tree": mltrace_benches::audit::report(a.leaves, a.proofs, a.heads)});
            if a.store_runs > 0 {
                r["store"] = mltrace_benches::audit::store_report(a.store_runs, a.proofs);
            }
            r
        }
        Mode::Limit { data_dir, records_per_sync, tmp } => {
            let scratch = tmp.unwrap_or_else(|| data_dir.parent().map(Path::to_path_buf).unwrap_or_default());
            limit_report(&data_dir, &scratch, records_per_sync)?
        }
        Mode::Dump(w) => return dump(&w),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn dump(w: &Workload) -> Result<()> {
    match write_dump(w) {
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn write_dump(w: &Workload) -> std::io::Result<()> {
    use std::io::Write;
    let project = project_names(1).remove(0);
    let mut p = Pipeline::new(&project, shape(w), w.seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    while p.runs() < w.runs {
        let line = match p.next_step() {
            Step::Run(r) => json!({ "run": r }),
            Step::Flag(f) => json!({ "flag": f }),
        };
        writeln!(out, "{line}")?;
    }
    // A flag that follows the last run belongs to the workload too.
    if let Step::Flag(f) = p.next_step() {
        writeln!(out, "{}", json!({ "flag": f }))?;
    }
    out.flush()
}

fn shape(w: &Workload) -> Shape {
    let flag_every = w.runs.checked_div(w.flagged).map_or(0, |n| n.max(1));
    Shape { partitions: w.partitions, warm_start_chain: w.warm_start_chain, flag_every, ..Shape::default() }
}

fn workload_json(w: &Workload, concurrency: usize) -> Value {
    json!({
        "runs": w.runs, "batch": w.batch, "concurrency": concurrency, "flagged": w.flagged,
        "partitions": w.partitions, "warm_start_chain": w.warm_start_chain, "seed": w.seed,
    })
}

// ---------------------------------------------------------------- ingest

/// One in-process writer thread's way to send requests (HTTP writers are tasks: [`HttpWriter`]).
trait Writer {
    /// A prepared request (generated and encoded before the timed stretch).
    type Item: Send;
    fn prepare(&mut self, runs: &[RunSpec]) -> Self::Item;
    /// Sends a prepared request; it may take the item's contents (it is sent once).
    fn submit(&mut self, item: &mut Self::Item) -> Result<()>;
    fn flag(&mut self, outputs: &[String]) -> Result<()>;
}

#[derive(Serialize)]
struct IngestReport {
    runs: u64,
    seconds: f64,
    runs_per_s: f64,
    requests: u64,
    /// Latency of one request (a batch, or a single run).
    request_latency: Latency,
    flag_latency: Latency,
}

/// What the ingest leaves behind for the queries: each project and how many cycles it completed.
struct Logged {
    report: IngestReport,
    projects: Vec<(String, u64)>,
}

fn ingest<W: Writer>(w: &Workload, concurrency: usize, make: impl Fn(usize) -> Result<W> + Sync) -> Result<Logged> {
    let projects = project_names(concurrency);
    let per_thread = w.runs / concurrency as u64;
    let barrier = Barrier::new(concurrency);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let wall = Mutex::new(Duration::ZERO);
    let deadline = Duration::from_secs_f64(w.max_ingest_seconds);
    let results: Vec<WriterResult> = std::thread::scope(|s| {
        let handles: Vec<_> = projects
            .iter()
            .enumerate()
            .map(|(i, project)| {
                let (barrier, stop, failure, wall, make) = (&barrier, &stop, &failure, &wall, &make);
                s.spawn(move || {
                    let mut pipeline = Pipeline::new(project, shape(w), w.seed);
                    let mut writer = make(i).map_err(|e| fail(failure, stop, e)).ok();
                    let (mut lat, mut flag_lat, mut sent, mut requests) =
                        (Samples::default(), Samples::default(), 0u64, 0u64);
                    loop {
                        let todo = (per_thread - sent).min(w.chunk);
                        let mut items = Vec::new();
                        if let Some(wr) = writer.as_mut() {
                            items = prepare_chunk(&mut pipeline, |runs| wr.prepare(runs), todo, w.batch);
                        }
                        barrier.wait();
                        let started = Instant::now();
                        if !stop.load(Ordering::Acquire)
                            && let Some(wr) = writer.as_mut()
                        {
                            for (item, n, _) in items.iter_mut() {
                                let t = Instant::now();
                                if let Err(e) = wr.submit(item) {
                                    fail(failure, stop, e);
                                    break;
                                }
                                lat.push(t.elapsed());
                                sent += *n;
                                requests += 1;
                            }
                        }
                        if barrier.wait().is_leader() {
                            let mut total = wall.lock().unwrap_or_else(|p| p.into_inner());
                            *total += started.elapsed();
                            if *total >= deadline {
                                stop.store(true, Ordering::Release);
                            }
                        }
                        // Flags are not runs: they are sent between the timed stretches, and their
                        // latency is reported on its own.
                        if let Some(wr) = writer.as_mut() {
                            for (_, _, flags) in items.iter().filter(|(_, _, f)| !f.is_empty()) {
                                let t = Instant::now();
                                if let Err(e) = wr.flag(flags) {
                                    fail(failure, stop, e);
                                    break;
                                }
                                flag_lat.push(t.elapsed());
                            }
                        }
                        barrier.wait();
                        if stop.load(Ordering::Acquire) || sent >= per_thread || todo == 0 {
                            break;
                        }
                    }
                    (sent, requests, lat, flag_lat, pipeline.cycles())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let seconds = wall.into_inner().unwrap_or_else(|p| p.into_inner()).as_secs_f64();
    summarize(results, projects, seconds, failure)
}

/// [`ingest`] over HTTP: the same writers, chunks and barriers, but each writer is a task with its
/// own connection and all of them run on this one thread (see `benches/src/http.rs` for why).
fn ingest_http(w: &Workload, concurrency: usize, make: impl Fn(usize) -> Result<HttpWriter>) -> Result<Logged> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let projects = project_names(concurrency);
    let per_task = w.runs / concurrency as u64;
    let barrier = tokio::sync::Barrier::new(concurrency);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let wall = Mutex::new(Duration::ZERO);
    let deadline = Duration::from_secs_f64(w.max_ingest_seconds);
    let writers = projects.iter().enumerate().map(|(i, project)| {
        let (barrier, stop, failure, wall, make) = (&barrier, &stop, &failure, &wall, &make);
        async move {
            let mut pipeline = Pipeline::new(project, shape(w), w.seed);
            let mut writer = make(i).map_err(|e| fail(failure, stop, e)).ok();
            let (mut lat, mut flag_lat, mut sent, mut requests) = (Samples::default(), Samples::default(), 0u64, 0u64);
            loop {
                let todo = (per_task - sent).min(w.chunk);
                let mut items = Vec::new();
                if let Some(wr) = writer.as_mut() {
                    items = prepare_chunk(&mut pipeline, |runs| wr.prepare(runs), todo, w.batch);
                }
                barrier.wait().await;
                let started = Instant::now();
                if !stop.load(Ordering::Acquire)
                    && let Some(wr) = writer.as_mut()
                {
                    for (item, n, _) in items.iter_mut() {
                        let t = Instant::now();
                        if let Err(e) = wr.submit(item).await {
                            fail(failure, stop, e);
                            break;
                        }
                        lat.push(t.elapsed());
                        sent += *n;
                        requests += 1;
                    }
                }
                if barrier.wait().await.is_leader() {
                    let mut total = wall.lock().unwrap_or_else(|p| p.into_inner());
                    *total += started.elapsed();
                    if *total >= deadline {
                        stop.store(true, Ordering::Release);
                    }
                }
                // Flags are not runs: they are sent between the timed stretches, and their latency
                // is reported on its own.
                if let Some(wr) = writer.as_mut() {
                    for (_, _, flags) in items.iter().filter(|(_, _, f)| !f.is_empty()) {
                        let t = Instant::now();
                        if let Err(e) = wr.flag(flags).await {
                            fail(failure, stop, e);
                            break;
                        }
                        flag_lat.push(t.elapsed());
                    }
                }
                barrier.wait().await;
                if stop.load(Ordering::Acquire) || sent >= per_task || todo == 0 {
                    break;
                }
            }
            (sent, requests, lat, flag_lat, pipeline.cycles())
        }
    });
    let results: Vec<WriterResult> = runtime.block_on(futures_util::future::join_all(writers));
    let seconds = wall.into_inner().unwrap_or_else(|p| p.into_inner()).as_secs_f64();
    summarize(results, projects, seconds, failure)
}

/// What one writer did: runs and requests sent, their latencies, its flags' latencies, the cycles
/// of its pipeline.
type WriterResult = (u64, u64, Samples, Samples, u64);

/// The report of an ingest from its writers' results (or the first failure).
fn summarize(
    results: Vec<WriterResult>,
    projects: Vec<String>,
    seconds: f64,
    failure: Mutex<Option<String>>,
) -> Result<Logged> {
    if let Some(why) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        bail!("ingest failed: {why}");
    }
    let (mut lat, mut flag_lat) = (Samples::default(), Samples::default());
    let (mut runs, mut requests) = (0, 0);
    let mut done = Vec::new();
    for ((sent, reqs, l, f, cycles), project) in results.into_iter().zip(projects) {
        runs += sent;
        requests += reqs;
        lat.merge(l);
        flag_lat.merge(f);
        // The last cycle planned may be logged only in part.
        done.push((project, cycles.saturating_sub(1)));
    }
    let report = IngestReport {
        runs,
        seconds: round3(seconds),
        runs_per_s: (runs as f64 / seconds.max(1e-9)).round(),
        requests,
        request_latency: lat.summary(),
        flag_latency: flag_lat.summary(),
    };
    Ok(Logged { report, projects: done })
}

fn fail(failure: &Mutex<Option<String>>, stop: &AtomicBool, e: anyhow::Error) {
    failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(format!("{e:#}"));
    stop.store(true, Ordering::Release);
}

/// Generates `todo` runs as requests of `batch` runs, each with the flags that follow it.
fn prepare_chunk<I>(
    p: &mut Pipeline,
    mut prepare: impl FnMut(&[RunSpec]) -> I,
    todo: u64,
    batch: usize,
) -> Vec<(I, u64, Vec<String>)> {
    let mut items = Vec::new();
    let mut left = todo;
    let mut runs = Vec::with_capacity(batch);
    while left > 0 {
        runs.clear();
        let mut flags = Vec::new();
        while (runs.len() as u64) < left.min(batch as u64) {
            match p.next_step() {
                Step::Run(r) => runs.push(r),
                Step::Flag(f) => flags.push(f),
            }
        }
        left -= runs.len() as u64;
        items.push((prepare(&runs), runs.len() as u64, flags));
    }
    items
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------- queries

/// Names to query, drawn from what was logged.
struct Targets {
    projects: Vec<(Pipeline, u64)>,
    partitions: u32,
    rng: SplitMix,
}

impl Targets {
    fn new(projects: &[(String, u64)], w: &Workload) -> Self {
        let projects = projects
            .iter()
            .filter(|(_, cycles)| *cycles > 0)
            .map(|(name, cycles)| (Pipeline::new(name, shape(w), w.seed), *cycles))
            .collect();
        Targets { projects, partitions: w.partitions, rng: SplitMix::new(w.seed ^ 0x5eed) }
    }

    /// A random logged file of `stage` (`preds`, `clean`, ...), among the first `fraction` of cycles.
    fn pick(&mut self, stage: &str, fraction: f64) -> Option<String> {
        let i = self.rng.below(self.projects.len() as u64) as usize;
        let (p, cycles) = self.projects.get(i)?;
        let upto = ((*cycles as f64 * fraction) as u64).max(1);
        let cycle = self.rng.below(upto);
        let part = self.rng.below(u64::from(self.partitions)) as u32;
        Some(p.path(stage, cycle, part))
    }

    fn component(&mut self, stage: usize) -> Option<String> {
        let i = self.rng.below(self.projects.len() as u64) as usize;
        self.projects.get(i).and_then(|(p, _)| p.components().get(stage).cloned())
    }
}

/// Runs `op` up to `count` times or `seconds`, whichever comes first.
fn measure_op(count: u64, seconds: f64, mut op: impl FnMut() -> Result<Option<u64>>) -> Result<Value> {
    let mut samples = Samples::default();
    let mut sizes = 0u64;
    let mut sized = 0u64;
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    for _ in 0..count {
        let t = Instant::now();
        let size = op()?;
        samples.push(t.elapsed());
        if let Some(n) = size {
            sizes += n;
            sized += 1;
        }
        if Instant::now() >= until {
            break;
        }
    }
    let mut v = serde_json::to_value(samples.summary())?;
    if sized > 0
        && let Some(o) = v.as_object_mut()
    {
        o.insert("mean_nodes".into(), json!((sizes as f64 / sized as f64 * 10.0).round() / 10.0));
    }
    Ok(v)
}

fn inproc_queries(store: &Store, logged: &Logged, w: &Workload) -> Result<BTreeMap<String, Value>> {
    let mut t = Targets::new(&logged.projects, w);
    let (n, secs) = (w.queries, w.query_seconds);
    let few = (n / 10).max(1);
    let mut ops = BTreeMap::new();
    let half = store.last_seq() / 2;
    let pick = |t: &mut Targets, stage: &str, f: f64| t.pick(stage, f).context("nothing was logged");
    ops.insert(
        "lineage_d10".into(),
        measure_op(n, secs, || {
            let o = pick(&mut t, "preds", 1.0)?;
            Ok(Some(store.reader(None).lineage(&o, Some(10), 10_000)?.nodes.len() as u64))
        })?,
    );
    ops.insert(
        "lineage_full".into(),
        measure_op(n, secs, || {
            let o = pick(&mut t, "preds", 1.0)?;
            Ok(Some(store.reader(None).lineage(&o, None, 10_000)?.nodes.len() as u64))
        })?,
    );
    ops.insert(
        "lineage_d10_as_of".into(),
        measure_op(n, secs, || {
            let o = pick(&mut t, "preds", 0.4)?;
            Ok(Some(store.reader(Some(AsOf::Seq(half))).lineage(&o, Some(10), 10_000)?.nodes.len() as u64))
        })?,
    );
    ops.insert(
        "trace_d10".into(),
        measure_op(few, secs, || {
            let o = pick(&mut t, "preds", 1.0)?;
            Ok(Some(store.reader(None).trace(&o, Some(10), 10_000)?.nodes.len() as u64))
        })?,
    );
    ops.insert(
        "trace_full".into(),
        measure_op(few, secs, || {
            let o = pick(&mut t, "preds", 1.0)?;
            Ok(Some(store.reader(None).trace(&o, None, 10_000)?.nodes.len() as u64))
        })?,
    );
    ops.insert(
        "downstream".into(),
        measure_op(few, secs, || {
            let o = pick(&mut t, "clean", 1.0)?;
            Ok(Some(store.reader(None).downstream(&o, None, 10_000)?.runs.len() as u64))
        })?,
    );
    let flagged = store.reader(None).flags().len();
    let mut review = measure_op((n / 100).max(5), secs, || Ok(Some(store.reader(None).review(20)?.runs.len() as u64)))?;
    if let Some(o) = review.as_object_mut() {
        o.insert("flagged".into(), json!(flagged));
    }
    ops.insert("review".into(), review);
    ops.insert(
        "history".into(),
        measure_op(few, secs, || {
            let c = t.component(3).context("no component")?;
            Ok(Some(store.reader(None).history(&c, 10, None, None, None)?.len() as u64))
        })?,
    );
    ops.insert("recent".into(), measure_op(few, secs, || Ok(Some(store.reader(None).recent(20, None)?.len() as u64)))?);
    Ok(ops)
}

// ---------------------------------------------------------------- in-process

struct StoreWriter<'s> {
    store: &'s Store,
    single: bool,
}

impl Writer for StoreWriter<'_> {
    type Item = Vec<NewRun>;

    fn prepare(&mut self, runs: &[RunSpec]) -> Vec<NewRun> {
        runs.iter().map(RunSpec::to_new_run).collect()
    }

    fn submit(&mut self, item: &mut Vec<NewRun>) -> Result<()> {
        // By value, as the server's ingest thread does: the runs' strings move into the events.
        let runs = std::mem::take(item);
        if self.single {
            for r in runs {
                self.store.log_run_owned(r)?;
            }
        } else {
            self.store.log_runs_owned(runs)?;
        }
        Ok(())
    }

    fn flag(&mut self, outputs: &[String]) -> Result<()> {
        self.store.flag(outputs, Some("bad predictions"), Some("loadgen"))?;
        Ok(())
    }
}

fn inproc(a: InprocArgs) -> Result<Value> {
    let w = &a.workload;
    let concurrency = w.concurrency.unwrap_or(1).max(1);
    let fsync = FsyncPolicy::parse(&a.fsync).map_err(anyhow::Error::msg)?;
    let temp = match (&a.data_dir, &a.tmp) {
        (Some(_), _) => None,
        (None, Some(t)) => Some(tempfile::tempdir_in(t)?),
        (None, None) => Some(tempfile::tempdir()?),
    };
    let dir = match (&a.data_dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => bail!("no data directory"),
    };
    let before = measure::memory(None);
    let merkle = !a.no_audit_tree;
    let (store, _) = Store::open(&dir, LogOptions { fsync, merkle, ..LogOptions::default() })?;
    let chain_output = if a.chain > 0 { Some(log_chain(&store, a.chain)?) } else { None };
    let stop_reader = AtomicBool::new(false);
    let (logged, reader) = std::thread::scope(|s| -> Result<_> {
        let reader = match (&chain_output, a.trace_loop) {
            (Some(output), true) => Some(s.spawn(|| trace_loop(&store, output, &stop_reader))),
            _ => None,
        };
        let logged = ingest(w, concurrency, |_| Ok(StoreWriter { store: &store, single: w.batch <= 1 }));
        stop_reader.store(true, Ordering::Release);
        let reader = match reader.map(|h| h.join()) {
            Some(Ok(r)) => Some(r?),
            Some(Err(_)) => bail!("the tracing thread panicked"),
            None => None,
        };
        Ok((logged?, reader))
    })?;
    let after_ingest = measure::memory(None);
    let queries = if w.no_queries { BTreeMap::new() } else { inproc_queries(&store, &logged, w)? };
    let (log_bytes, segments) = store.log_size();
    let (fsyncs, fsync_time) = store.fsync_stats();
    let events = store.last_seq();
    drop(store);
    let limit = if a.limit { Some(limit_report(&dir, dir.parent().unwrap_or(&dir), 1000)?) } else { None };
    let mut open = json!({});
    if !a.no_open {
        open["replay"] = open_in_child(&dir, false, merkle)?;
        if !a.no_checkpoint {
            let written = open_in_child(&dir, true, merkle)?;
            open["checkpoint_write_seconds"] = written["checkpoint_seconds"].clone();
            open["checkpoint_bytes"] = json!(std::fs::metadata(dir.join("checkpoint")).map(|m| m.len()).unwrap_or(0));
            open["with_checkpoint"] = open_in_child(&dir, false, merkle)?;
        }
    }
    let runs = logged.report.runs.max(1);
    let shares = limit.as_ref().map(|l| {
        let share = |x: Option<f64>, of: &Value| match (x, of.as_f64()) {
            (Some(x), Some(of)) if of > 0.0 => json!((x / of * 1000.0).round() / 1000.0),
            _ => Value::Null,
        };
        json!({
            "ingest_of_append": share(Some(logged.report.runs_per_s), &l["append"]["records_per_s"]),
            "replay_of_read": share(open["replay"]["events_per_s"].as_f64(), &l["read"]["records_per_s"]),
        })
    });
    Ok(json!({
        "mode": "inproc",
        "fsync": a.fsync,
        "audit_tree": merkle,
        "workload": workload_json(w, concurrency),
        "ingest": logged.report,
        "events": events,
        "fsyncs": fsyncs,
        "fsync_seconds": round3(fsync_time.as_secs_f64()),
        "queries": queries,
        "disk": {"log_bytes": log_bytes, "segments": segments, "bytes_per_run": log_bytes / runs},
        "ingest_process_memory": {"before": before, "after": after_ingest},
        "open": open,
        "limit": limit,
        "shares": shares,
        "chain": chain_output.as_ref().map(|_| json!({"runs": a.chain, "trace_loop": reader})),
    }))
}

/// Measures the disk's limit on the log of `dir` (see [`mltrace_benches::limit`]), three times.
fn limit_report(dir: &Path, scratch: &Path, per_sync: u64) -> Result<Value> {
    let segments =
        mltrace_benches::limit::read_log(dir).with_context(|| format!("reading the log of {}", dir.display()))?;
    let limit = mltrace_benches::limit::measure_rounds(&segments, scratch, per_sync, 3)
        .context("measuring the disk's limit")?;
    Ok(serde_json::to_value(limit)?)
}

/// Logs a chain of `n` runs, untimed, in batches of 1,000 without waiting for each fsync: run `i`
/// reads run `i-1`'s output, so the last output's lineage holds every run of the chain. Answers
/// that output.
fn log_chain(store: &Store, n: u64) -> Result<String> {
    let name = |i: u64| format!("s3://acme-lake/chain/step-{i:07}.bin");
    let mut i = 0;
    while i < n {
        let batch: Vec<NewRun> = (i..(i + 1000).min(n))
            .map(|k| {
                let at = mltrace_store::Timestamp(1_700_000_000_000 + k as i64 * 1000);
                let mut r = NewRun::new("chain-step", at, at);
                if k > 0 {
                    r.inputs = vec![mltrace_store::IoSpec { name: name(k - 1), hash: None, kind: None }];
                }
                r.outputs = vec![mltrace_store::IoSpec { name: name(k), hash: None, kind: None }];
                r
            })
            .collect();
        i += batch.len() as u64;
        store.log_runs_owned(batch)?;
    }
    Ok(name(n - 1))
}

/// Traces `output`'s whole lineage with run summaries, as the API's trace does, until `stop`.
fn trace_loop(store: &Store, output: &str, stop: &AtomicBool) -> Result<Value> {
    let mut samples = Samples::default();
    let mut nodes = 0;
    while !stop.load(Ordering::Acquire) {
        let t = Instant::now();
        nodes = store.reader(None).trace(output, None, usize::MAX)?.nodes.len();
        samples.push(t.elapsed());
    }
    Ok(json!({"traces": samples.len(), "nodes": nodes, "latency": samples.summary()}))
}

/// Spawns this binary's `open` mode on `dir`: a fresh process, so its memory is the store's alone.
fn open_in_child(dir: &Path, checkpoint: bool, merkle: bool) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("open").arg(dir);
    if checkpoint {
        cmd.arg("--checkpoint");
    }
    if !merkle {
        cmd.arg("--no-audit-tree");
    }
    let out = cmd.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        bail!("measuring open failed ({})", out.status);
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Opens `dir` read-write (a checkpoint load plus the tail, or a full replay) and reports time and
/// memory; then, if asked, writes a checkpoint.
fn open_report(dir: &Path, checkpoint: bool, merkle: bool) -> Result<Value> {
    let had_checkpoint = dir.join("checkpoint").exists();
    let before = measure::memory(None);
    let t = Instant::now();
    let (store, recovery) = Store::open(dir, LogOptions { merkle, ..LogOptions::default() })?;
    let seconds = t.elapsed().as_secs_f64();
    let after = measure::memory(None);
    let events = store.last_seq();
    let stats = store.reader(None).stats();
    let grown = after.rss_bytes.saturating_sub(before.rss_bytes);
    let mut report = json!({
        "checkpoint_found": had_checkpoint,
        "seconds": round3(seconds),
        "events": events,
        "events_per_s": (events as f64 / seconds.max(1e-9)).round(),
        "log_bytes_read": recovery.bytes,
        "runs": stats.runs,
        "outputs": stats.outputs,
        "memory_before": before,
        "memory_after": after,
        "resident_bytes": grown,
        "resident_bytes_per_run": grown / stats.runs.max(1),
        // What the state itself counts, per index, beside what the process holds.
        "state_bytes_per_run": store.memory().into_iter()
            .map(|(index, bytes)| (index.to_string(), json!(bytes as f64 / stats.runs.max(1) as f64)))
            .collect::<serde_json::Map<String, Value>>(),
    });
    if checkpoint {
        let t = Instant::now();
        store.checkpoint()?;
        report["checkpoint_seconds"] = json!(round3(t.elapsed().as_secs_f64()));
    }
    Ok(report)
}

// ---------------------------------------------------------------- HTTP

struct HttpWriter {
    conn: AsyncConn,
    single: bool,
    /// Send OpenLineage events (with the writer's index and a counter for unique run ids).
    openlineage: Option<(usize, u64)>,
}

/// A run as the two OpenLineage events a client sends: START with the inputs, COMPLETE with the
/// outputs (the `version` facet carrying the hash), in our own namespace so names stay the same.
fn openlineage_events(r: &RunSpec, run_id: &str) -> [Value; 2] {
    let ds = |io: &mltrace_benches::workload::Io| {
        json!({"namespace": "mltrace", "name": io.name,
               "facets": {"version": {"_producer": "loadgen", "_schemaURL": "loadgen", "datasetVersion": io.hash}}})
    };
    let event = |ty: &str, at: i64, inputs: Vec<Value>, outputs: Vec<Value>| {
        json!({"eventType": ty, "eventTime": mltrace_store::Timestamp(at), "producer": "https://github.com/mltrace-rs/mltrace/benches",
               "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
               "run": {"runId": run_id}, "job": {"namespace": "mltrace", "name": r.component},
               "inputs": inputs, "outputs": outputs})
    };
    [
        event("START", r.start, r.inputs.iter().map(ds).collect(), Vec::new()),
        event("COMPLETE", r.end, Vec::new(), r.outputs.iter().map(ds).collect()),
    ]
}

impl HttpWriter {
    /// The request bodies of `runs`: one a run with `--batch 1`, else one.
    fn prepare(&mut self, runs: &[RunSpec]) -> Vec<Vec<u8>> {
        if let Some((writer, counter)) = &mut self.openlineage {
            let mut events = Vec::with_capacity(runs.len() * 2);
            for r in runs {
                *counter += 1;
                events.extend(openlineage_events(r, &format!("0190c0de-{:04x}-7000-8000-{:012x}", *writer, *counter)));
            }
            return if self.single {
                events.iter().map(|e| serde_json::to_vec(e).unwrap_or_default()).collect()
            } else {
                vec![serde_json::to_vec(&events).unwrap_or_default()]
            };
        }
        if self.single {
            runs.iter().map(|r| serde_json::to_vec(r).unwrap_or_default()).collect()
        } else {
            vec![serde_json::to_vec(&json!({ "runs": runs })).unwrap_or_default()]
        }
    }

    async fn submit(&mut self, item: &mut Vec<Vec<u8>>) -> Result<()> {
        let path = if self.openlineage.is_some() { "/api/v1/lineage" } else { "/api/v1/runs" };
        for body in item {
            let a = self.conn.post_json(path, body).await?;
            check(&a, path)?;
        }
        Ok(())
    }

    async fn flag(&mut self, outputs: &[String]) -> Result<()> {
        let body = serde_json::to_vec(&json!({"outputs": outputs, "reason": "bad predictions", "by": "loadgen"}))?;
        let a = self.conn.post_json("/api/v1/flag", &body).await?;
        check(&a, "POST /api/v1/flag")
    }
}

fn check(a: &mltrace_benches::http::Answer, what: &str) -> Result<()> {
    if !(200..300).contains(&a.status) {
        bail!("{what} answered {}: {}", a.status, String::from_utf8_lossy(&a.body[..a.body.len().min(500)]));
    }
    Ok(())
}

/// A server this process started, ended (by its pid) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(bin: &Path, dir: &Path, fsync: &str) -> Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(bin)
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir)
            .arg("--fsync")
            .arg(fsync)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server { child, addr })
    }

    /// Waits until the server answers its health check; answers how long that took.
    fn wait_ready(&mut self, started: Instant, limit: Duration) -> Result<Duration> {
        let mut conn = Conn::new(self.addr)?;
        loop {
            if let Ok(a) = conn.get("/api/v1/health")
                && a.status == 200
            {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}) before it answered");
            }
            if started.elapsed() > limit {
                bail!("the server did not answer within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn memory(&self) -> Memory {
        measure::memory(Some(self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(a: HttpArgs) -> Result<Value> {
    let w = &a.workload;
    let concurrency = w.concurrency.unwrap_or(64).max(1);
    let temp = match &a.tmp {
        Some(t) => tempfile::tempdir_in(t)?,
        None => tempfile::tempdir()?,
    };
    let mut server = None;
    let mut baseline = None;
    let addr = match (&a.addr, &a.server) {
        (Some(addr), _) => *addr,
        (None, Some(bin)) => {
            // The memory of an idle server on an empty directory, to subtract.
            let empty = tempfile::tempdir_in(temp.path())?;
            let mut idle = Server::start(bin, empty.path(), &a.fsync)?;
            idle.wait_ready(Instant::now(), Duration::from_secs(30))?;
            baseline = Some(idle.memory());
            drop(idle);
            let mut s = Server::start(bin, &temp.path().join("data"), &a.fsync)?;
            s.wait_ready(Instant::now(), Duration::from_secs(30))?;
            let addr = s.addr;
            server = Some(s);
            addr
        }
        (None, None) => bail!("give --addr of a running server or --server BIN to start one"),
    };
    let fsyncs_before = fsyncs(addr)?;
    let logged = ingest_http(w, concurrency, |i| {
        Ok(HttpWriter {
            conn: AsyncConn::new(addr)?,
            single: w.batch <= 1,
            openlineage: a.openlineage.then_some((i, 0)),
        })
    })?;
    let (fsync_count, fsync_seconds) = {
        let ((n1, s1), (n0, s0)) = (fsyncs(addr)?, fsyncs_before);
        (n1 - n0, s1 - s0)
    };
    let queries = if w.no_queries { BTreeMap::new() } else { http_queries(addr, &logged, w)? };
    let mut conn = Conn::new(addr)?;
    let stats: Value = serde_json::from_slice(&conn.get("/api/v1/stats")?.body).unwrap_or(Value::Null);
    let runs = logged.report.runs.max(1);
    let log_bytes = stats.get("log_bytes").and_then(Value::as_u64).unwrap_or(0);
    let mut report = json!({
        "mode": if a.openlineage { "http-openlineage" } else { "http" },
        "fsync": a.fsync,
        "workload": workload_json(w, concurrency),
        "ingest": logged.report,
        // The server's fsyncs during the ingest (flags included): how many requests shared one.
        "fsyncs": fsync_count,
        "fsync_seconds": round3(fsync_seconds),
        "runs_per_fsync": round3(runs as f64 / fsync_count.max(1.0)),
        "queries": queries,
        "stats": stats,
        "disk": {"log_bytes": log_bytes, "bytes_per_run": log_bytes / runs},
    });
    if let (Some(mut s), Some(bin)) = (server, &a.server) {
        let after_ingest = s.memory();
        drop(conn);
        let _ = s.child.kill();
        let _ = s.child.wait();
        let started = Instant::now();
        let mut again = Server::start(bin, &temp.path().join("data"), &a.fsync)?;
        let took = again.wait_ready(started, Duration::from_secs(600))?;
        let opened = again.memory();
        let idle = baseline.unwrap_or_default();
        let grown = opened.rss_bytes.saturating_sub(idle.rss_bytes);
        report["server_memory"] = json!({
            "idle_empty": idle, "after_ingest_and_queries": after_ingest, "after_reopen": opened,
            "resident_bytes_per_run": grown / runs,
        });
        report["open"] = json!({"seconds_until_healthy": round3(took.as_secs_f64())});
        drop(again);
    }
    Ok(report)
}

/// The server's fsyncs so far and the seconds they took, from its `/metrics`.
fn fsyncs(addr: SocketAddr) -> Result<(f64, f64)> {
    let a = Conn::new(addr)?.get("/metrics")?;
    check(&a, "GET /metrics")?;
    let text = String::from_utf8_lossy(&a.body);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
            .with_context(|| format!("the server's /metrics has no {name}"))
    };
    Ok((value("mltrace_fsync_duration_seconds_count")?, value("mltrace_fsync_duration_seconds_sum")?))
}

fn http_queries(addr: SocketAddr, logged: &Logged, w: &Workload) -> Result<BTreeMap<String, Value>> {
    let mut conn = Conn::new(addr)?;
    let mut t = Targets::new(&logged.projects, w);
    let (n, secs) = (w.queries, w.query_seconds);
    let few = (n / 10).max(1);
    let mut ops = BTreeMap::new();
    let mut get = |path: String| -> Result<Option<u64>> {
        let a = conn.get(&path)?;
        check(&a, &path)?;
        Ok(None)
    };
    let trace = |t: &mut Targets, extra: &str| -> Result<String> {
        let o = t.pick("preds", 1.0).context("nothing was logged")?;
        Ok(format!("/api/v1/trace?output={}{extra}", encode_query(&o)))
    };
    ops.insert("trace_d10".into(), measure_op(n, secs, || get(trace(&mut t, "&max_depth=10")?))?);
    ops.insert("trace_full".into(), measure_op(few, secs, || get(trace(&mut t, "")?))?);
    ops.insert(
        "downstream".into(),
        measure_op(few, secs, || {
            let o = t.pick("clean", 1.0).context("nothing was logged")?;
            get(format!("/api/v1/downstream?output={}", encode_query(&o)))
        })?,
    );
    ops.insert("review".into(), measure_op((n / 100).max(5), secs, || get("/api/v1/review?limit=20".into()))?);
    ops.insert(
        "history".into(),
        measure_op(few, secs, || {
            let c = t.component(3).context("no component")?;
            get(format!("/api/v1/components/{}/runs?limit=10", encode_query(&c)))
        })?,
    );
    ops.insert("recent".into(), measure_op(few, secs, || get("/api/v1/runs?limit=20".into()))?);
    Ok(ops)
}
