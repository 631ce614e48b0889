//! Benchmark support for mltrace: the workload every benchmark logs, measurement helpers, and the
//! small HTTP client of the load generator.
//!
//! # Layout
//!
//! | module       | owns                                                                      |
//! |--------------|---------------------------------------------------------------------------|
//! | [`workload`] | the synthetic pipeline (ingest → clean → featgen → train → infer)         |
//! | [`measure`]  | latency percentiles, resident memory from `/proc`, bytes on disk          |
//! | [`http`]     | a minimal keep-alive HTTP/1.1 client (loopback only)                      |
//! | [`audit`]    | the audit Merkle tree alone at scale (synthetic leaves), for proof timings |
//! | [`limit`]    | the disk's limit: raw durable append and read-and-checksum of a log's bytes |
//!
//! The criterion benchmarks live in `benches/store.rs`, the `loadgen` binary in `src/main.rs`, the
//! comparison with the peers (mltrace 0.17 on PostgreSQL, MLflow on SQLite) in `peers/`, and the
//! results in `BENCHMARKS.md` at the root of the repository.

#![warn(missing_docs)]

pub mod audit;
pub mod http;
pub mod limit;
pub mod measure;
pub mod workload;

use mltrace_store::{LogOptions, Store};
use std::path::Path;

/// Builds a store in `dir` by logging `runs` runs of one pipeline in batches of 1,000, without
/// fsync (fixtures for the query benchmarks); answers the pipeline, to name its outputs.
pub fn build_store(dir: &Path, project: &str, shape: workload::Shape, runs: u64) -> (Store, workload::Pipeline) {
    let opts = LogOptions { fsync: mltrace_store::FsyncPolicy::Never, ..LogOptions::default() };
    let (store, _) = Store::open(dir, opts).unwrap_or_else(|e| panic!("cannot open a store in {}: {e}", dir.display()));
    let mut pipeline = workload::Pipeline::new(project, shape, 42);
    let mut logged = 0;
    while logged < runs {
        let n = (runs - logged).min(1000);
        let mut batch = Vec::with_capacity(n as usize);
        let mut flags = Vec::new();
        while (batch.len() as u64) < n {
            match pipeline.next_step() {
                workload::Step::Run(r) => batch.push(r.to_new_run()),
                workload::Step::Flag(f) => flags.push(f),
            }
        }
        store.log_runs(&batch).unwrap_or_else(|e| panic!("logging the fixture failed: {e}"));
        if !flags.is_empty() {
            store
                .flag(&flags, Some("bad predictions"), Some("loadgen"))
                .unwrap_or_else(|e| panic!("flagging failed: {e}"));
        }
        logged += n;
    }
    (store, pipeline)
}
