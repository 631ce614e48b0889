//! The heart of mltrace: an event-sourced lineage store.
//!
//! Every change (a component registered or tagged, a run logged, notes set, outputs flagged or
//! unflagged) is an immutable [`Event`] appended to a segmented log on disk. The log is the only
//! truth; everything a query answers comes from indices materialized from it, and replaying the log
//! from scratch rebuilds exactly the state a live store had. No HTTP, no async runtime here: the
//! `api` and `cli` crates are thin layers over [`Store`].
//!
//! # Layout
//!
//! | module     | owns                                                                      |
//! |------------|---------------------------------------------------------------------------|
//! | [`event`]  | the event types: what is written, including everything computed at append |
//! | [`codec`]  | the byte format (segment header, record frame, bincode payload)           |
//! | [`log`]    | segment files, group commit, fsync policies, recovery                      |
//! | [`storage`] | the file I/O seam: the real file system, a simulated disk in tests        |
//! | [`checkpoint`] | a snapshot of the state, so an open replays only the log's tail        |
//! | [`audit`]  | the Merkle tree over the log, signed tree heads, proofs, the tamper check  |
//! | `state`    | the materialized indices and the structural queries, at any past seq      |
//! | [`ingest`] | requests ([`NewRun`]), their validation and their JSON parsing            |
//! | [`store`]  | [`Store`]: writes (validate, resolve, apply, append, sync) and readers     |
//! | [`query`]  | [`Reader`]: every read of the contract, with `as_of`                      |
//! | [`restore`] | exported events appended back verbatim (backups, moving history)         |
//! | [`model`]  | the answers, shaped as the HTTP API's JSON                                |
//! | [`names`]  | the name rules and the interner                                          |
//! | [`memory`] | the pages an open's replay freed, handed back by the binary's allocator   |
//! | [`openlineage`] | OpenLineage events: checks, what we take from them, the naming rules |
//! | [`time`]   | timestamps and `as_of`                                                    |
//! | [`upstream`] | the log backend seam: a shared log (JetStream) this store mirrors       |
//!
//! # Example
//!
//! ```
//! use mltrace_store::{Store, LogOptions, NewRun, Timestamp};
//! let dir = tempfile::tempdir().unwrap();
//! let (store, _) = Store::open(dir.path(), LogOptions::default()).unwrap();
//! let t = Timestamp::parse("2026-11-26T03:00:00Z").unwrap();
//! store.log_run(&NewRun::new("ingest", t, t).outputs(["raw.csv"])).unwrap();
//! store.log_run(&NewRun::new("clean", t, t).inputs(["raw.csv"]).outputs(["clean.csv"])).unwrap();
//! let trace = store.reader(None).trace("clean.csv", None, 10_000).unwrap();
//! assert_eq!(trace.nodes.iter().map(|n| n.run.id).collect::<Vec<_>>(), vec![2, 1]);
//! ```

#![warn(missing_docs)]

pub mod audit;
pub mod checkpoint;
pub mod codec;
pub mod error;
pub mod event;
pub mod ingest;
pub mod log;
pub mod maintenance;
pub mod memory;
pub mod model;
pub mod names;
pub mod openlineage;
pub mod query;
pub mod restore;
mod state;
pub mod storage;
pub mod store;
pub mod time;
pub mod upstream;
pub mod wire;

pub use error::{Result, StoreError};
pub use event::{Event, EventKind, IoType, RunId, RunRecord, Seq, TestResult};
pub use ingest::{IoSpec, NewRun};
pub use log::{FsyncPolicy, LogOptions, Recovery, VerifyReport, verify};
pub use query::{DEFAULT_TRACE_LIMIT, Lineage, Reader};
pub use store::Store;
pub use time::{AsOf, Timestamp};
pub use upstream::LogBackend;
