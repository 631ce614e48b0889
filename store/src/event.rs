//! Events: the only truth. Every change to the store is one of these, appended to the log.
//!
//! An event carries everything that was computed when it was appended (a run's id, its resolved
//! dependencies, its staleness messages, each I/O pointer's type), so replay applies, and never
//! recomputes. These types are what the codec encodes; nothing else is written to disk.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// A run's id: positive, assigned in log order, never reused.
pub type RunId = u32;
/// A log position: 1, 2, 3 ...
pub type Seq = u64;

/// One immutable entry of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log.
    pub seq: Seq,
    /// Append time, epoch milliseconds; never decreases along the log.
    pub at: i64,
    /// What happened.
    pub kind: EventKind,
}

/// What an event records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// A component was registered (created or re-registered): description and owner replaced, tags added.
    ComponentRegistered {
        /// Component name.
        name: String,
        /// New description.
        description: String,
        /// New owner.
        owner: String,
        /// Tags added.
        tags: Vec<String>,
    },
    /// Tags were added to a component.
    ComponentTagged {
        /// Component name.
        name: String,
        /// Tags added.
        tags: Vec<String>,
    },
    /// A run was logged.
    RunLogged(Box<RunRecord>),
    /// A run's notes were replaced.
    NotesSet {
        /// The run.
        run: RunId,
        /// The new notes.
        notes: String,
    },
    /// Outputs were flagged for review.
    Flagged {
        /// The flagged names.
        outputs: Vec<String>,
        /// Why.
        reason: Option<String>,
        /// Who.
        by: Option<String>,
    },
    /// Outputs were unflagged.
    Unflagged {
        /// The names that were flagged and no longer are.
        outputs: Vec<String>,
        /// The request was "unflag all".
        all: bool,
    },
    /// An OpenLineage event was received (see [`crate::openlineage`]).
    Lineage(Box<LineageRecord>),
    /// A signed tree head: the server's Ed25519 signature over the Merkle root of every event before
    /// this one (`size` = this event's seq - 1), at this event's time (see `audit`).
    TreeHead {
        /// Events covered: 1 ..= size.
        size: u64,
        /// Their Merkle root.
        root: [u8; 32],
        /// The signer's public key.
        key: [u8; 32],
        /// The 64-byte signature.
        signature: Vec<u8>,
    },
}

/// An OpenLineage event as received, with everything derived from it when it was appended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LineageRecord {
    /// The event's JSON text exactly as the client sent it (after any gzip was undone).
    pub raw: String,
    /// `RunEvent`, `DatasetEvent` or `JobEvent`.
    pub kind: LineageKind,
    /// `eventTime`, epoch milliseconds.
    pub event_time: i64,
    /// For a run event: what it did to its run.
    pub run: Option<RunUpdate>,
}

/// Which of OpenLineage's three event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineageKind {
    /// A `RunEvent` (has `run`).
    Run,
    /// A `DatasetEvent` (has `dataset`).
    Dataset,
    /// A `JobEvent` (has `job`, no `run`).
    Job,
}

/// A run's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started (or seen), not ended yet.
    #[default]
    Running,
    /// Ended successfully: its outputs are produced.
    Completed,
    /// Ended with an error.
    Failed,
    /// Ended by cancellation.
    Aborted,
}

impl RunStatus {
    /// The spelling in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        }
    }

    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

/// What one OpenLineage run event changed in its run. Lists hold only what is new to the run
/// (merging is a concatenation), scalars hold the run's value after this event, so applying an
/// update never recomputes anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunUpdate {
    /// The run (assigned at the run's first event).
    pub id: RunId,
    /// OpenLineage's `run.runId`, lowercase.
    pub uuid: String,
    /// This event opened the run (assigned its id).
    pub opened: bool,
    /// The component (from `job.namespace` and `job.name`).
    pub component: String,
    /// The `eventType` as sent.
    pub event_type: String,
    /// The run's start after this event.
    pub start: i64,
    /// The run's end after this event (the latest event time while it runs).
    pub end: i64,
    /// The run's status after this event.
    pub status: RunStatus,
    /// Inputs new to the run, with the producers they were resolved to.
    pub inputs: Vec<IoRecord>,
    /// Outputs new to the run.
    pub outputs: Vec<IoRecord>,
    /// Outputs this run becomes the latest producer of with this event (it completed, or it had
    /// completed and named them now), each with its content hash.
    pub produced: Vec<IoRecord>,
    /// Dependencies new to the run.
    pub dependencies: Vec<Dependency>,
    /// Staleness messages about the new dependencies.
    pub stale: Vec<String>,
    /// Git commit (`sourceCodeLocation.version`), when this event gave one.
    pub git_hash: Option<String>,
    /// Source URL (`sourceCodeLocation.url` or `repoUrl`), when this event gave one.
    pub source_url: Option<String>,
    /// Code (`sourceCode.sourceCode` or `sql.query`), when this event gave it.
    pub code_snapshot: Option<String>,
    /// Results from the `test` run facet (and data quality assertions).
    pub tests: Vec<TestResult>,
    /// `errorMessage.message`, when this event gave one.
    pub error: Option<String>,
    /// `parent.run.runId`, lowercase, when this event gave one.
    pub parent: Option<String>,
    /// The parent's component, when this event gave a parent.
    pub parent_component: Option<String>,
}

/// A run as stored in its event: complete and final.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// Component name.
    pub component: String,
    /// Start, epoch milliseconds.
    pub start: i64,
    /// End, epoch milliseconds (>= start).
    pub end: i64,
    /// Inputs, duplicates dropped, order of first appearance kept.
    pub inputs: Vec<IoRecord>,
    /// Outputs, likewise.
    pub outputs: Vec<IoRecord>,
    /// Resolved dependencies, ascending by run id.
    pub dependencies: Vec<Dependency>,
    /// Staleness messages computed at append.
    pub stale: Vec<String>,
    /// Git commit of the code that ran.
    pub git_hash: Option<String>,
    /// Git tags of that commit.
    pub git_tags: Vec<String>,
    /// The code that ran.
    pub code_snapshot: Option<String>,
    /// Notes given at logging time (later replaced by `NotesSet` events).
    pub notes: String,
    /// Results of the client's before/after tests.
    pub tests: Vec<TestResult>,
    /// The client's retry key.
    pub idempotency_key: Option<String>,
}

/// One input or output occurrence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IoRecord {
    /// The pointer's name.
    pub name: String,
    /// Content hash given for this occurrence.
    pub hash: Option<String>,
    /// The pointer's type, as fixed when the name was first seen.
    pub kind: IoType,
    /// For an input: the run it was resolved to (rule 1), if any. Always `None` for an output.
    pub producer: Option<RunId>,
}

/// A resolved dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The run depended on.
    pub run: RunId,
    /// The input that linked it (the first such input), or `None` for an explicit upstream.
    pub via: Option<String>,
}

/// The result of one client-side test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// Test name (`OutliersTest.testZScore`).
    pub name: String,
    /// `before` or `after`.
    pub phase: String,
    /// Whether it passed.
    pub passed: bool,
    /// The failure message, if any.
    pub message: Option<String>,
}

/// What kind of thing an I/O pointer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IoType {
    /// A data set, table or file of records.
    Data,
    /// A trained model.
    Model,
    /// A serving endpoint.
    Endpoint,
    /// Anything else.
    #[default]
    Unknown,
}

impl IoType {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IoType::Data => "data",
            IoType::Model => "model",
            IoType::Endpoint => "endpoint",
            IoType::Unknown => "unknown",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "data" => Some(IoType::Data),
            "model" => Some(IoType::Model),
            "endpoint" => Some(IoType::Endpoint),
            "unknown" => Some(IoType::Unknown),
            _ => None,
        }
    }

    /// Infers the type from the name alone, as the contract's rule says (checked in this order).
    pub fn infer(name: &str) -> Self {
        let lower = name.to_lowercase();
        if lower.contains("data") {
            return IoType::Data;
        }
        if lower.contains("model") {
            return IoType::Model;
        }
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "csv" | "pq" | "parquet" | "txt" | "md" | "rtf" | "tsv" | "xml" | "pdf" | "json" | "jsonl" | "mlt" => {
                IoType::Data
            }
            "h5" | "hdf5" | "joblib" | "pkl" | "pickle" | "ckpt" | "mlmodel" | "pt" | "onnx" | "safetensors" => {
                IoType::Model
            }
            _ => IoType::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_type_is_inferred_from_the_name_alone() {
        assert_eq!(IoType::infer("s3://bucket/MyDataSet"), IoType::Data);
        assert_eq!(IoType::infer("champion-Model-v2"), IoType::Model);
        assert_eq!(IoType::infer("features.parquet"), IoType::Data);
        assert_eq!(IoType::infer("preds.JSONL"), IoType::Data);
        assert_eq!(IoType::infer("clf.pkl"), IoType::Model);
        assert_eq!(IoType::infer("weights.safetensors"), IoType::Model);
        assert_eq!(IoType::infer("pred_17"), IoType::Unknown);
        assert_eq!(IoType::infer("archive.tar.gz"), IoType::Unknown);
        // "data" wins over a model extension: the rule is checked in order.
        assert_eq!(IoType::infer("data.pkl"), IoType::Data);
    }
}

/// An event decoded without copying its strings out of the log's bytes: what replay applies, so
/// that an open allocates only for what the state keeps. Field for field the same encoding as
/// [`Event`] (the codec's round-trip test holds them together).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EventRef<'a> {
    /// Position in the log.
    pub seq: Seq,
    /// Append time, epoch milliseconds.
    pub at: i64,
    /// What happened.
    #[serde(borrow)]
    pub kind: EventKindRef<'a>,
}

/// [`EventKind`], borrowed.
#[allow(missing_docs)]
// A transient value, one at a time on the stack while it is applied: boxing the run would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub enum EventKindRef<'a> {
    ComponentRegistered {
        name: &'a str,
        description: &'a str,
        owner: &'a str,
        #[serde(borrow)]
        tags: Vec<&'a str>,
    },
    ComponentTagged {
        name: &'a str,
        #[serde(borrow)]
        tags: Vec<&'a str>,
    },
    RunLogged(#[serde(borrow)] RunRef<'a>),
    NotesSet {
        run: RunId,
        notes: &'a str,
    },
    Flagged {
        #[serde(borrow)]
        outputs: Vec<&'a str>,
        reason: Option<&'a str>,
        by: Option<&'a str>,
    },
    Unflagged {
        #[serde(borrow)]
        outputs: Vec<&'a str>,
        all: bool,
    },
    // Owned when decoded (OpenLineage events are few next to native runs), borrowed when applied live.
    Lineage(std::borrow::Cow<'a, LineageRecord>),
    TreeHead {
        size: u64,
        root: [u8; 32],
        key: [u8; 32],
        signature: Vec<u8>,
    },
}

/// [`RunRecord`], borrowed, with only what the state keeps: the fields it never reads (messages,
/// git, code, notes, tests) are stepped over while decoding, not collected, so applying a run
/// allocates nothing but the short I/O lists (inline up to four).
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunRef<'a> {
    pub id: RunId,
    pub component: &'a str,
    pub start: i64,
    pub end: i64,
    #[serde(borrow)]
    pub inputs: SmallVec<[IoRef<'a>; 4]>,
    #[serde(borrow)]
    pub outputs: SmallVec<[IoRef<'a>; 4]>,
    #[serde(borrow)]
    pub dependencies: SmallVec<[DependencyRef<'a>; 4]>,
    pub stale: Skipped<&'a str>,
    pub git_hash: Option<&'a str>,
    pub git_tags: Skipped<&'a str>,
    pub code_snapshot: Option<&'a str>,
    pub notes: &'a str,
    pub tests: Skipped<TestRef<'a>>,
    pub idempotency_key: Option<&'a str>,
}

/// A list decoded element by element and dropped: stands in for a field that must be read past.
#[derive(Debug)]
pub struct Skipped<T>(std::marker::PhantomData<T>);

// By hand: derives would ask `T` for the same traits, and nothing of a `T` is ever kept.
impl<T> Default for Skipped<T> {
    fn default() -> Self {
        Skipped(std::marker::PhantomData)
    }
}

impl<T> Clone for Skipped<T> {
    fn clone(&self) -> Self {
        Skipped::default()
    }
}

impl<T> PartialEq for Skipped<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Skipped<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Skipped<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Skipped(std::marker::PhantomData))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

/// [`IoRecord`], borrowed.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct IoRef<'a> {
    pub name: &'a str,
    pub hash: Option<&'a str>,
    pub kind: IoType,
    pub producer: Option<RunId>,
}

/// [`Dependency`], borrowed.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DependencyRef<'a> {
    pub run: RunId,
    pub via: Option<&'a str>,
}

/// [`TestResult`], borrowed.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TestRef<'a> {
    pub name: &'a str,
    pub phase: &'a str,
    pub passed: bool,
    pub message: Option<&'a str>,
}

impl Event {
    /// This event, borrowed (what the state applies).
    pub fn as_ref(&self) -> EventRef<'_> {
        let kind = match &self.kind {
            EventKind::ComponentRegistered { name, description, owner, tags } => {
                EventKindRef::ComponentRegistered { name, description, owner, tags: strs(tags) }
            }
            EventKind::ComponentTagged { name, tags } => EventKindRef::ComponentTagged { name, tags: strs(tags) },
            EventKind::RunLogged(r) => EventKindRef::RunLogged(RunRecord::as_ref(r)),
            EventKind::NotesSet { run, notes } => EventKindRef::NotesSet { run: *run, notes },
            EventKind::Flagged { outputs, reason, by } => {
                EventKindRef::Flagged { outputs: strs(outputs), reason: reason.as_deref(), by: by.as_deref() }
            }
            EventKind::Unflagged { outputs, all } => EventKindRef::Unflagged { outputs: strs(outputs), all: *all },
            EventKind::Lineage(l) => EventKindRef::Lineage(std::borrow::Cow::Borrowed(l)),
            EventKind::TreeHead { size, root, key, signature } => {
                EventKindRef::TreeHead { size: *size, root: *root, key: *key, signature: signature.clone() }
            }
        };
        EventRef { seq: self.seq, at: self.at, kind }
    }
}

impl RunRecord {
    /// This run, borrowed.
    pub fn as_ref(&self) -> RunRef<'_> {
        RunRef {
            id: self.id,
            component: &self.component,
            start: self.start,
            end: self.end,
            inputs: io_refs(&self.inputs),
            outputs: io_refs(&self.outputs),
            dependencies: self
                .dependencies
                .iter()
                .map(|d| DependencyRef { run: d.run, via: d.via.as_deref() })
                .collect(),
            stale: Skipped::default(),
            git_hash: self.git_hash.as_deref(),
            git_tags: Skipped::default(),
            code_snapshot: self.code_snapshot.as_deref(),
            notes: &self.notes,
            tests: Skipped::default(),
            idempotency_key: self.idempotency_key.as_deref(),
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn io_refs(v: &[IoRecord]) -> SmallVec<[IoRef<'_>; 4]> {
    v.iter().map(|i| IoRef { name: &i.name, hash: i.hash.as_deref(), kind: i.kind, producer: i.producer }).collect()
}
