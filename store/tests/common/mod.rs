//! Helpers shared by the store's test binaries (`contract`, `model`, `crash`): times, runs, stores.
//!
//! Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use mltrace_store::model::RunSummary;
use mltrace_store::{FsyncPolicy, LogOptions, NewRun, RunId, Store, StoreError, Timestamp};
use std::path::Path;

/// 2026-01-01T00:00:00Z in epoch milliseconds: the start of every scenario.
pub const BASE_MS: i64 = 1_767_225_600_000;
/// One hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day, in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// `days` days and `hours` hours after [`BASE_MS`].
pub fn at(days: i64, hours: i64) -> Timestamp {
    Timestamp(BASE_MS + days * DAY_MS + hours * HOUR_MS)
}

/// Log options for tests that are not about durability: no fsync, so the suite stays fast.
pub fn fast() -> LogOptions {
    LogOptions { fsync: FsyncPolicy::Never, ..LogOptions::default() }
}

/// Opens a store for writing; panics with the error otherwise.
pub fn open_with(dir: &Path, opts: LogOptions) -> Store {
    match Store::open(dir, opts) {
        Ok((store, _)) => store,
        Err(e) => panic!("cannot open {}: {e}", dir.display()),
    }
}

/// Opens a store with [`fast`] options.
pub fn open(dir: &Path) -> Store {
    open_with(dir, fast())
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

/// A run of `component` starting at `start` and lasting one minute.
pub fn run<'a>(
    component: &str,
    start: Timestamp,
    inputs: impl IntoIterator<Item = &'a str>,
    outputs: impl IntoIterator<Item = &'a str>,
) -> NewRun {
    NewRun::new(component, start, Timestamp(start.0 + 60_000)).inputs(inputs).outputs(outputs)
}

/// Logs a run and answers its id; panics with the error otherwise.
pub fn log(store: &Store, run: &NewRun) -> RunId {
    match store.log_run(run) {
        Ok(logged) => logged.id,
        Err(e) => panic!("logging a run of {} failed: {e}", run.component),
    }
}

/// The ids of a list of runs.
pub fn ids(runs: &[RunSummary]) -> Vec<RunId> {
    runs.iter().map(|r| r.id).collect()
}

/// Names as owned strings, for the APIs that take `&[String]`.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The variant and field of an error, for comparing errors.
pub fn error_kind(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => format!("invalid {field}"),
        StoreError::NotFound { field, .. } => format!("not found {field}"),
        StoreError::Unavailable(_) | StoreError::Conflict(_) => "unavailable".into(),
        StoreError::Locked { .. } => "locked".into(),
        StoreError::Corrupt { .. } => "corrupt".into(),
        StoreError::Io { .. } => "io".into(),
    }
}
