//! The answers: what queries return, shaped exactly as the HTTP API's JSON (`http-api.md`), so the
//! API serializes them as they are, the CLI's `--json` prints the same bytes in either mode, and the
//! Rust client deserializes them back.

use crate::event::{IoType, RunId, RunStatus, Seq, TestResult};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A run in lists: everything but the code snapshot, with I/O as names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub id: RunId,
    /// Seq of the event that logged it.
    pub seq: Seq,
    /// Component name.
    pub component: String,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// End minus start.
    pub duration_ms: i64,
    /// Input names.
    pub inputs: Vec<String>,
    /// Output names.
    pub outputs: Vec<String>,
    /// Dependencies (run ids, ascending).
    pub dependencies: Vec<RunId>,
    /// Staleness messages.
    pub stale: Vec<String>,
    /// Git commit.
    pub git_hash: Option<String>,
    /// Git tags.
    #[serde(default)]
    pub git_tags: Vec<String>,
    /// Notes (as of the query).
    #[serde(default)]
    pub notes: String,
    /// Test results.
    #[serde(default)]
    pub tests: Vec<TestResult>,
    /// The component's owner.
    #[serde(default)]
    pub owner: String,
    /// The component's description.
    #[serde(default)]
    pub description: String,
    /// The component's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// OpenLineage runs only: `running`, `completed`, `failed` or `aborted` (a native run is
    /// logged when it is over, so it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// OpenLineage runs only: the error message of a failed run (`errorMessage` facet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// OpenLineage runs only: the parent run (`parent` facet), when it is logged here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<RunId>,
}

/// One input of a full run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputView {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: IoType,
    /// Hash of this occurrence.
    pub hash: Option<String>,
    /// Flagged (as of the query).
    pub flagged: bool,
    /// The run this input was resolved to, if any.
    pub producer: Option<RunId>,
}

/// One output of a full run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputView {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: IoType,
    /// Hash of this occurrence.
    pub hash: Option<String>,
    /// Flagged (as of the query).
    pub flagged: bool,
}

/// A full run (`GET /api/v1/runs/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// Run id.
    pub id: RunId,
    /// Seq of the event that logged it.
    pub seq: Seq,
    /// Component name.
    pub component: String,
    /// Start.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// End minus start.
    pub duration_ms: i64,
    /// Inputs.
    pub inputs: Vec<InputView>,
    /// Outputs.
    pub outputs: Vec<OutputView>,
    /// Dependencies.
    pub dependencies: Vec<RunId>,
    /// Staleness messages.
    pub stale: Vec<String>,
    /// Git commit.
    pub git_hash: Option<String>,
    /// Git tags.
    pub git_tags: Vec<String>,
    /// Code that ran.
    pub code_snapshot: Option<String>,
    /// Notes (as of the query).
    pub notes: String,
    /// Test results.
    pub tests: Vec<TestResult>,
    /// The component's owner.
    pub owner: String,
    /// The component's description.
    pub description: String,
    /// The component's tags.
    pub tags: Vec<String>,
    /// OpenLineage runs only: `running`, `completed`, `failed` or `aborted` (a native run is
    /// logged when it is over, so it has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// OpenLineage runs only: the error message of a failed run (`errorMessage` facet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// OpenLineage runs only: the parent run (`parent` facet), when it is logged here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<RunId>,
    /// OpenLineage runs only: the run card's OpenLineage details (`run_id`, `job`, `events`,
    /// `parent`, `source_url`, `nominal_time`, `processing_engine`, `environment_variables`) and
    /// every facet as received (`facets`: `run`, `job`, `inputs`, `outputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openlineage: Option<serde_json::Value>,
}

/// What appending one OpenLineage event answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageLogged {
    /// The event's seq.
    pub seq: Seq,
    /// The run it belongs to (run events only).
    pub run: Option<RunId>,
    /// The run's status after it.
    pub status: Option<RunStatus>,
}

/// What logging one run answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    /// The run's id.
    pub id: RunId,
    /// Its seq.
    pub seq: Seq,
    /// Resolved dependencies.
    pub dependencies: Vec<RunId>,
    /// Staleness messages.
    pub stale: Vec<String>,
}

/// A component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owner.
    pub owner: String,
    /// Tags, sorted.
    pub tags: Vec<String>,
}

/// A component with its runs (`GET /api/v1/components/{name}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentDetail {
    /// The component.
    #[serde(flatten)]
    pub component: ComponentView,
    /// Number of runs.
    pub run_count: u64,
    /// The latest run (highest id).
    pub latest_run: Option<RunSummary>,
    /// Whether a dependency of the latest run was superseded.
    pub outdated: bool,
}

/// A tag and how many components carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    /// Tag.
    pub name: String,
    /// Components with it.
    pub components: u64,
}

/// A lineage edge: `from` depends on `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeView {
    /// The dependent run.
    pub from: RunId,
    /// The dependency.
    pub to: RunId,
    /// The input linking them; `None` for an explicit upstream.
    pub via: Option<String>,
}

/// A run in a trace or downstream answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceNode {
    /// Distance from the root.
    pub depth: u32,
    /// The run.
    pub run: RunSummary,
}

/// `GET /api/v1/trace`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    /// The traced output.
    pub output: String,
    /// Its latest producer, where the walk starts.
    pub root: Option<RunId>,
    /// The node limit cut the walk short.
    pub truncated: bool,
    /// Runs in pre-order.
    pub nodes: Vec<TraceNode>,
    /// Edges between listed runs.
    pub edges: Vec<EdgeView>,
}

/// `GET /api/v1/downstream`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownstreamView {
    /// The output.
    pub output: String,
    /// Runs that produced it.
    pub producers: Vec<RunId>,
    /// Runs derived from it, by depth.
    pub runs: Vec<TraceNode>,
    /// Outputs those runs wrote.
    pub outputs: Vec<String>,
    /// Edges between listed runs (and from them to the producers).
    pub edges: Vec<EdgeView>,
    /// The node limit cut the walk short.
    pub truncated: bool,
}

/// A flag on an output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagView {
    /// Output name.
    pub name: String,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub by: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// The flag details in an I/O answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagInfo {
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub by: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// `GET /api/v1/io`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoView {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: IoType,
    /// Flagged.
    pub flagged: bool,
    /// Flag details when flagged.
    pub flag: Option<FlagInfo>,
    /// Runs that wrote it, ascending.
    pub producers: Vec<RunId>,
    /// Runs that read it, ascending.
    pub consumers: Vec<RunId>,
}

/// A run in a review, with how many flagged outputs it helped produce.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRun {
    /// The run.
    pub run: RunSummary,
    /// Flagged outputs whose trace contains it.
    pub count: u64,
    /// `count` over the number of flagged outputs.
    pub coverage: f64,
    /// Outputs the run still contributes to: names whose latest producer is the run or one of
    /// its transitive dependents (flagged or not; `count` of them are flagged). Absent (0) from
    /// servers older than this field.
    #[serde(default)]
    pub reach: u64,
    /// `count` over `reach`: 1.0 when everything the run feeds is flagged, lower when it also
    /// fed healthy outputs.
    #[serde(default)]
    pub specificity: f64,
}

/// The order of review's runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReviewRank {
    /// The contract's order: count descending, then id descending.
    #[default]
    Count,
    /// Specificity descending, then count descending, then id descending: runs specific to the
    /// flagged outputs before runs that fed everything.
    Specificity,
}

impl ReviewRank {
    /// Parses `count` or `specificity`.
    pub fn parse(text: &str) -> Option<ReviewRank> {
        match text {
            "count" => Some(ReviewRank::Count),
            "specificity" => Some(ReviewRank::Specificity),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewRank::Count => "count",
            ReviewRank::Specificity => "specificity",
        }
    }
}

/// `GET /api/v1/review`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    /// Flagged outputs.
    pub flagged: Vec<FlagView>,
    /// Flagged outputs that no run produced.
    pub unresolved: Vec<String>,
    /// Runs, most common first.
    pub runs: Vec<ReviewRun>,
}

/// A component whose latest run used superseded inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutdatedComponent {
    /// Component name.
    pub name: String,
    /// Its latest run.
    pub latest_run: RunSummary,
    /// One line per superseded dependency.
    pub reasons: Vec<String>,
}

/// Counts and sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Seq of the last event (as of the query).
    pub last_seq: Seq,
    /// Events.
    pub events: u64,
    /// Runs.
    pub runs: u64,
    /// Components.
    pub components: u64,
    /// Distinct I/O names.
    pub outputs: u64,
    /// Flagged outputs.
    pub flags: u64,
    /// Bytes in the log.
    pub log_bytes: u64,
    /// Segment files.
    pub segments: u64,
}

/// Completion candidates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Suggestions {
    /// Component names.
    pub components: Vec<String>,
    /// I/O names.
    pub outputs: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// An event as one line of `GET /api/v1/events` and `mltrace export` (see `docs/decisions.md`).
pub fn event_json(e: &crate::event::Event) -> serde_json::Value {
    use crate::event::EventKind;
    use serde_json::json;
    let at = Timestamp(e.at);
    match &e.kind {
        EventKind::ComponentRegistered { name, description, owner, tags } => json!({
            "seq": e.seq, "at": at, "type": "component_registered",
            "component": {"name": name, "description": description, "owner": owner, "tags": tags},
        }),
        EventKind::ComponentTagged { name, tags } => json!({
            "seq": e.seq, "at": at, "type": "component_tagged", "component": name, "tags": tags,
        }),
        EventKind::RunLogged(r) => {
            let io = |list: &[crate::event::IoRecord], inputs: bool| -> Vec<serde_json::Value> {
                list.iter()
                    .map(|i| {
                        let mut v = json!({"name": i.name, "type": i.kind, "hash": i.hash});
                        if inputs {
                            v["producer"] = json!(i.producer);
                        }
                        v
                    })
                    .collect()
            };
            json!({
                "seq": e.seq, "at": at, "type": "run_logged",
                "run": {
                    "id": r.id, "seq": e.seq, "component": r.component,
                    "start": Timestamp(r.start), "end": Timestamp(r.end), "duration_ms": r.end - r.start,
                    "inputs": io(&r.inputs, true), "outputs": io(&r.outputs, false),
                    "dependencies": r.dependencies.iter().map(|d| d.run).collect::<Vec<_>>(),
                    "edges": r.dependencies.iter().map(|d| json!({"to": d.run, "via": d.via})).collect::<Vec<_>>(),
                    "stale": r.stale, "git_hash": r.git_hash, "git_tags": r.git_tags,
                    "code_snapshot": r.code_snapshot, "notes": r.notes, "tests": r.tests,
                    "idempotency_key": r.idempotency_key,
                },
            })
        }
        EventKind::NotesSet { run, notes } => json!({
            "seq": e.seq, "at": at, "type": "notes_set", "run": run, "notes": notes,
        }),
        EventKind::Flagged { outputs, reason, by } => json!({
            "seq": e.seq, "at": at, "type": "flagged", "outputs": outputs, "reason": reason, "by": by,
        }),
        EventKind::Unflagged { outputs, all } => json!({
            "seq": e.seq, "at": at, "type": "unflagged", "outputs": outputs, "all": all,
        }),
        EventKind::Lineage(l) => {
            let kind = match l.kind {
                crate::event::LineageKind::Run => "RunEvent",
                crate::event::LineageKind::Dataset => "DatasetEvent",
                crate::event::LineageKind::Job => "JobEvent",
            };
            let io = |list: &[crate::event::IoRecord]| -> Vec<serde_json::Value> {
                list.iter()
                    .map(|i| json!({"name": i.name, "type": i.kind, "hash": i.hash, "producer": i.producer}))
                    .collect()
            };
            let run = l.run.as_ref().map(|u| {
                json!({
                    "id": u.id, "run_id": u.uuid, "opened": u.opened, "component": u.component,
                    "event_type": u.event_type, "start": Timestamp(u.start), "end": Timestamp(u.end),
                    "status": u.status, "inputs": io(&u.inputs), "outputs": io(&u.outputs),
                    "produced": io(&u.produced),
                    "edges": u.dependencies.iter().map(|d| json!({"to": d.run, "via": d.via})).collect::<Vec<_>>(),
                    "stale": u.stale, "git_hash": u.git_hash, "source_url": u.source_url,
                    "code_snapshot": u.code_snapshot, "tests": u.tests, "error": u.error,
                    "parent": u.parent, "parent_component": u.parent_component,
                })
            });
            json!({
                "seq": e.seq, "at": at, "type": "openlineage", "kind": kind,
                "event_time": Timestamp(l.event_time), "raw": l.raw, "run": run,
            })
        }
        EventKind::TreeHead { size, root, key, signature } => {
            use base64::Engine;
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            json!({
                "seq": e.seq, "at": at, "type": "tree_head", "size": size, "root": b64(root),
                "timestamp": e.at, "public_key": b64(key), "signature": b64(signature),
            })
        }
    }
}
