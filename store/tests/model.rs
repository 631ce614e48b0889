//! The store against a deliberately naive reference model.
//!
//! The model below is written from the contract (`docs/concepts.md`) and `docs/decisions.md`
//! alone: plain vectors, linear scans, recursive walks, no indices, no interning, no log. Random
//! sequences of writes (single runs, batches with valid and invalid runs, idempotency keys,
//! registrations, tags, notes, flags, unflags, checkpoints, reopens) go to both, and every read must answer the
//! same, live and after reopen. Every answer the live store gave is also kept by seq, and at the
//! end `as_of` that seq must give it again, live and after a final reopen.
//!
//! `PROPTEST_CASES` sets the number of cases (64 by default).

mod common;

use common::*;
use mltrace_store::model::{ComponentDetail, IoView, RunDetail};
use mltrace_store::{
    AsOf, FsyncPolicy, IoSpec, IoType, LogOptions, NewRun, Reader, RunId, Store, StoreError, Timestamp,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const COMPONENTS: [&str; 5] = ["ingest", "clean", "featuregen", "train", "eval"];
/// Never registered, tagged or run: naming it as upstream is an error.
const GHOST: &str = "ghost";
const IO: [&str; 8] = [
    "raw.csv",
    "features.parquet",
    "model.pkl",
    "metrics",
    "s3://bucket/DataSet",
    "endpoint-v1",
    "preds",
    "weights.onnx",
];
/// Never read or written: flagging it is an error.
const UNSEEN: &str = "never-seen";
const HASHES: [&str; 2] = ["sha256:aa", "sha256:bb"];
const KEYS: [&str; 3] = ["retry-1", "retry-2", "retry-3"];
const TEXTS: [&str; 3] = ["", "first", "second"];
const OWNERS: [&str; 3] = ["", "alice", "bob"];
const TAGS: [&str; 3] = ["etl", "ml", "nightly"];
const DAY_S: u64 = 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct IoPick {
    name: usize,
    hash: Option<usize>,
    kind: Option<IoType>,
}

#[derive(Clone, Debug)]
struct RunSpec {
    component: usize,
    /// Start, in half days after the base time.
    start: i64,
    /// Duration in hours; negative makes an invalid run (end before start).
    hours: i64,
    inputs: Vec<IoPick>,
    outputs: Vec<IoPick>,
    /// Indices into COMPONENTS; `COMPONENTS.len()` is the ghost.
    upstream: Vec<usize>,
    from_inputs: bool,
    threshold_s: u64,
    key: Option<usize>,
}

#[derive(Clone, Debug)]
enum Op {
    Run(RunSpec),
    Batch(Vec<RunSpec>),
    Register {
        component: usize,
        description: usize,
        owner: usize,
        tags: Vec<usize>,
    },
    Tag {
        component: usize,
        tags: Vec<usize>,
    },
    Notes {
        run: RunId,
        text: usize,
    },
    /// Indices into IO; `IO.len()` is the unseen name.
    Flag {
        names: Vec<usize>,
        reason: Option<usize>,
        by: Option<usize>,
    },
    Unflag {
        names: Vec<usize>,
    },
    UnflagAll,
    Reopen {
        segment_bytes: u64,
    },
    /// Writes a checkpoint of the state: later reopens load it and replay only the events after it.
    Checkpoint,
}

fn io_pick() -> impl Strategy<Value = IoPick> {
    let kind = prop_oneof![Just(IoType::Data), Just(IoType::Model), Just(IoType::Endpoint), Just(IoType::Unknown)];
    (0..IO.len(), proptest::option::weighted(0.3, 0..HASHES.len()), proptest::option::weighted(0.15, kind))
        .prop_map(|(name, hash, kind)| IoPick { name, hash, kind })
}

fn run_spec() -> impl Strategy<Value = RunSpec> {
    (
        0..COMPONENTS.len(),
        0i64..140,
        prop_oneof![24 => 0i64..4, 1 => Just(-1i64)],
        proptest::collection::vec(io_pick(), 0..3),
        proptest::collection::vec(io_pick(), 0..3),
        prop_oneof![
            12 => Just(Vec::new()),
            4 => proptest::collection::vec(0..COMPONENTS.len(), 1..3),
            1 => Just(vec![COMPONENTS.len()]),
        ],
        proptest::bool::weighted(0.85),
        prop_oneof![Just(30 * DAY_S), Just(DAY_S), Just(0)],
        proptest::option::weighted(0.2, 0..KEYS.len()),
    )
        .prop_map(|(component, start, hours, inputs, outputs, upstream, from_inputs, threshold_s, key)| RunSpec {
            component,
            start,
            hours,
            inputs,
            outputs,
            upstream,
            from_inputs,
            threshold_s,
            key,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let names = || proptest::collection::vec(prop_oneof![20 => 0..IO.len(), 1 => Just(IO.len())], 1..4);
    let tags = || proptest::collection::vec(0..TAGS.len(), 0..3);
    prop_oneof![
        14 => run_spec().prop_map(Op::Run),
        3 => proptest::collection::vec(run_spec(), 0..4).prop_map(Op::Batch),
        2 => (0..COMPONENTS.len(), 0..TEXTS.len(), 0..OWNERS.len(), tags()).prop_map(
            |(component, description, owner, tags)| Op::Register { component, description, owner, tags }
        ),
        1 => (0..COMPONENTS.len(), tags()).prop_map(|(component, tags)| Op::Tag { component, tags }),
        2 => (1..30u32, 0..TEXTS.len()).prop_map(|(run, text)| Op::Notes { run, text }),
        4 => (
            names(),
            proptest::option::of(0..TEXTS.len()),
            proptest::option::of(1..OWNERS.len())
        )
            .prop_map(|(names, reason, by)| Op::Flag { names, reason, by }),
        2 => names().prop_map(|names| Op::Unflag { names }),
        1 => Just(Op::UnflagAll),
        1 => prop_oneof![Just(1024u64), Just(4096), Just(64 * 1024 * 1024)]
            .prop_map(|segment_bytes| Op::Reopen { segment_bytes }),
        1 => Just(Op::Checkpoint),
    ]
}

fn to_request(spec: &RunSpec) -> NewRun {
    let start = Timestamp(BASE_MS + spec.start * 12 * HOUR_MS);
    let mut r = NewRun::new(COMPONENTS[spec.component], start, Timestamp(start.0 + spec.hours * HOUR_MS));
    let io =
        |p: &IoPick| IoSpec { name: IO[p.name].to_string(), hash: p.hash.map(|h| HASHES[h].to_string()), kind: p.kind };
    r.inputs = spec.inputs.iter().map(io).collect();
    r.outputs = spec.outputs.iter().map(io).collect();
    r.upstream = spec.upstream.iter().map(|&u| COMPONENTS.get(u).copied().unwrap_or(GHOST).to_string()).collect();
    r.dependencies_from_inputs = spec.from_inputs;
    r.staleness_threshold_s = spec.threshold_s;
    r.idempotency_key = spec.key.map(|k| KEYS[k].to_string());
    r
}

fn io_names(picks: &[usize]) -> Vec<String> {
    picks.iter().map(|&i| IO.get(i).copied().unwrap_or(UNSEEN).to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MIo {
    name: String,
    hash: Option<String>,
    producer: Option<RunId>,
}

#[derive(Clone, Debug)]
struct MRun {
    id: RunId,
    seq: u64,
    component: String,
    start: i64,
    end: i64,
    inputs: Vec<MIo>,
    outputs: Vec<MIo>,
    deps: Vec<(RunId, Option<String>)>,
    stale: Vec<String>,
    notes: String,
    key: Option<String>,
}

#[derive(Clone, Debug)]
struct MComponent {
    name: String,
    description: String,
    owner: String,
    tags: Vec<String>,
}

#[derive(Clone, Debug)]
struct MFlag {
    name: String,
    reason: Option<String>,
    by: Option<String>,
}

/// What the store answers to a write: `(id, seq, dependencies, stale)` per run, or an error.
type Written = Result<Vec<(RunId, u64, Vec<RunId>, Vec<String>)>, Vec<String>>;

#[derive(Clone, Debug, Default)]
struct Model {
    seq: u64,
    /// Seq of the last signed tree head (written by checkpoints).
    last_head: u64,
    runs: Vec<MRun>,
    components: Vec<MComponent>,
    /// Every I/O name in order of first appearance, with its type.
    kinds: Vec<(String, IoType)>,
    /// Flagged names, oldest flag first.
    flags: Vec<MFlag>,
}

/// The contract's type inference, from the name alone.
fn infer(name: &str) -> IoType {
    let lower = name.to_lowercase();
    if lower.contains("data") {
        return IoType::Data;
    }
    if lower.contains("model") {
        return IoType::Model;
    }
    let extension = match lower.rfind('.') {
        Some(dot) => &lower[dot + 1..],
        None => "",
    };
    let data = ["csv", "pq", "parquet", "txt", "md", "rtf", "tsv", "xml", "pdf", "json", "jsonl", "mlt"];
    let model = ["h5", "hdf5", "joblib", "pkl", "pickle", "ckpt", "mlmodel", "pt", "onnx", "safetensors"];
    if data.contains(&extension) {
        IoType::Data
    } else if model.contains(&extension) {
        IoType::Model
    } else {
        IoType::Unknown
    }
}

fn dedup_io(list: &[IoSpec]) -> Vec<IoSpec> {
    let mut out: Vec<IoSpec> = Vec::new();
    for io in list {
        if !out.iter().any(|o| o.name == io.name) {
            out.push(io.clone());
        }
    }
    out
}

fn dedup_names(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in list {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

impl Model {
    fn run(&self, id: RunId) -> Option<&MRun> {
        self.runs.iter().find(|r| r.id == id)
    }

    fn component(&self, name: &str) -> Option<&MComponent> {
        self.components.iter().find(|c| c.name == name)
    }

    fn component_mut(&mut self, name: &str) -> &mut MComponent {
        if self.component(name).is_none() {
            self.components.push(MComponent {
                name: name.to_string(),
                description: String::new(),
                owner: String::new(),
                tags: Vec::new(),
            });
        }
        let i = self.components.iter().position(|c| c.name == name).unwrap_or_default();
        &mut self.components[i]
    }

    fn kind(&self, name: &str) -> Option<IoType> {
        self.kinds.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
    }

    fn latest_run_of(&self, component: &str) -> Option<RunId> {
        self.runs.iter().filter(|r| r.component == component).map(|r| r.id).max()
    }

    fn producers(&self, name: &str) -> Vec<RunId> {
        self.runs.iter().filter(|r| r.outputs.iter().any(|o| o.name == name)).map(|r| r.id).collect()
    }

    fn consumers(&self, name: &str) -> Vec<RunId> {
        self.runs.iter().filter(|r| r.inputs.iter().any(|i| i.name == name)).map(|r| r.id).collect()
    }

    fn is_flagged(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name)
    }

    /// A batch: validated whole, then applied in order.
    fn log_runs(&mut self, batch: &[NewRun]) -> Written {
        let mut errors = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            if r.end < r.start {
                errors.push(format!("invalid runs[{i}].end"));
            }
            for (j, up) in r.upstream.iter().enumerate() {
                let known = self.component(up).is_some() || batch[..i].iter().any(|earlier| &earlier.component == up);
                if !known {
                    errors.push(format!("invalid runs[{i}].upstream[{j}]"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut answers = Vec::new();
        for r in batch {
            let original =
                r.idempotency_key.as_ref().and_then(|k| self.runs.iter().find(|run| run.key.as_ref() == Some(k)));
            let run = match original {
                Some(run) => run.clone(),
                None => self.apply_run(r),
            };
            answers.push((run.id, run.seq, run.deps.iter().map(|d| d.0).collect(), run.stale.clone()));
        }
        Ok(answers)
    }

    fn apply_run(&mut self, r: &NewRun) -> MRun {
        let inputs = dedup_io(&r.inputs);
        let outputs = dedup_io(&r.outputs);
        let mut deps: Vec<(RunId, Option<String>)> = Vec::new();
        let mut resolved_inputs = Vec::new();
        for input in &inputs {
            let mut producer = None;
            if r.dependencies_from_inputs {
                let same_hash = input.hash.as_ref().and_then(|h| {
                    self.runs
                        .iter()
                        .filter(|run| run.outputs.iter().any(|o| o.name == input.name && o.hash.as_ref() == Some(h)))
                        .map(|run| run.id)
                        .max()
                });
                producer = same_hash.or_else(|| self.producers(&input.name).into_iter().max());
                if let Some(p) = producer
                    && !deps.iter().any(|d| d.0 == p)
                {
                    deps.push((p, Some(input.name.clone())));
                }
            }
            resolved_inputs.push(MIo { name: input.name.clone(), hash: input.hash.clone(), producer });
        }
        for up in &r.upstream {
            if let Some(p) = self.latest_run_of(up)
                && !deps.iter().any(|d| d.0 == p)
            {
                deps.push((p, None));
            }
        }
        deps.sort_by_key(|d| d.0);
        let start = r.start.0;
        let mut stale = Vec::new();
        for (d, _) in &deps {
            let Some(dep) = self.run(*d) else { continue };
            let age = start - dep.start;
            if age > r.staleness_threshold_s as i64 * 1000 {
                stale.push(format!("{} (ID {d}) was run {} days ago.", dep.component, age.div_euclid(DAY_MS)));
            }
            let fresher = self
                .runs
                .iter()
                .filter(|o| o.component == dep.component && o.id != dep.id && dep.start <= o.start && o.start <= start)
                .count();
            if fresher >= 1 {
                let noun = if fresher == 1 { "run" } else { "runs" };
                stale.push(format!(
                    "{} (ID {d}) has {fresher} fresher {noun} that began before this component run started.",
                    dep.component
                ));
            }
        }
        for io in inputs.iter().chain(outputs.iter()) {
            if self.kind(&io.name).is_none() {
                self.kinds.push((io.name.clone(), io.kind.unwrap_or_else(|| infer(&io.name))));
            }
        }
        self.component_mut(&r.component);
        self.seq += 1;
        let run = MRun {
            id: self.runs.len() as RunId + 1,
            seq: self.seq,
            component: r.component.clone(),
            start,
            end: r.end.0,
            inputs: resolved_inputs,
            outputs: outputs
                .iter()
                .map(|o| MIo { name: o.name.clone(), hash: o.hash.clone(), producer: None })
                .collect(),
            deps,
            stale,
            notes: r.notes.clone(),
            key: r.idempotency_key.clone(),
        };
        self.runs.push(run.clone());
        run
    }

    fn register(&mut self, name: &str, description: &str, owner: &str, tags: &[String]) {
        self.seq += 1;
        let c = self.component_mut(name);
        c.description = description.to_string();
        c.owner = owner.to_string();
        for t in tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
    }

    fn tag(&mut self, name: &str, tags: &[String]) -> Result<(), String> {
        if self.component(name).is_none() {
            return Err("not found name".into());
        }
        self.seq += 1;
        let c = self.component_mut(name);
        for t in tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
        Ok(())
    }

    fn set_notes(&mut self, id: RunId, notes: &str) -> Result<(), String> {
        let Some(i) = self.runs.iter().position(|r| r.id == id) else {
            return Err("not found id".into());
        };
        self.runs[i].notes = notes.to_string();
        self.seq += 1;
        Ok(())
    }

    fn unknown(&self, names: &[String]) -> Option<String> {
        let i = names.iter().position(|n| self.kind(n).is_none())?;
        Some(format!("not found outputs[{i}]"))
    }

    fn flag(&mut self, names: &[String], reason: Option<&str>, by: Option<&str>) -> Result<Vec<String>, String> {
        if let Some(e) = self.unknown(names) {
            return Err(e);
        }
        let names = dedup_names(names);
        for n in &names {
            self.flags.retain(|f| &f.name != n);
            self.flags.push(MFlag { name: n.clone(), reason: reason.map(str::to_string), by: by.map(str::to_string) });
        }
        self.seq += 1;
        Ok(names)
    }

    fn unflag(&mut self, names: &[String]) -> Result<Vec<String>, String> {
        if let Some(e) = self.unknown(names) {
            return Err(e);
        }
        let was: Vec<String> = dedup_names(names).into_iter().filter(|n| self.is_flagged(n)).collect();
        if !was.is_empty() {
            self.flags.retain(|f| !was.contains(&f.name));
            self.seq += 1;
        }
        Ok(was)
    }

    fn unflag_all(&mut self) -> Vec<String> {
        let was: Vec<String> = self.flags.iter().map(|f| f.name.clone()).collect();
        if !was.is_empty() {
            self.flags.clear();
            self.seq += 1;
        }
        was
    }

    /// Depth-first, pre-order, dependencies ascending, each run once at its first visit.
    fn walk(&self, id: RunId, depth: u32, max_depth: Option<u32>, seen: &mut Vec<(RunId, u32)>) {
        if seen.iter().any(|(s, _)| *s == id) {
            return;
        }
        seen.push((id, depth));
        if max_depth.is_some_and(|m| depth >= m) {
            return;
        }
        if let Some(run) = self.run(id) {
            for (dep, _) in &run.deps {
                self.walk(*dep, depth + 1, max_depth, seen);
            }
        }
    }

    fn trace(&self, output: &str, max_depth: Option<u32>) -> Result<TraceAnswer, String> {
        if self.kind(output).is_none() {
            return Err("not found output".into());
        }
        let Some(root) = self.producers(output).into_iter().max() else {
            return Ok(TraceAnswer { root: None, nodes: vec![], edges: vec![] });
        };
        let mut nodes = Vec::new();
        self.walk(root, 0, max_depth, &mut nodes);
        let mut edges = Vec::new();
        for &(id, depth) in &nodes {
            if max_depth.is_some_and(|m| depth >= m) {
                continue;
            }
            for (dep, via) in &self.run(id).map(|r| r.deps.clone()).unwrap_or_default() {
                edges.push((id, *dep, via.clone()));
            }
        }
        edges.sort();
        Ok(TraceAnswer { root: Some(root), nodes, edges })
    }

    fn dependents(&self, id: RunId) -> Vec<RunId> {
        self.runs.iter().filter(|r| r.deps.iter().any(|d| d.0 == id)).map(|r| r.id).collect()
    }

    /// decisions.md: the runs that transitively depend on the producers, by depth (breadth first),
    /// excluding the producers; for a source, its direct consumers are depth 1.
    fn downstream(&self, output: &str) -> Result<DownstreamAnswer, String> {
        if self.kind(output).is_none() {
            return Err("not found output".into());
        }
        let producers = self.producers(output);
        let mut frontier: Vec<RunId> = if producers.is_empty() {
            self.consumers(output)
        } else {
            self.runs.iter().filter(|r| r.deps.iter().any(|d| producers.contains(&d.0))).map(|r| r.id).collect()
        };
        let mut nodes: Vec<(RunId, u32)> = Vec::new();
        let mut depth = 1;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for id in frontier {
                if producers.contains(&id) || nodes.iter().any(|(n, _)| *n == id) {
                    continue;
                }
                nodes.push((id, depth));
                next.extend(self.dependents(id));
            }
            next.sort_unstable();
            next.dedup();
            frontier = next;
            depth += 1;
        }
        let mut outputs: Vec<String> = Vec::new();
        let mut edges = Vec::new();
        for &(id, _) in &nodes {
            let run = self.run(id).cloned().expect("listed runs exist");
            for o in &run.outputs {
                if !outputs.contains(&o.name) {
                    outputs.push(o.name.clone());
                }
            }
            for (dep, via) in &run.deps {
                if producers.contains(dep) || nodes.iter().any(|(n, _)| n == dep) {
                    edges.push((id, *dep, via.clone()));
                }
            }
        }
        edges.sort();
        Ok(DownstreamAnswer { producers, runs: nodes, outputs, edges })
    }

    fn review(&self) -> ReviewAnswer {
        let mut counts: BTreeMap<RunId, u64> = BTreeMap::new();
        let mut unresolved = Vec::new();
        for f in &self.flags {
            match self.producers(&f.name).into_iter().max() {
                Some(root) => {
                    let mut lineage = Vec::new();
                    self.walk(root, 0, None, &mut lineage);
                    for (id, _) in lineage {
                        *counts.entry(id).or_default() += 1;
                    }
                }
                None => unresolved.push(f.name.clone()),
            }
        }
        // Reach, the naive way: for every name with a producer, every run in its latest producer's
        // lineage feeds it.
        let mut reach: BTreeMap<RunId, u64> = BTreeMap::new();
        let names: std::collections::BTreeSet<&str> =
            self.runs.iter().flat_map(|r| r.outputs.iter().map(|o| o.name.as_str())).collect();
        for name in names {
            if let Some(root) = self.producers(name).into_iter().max() {
                let mut lineage = Vec::new();
                self.walk(root, 0, None, &mut lineage);
                for (id, _) in lineage {
                    *reach.entry(id).or_default() += 1;
                }
            }
        }
        let total = self.flags.len() as f64;
        let mut runs: Vec<(RunId, u64, f64, u64)> = counts
            .into_iter()
            .map(|(id, count)| (id, count, count as f64 / total, reach.get(&id).copied().unwrap_or(0)))
            .collect();
        runs.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        unresolved.sort();
        let mut flagged: Vec<String> = self.flags.iter().map(|f| f.name.clone()).collect();
        flagged.sort();
        ReviewAnswer { flagged, unresolved, runs }
    }

    /// Newest first: start descending, then id descending.
    fn newest_first(&self, component: Option<&str>) -> Vec<RunId> {
        let mut runs: Vec<&MRun> = self.runs.iter().filter(|r| component.is_none_or(|c| r.component == c)).collect();
        runs.sort_by(|a, b| b.start.cmp(&a.start).then(b.id.cmp(&a.id)));
        runs.into_iter().map(|r| r.id).collect()
    }

    /// The reasons a component is outdated. A dependency on an earlier run of the component itself
    /// (an in-place update, or `upstream` naming itself) is not a supersession: the run that
    /// replaced it is this very run.
    fn outdated_reasons(&self, component: &str) -> Option<(RunId, Vec<String>)> {
        let latest = self.latest_run_of(component)?;
        let run = self.run(latest)?;
        let mut reasons = Vec::new();
        for (dep, _) in &run.deps {
            let dep_component = &self.run(*dep)?.component;
            if dep_component == component {
                continue;
            }
            let newest = self.latest_run_of(dep_component)?;
            if newest != *dep {
                reasons.push(format!("{dep_component} (ID {dep}) has been superseded by ID {newest}."));
            }
        }
        Some((latest, reasons))
    }

    fn answers(&self) -> Answers {
        let sorted = |mut tags: Vec<String>| {
            tags.sort();
            tags
        };
        let runs = (1..=self.runs.len() as RunId + 1)
            .map(|id| {
                let r = self.run(id).ok_or_else(|| "not found id".to_string())?;
                let c = self.component(&r.component).cloned().expect("a run's component exists");
                Ok(RunAnswer {
                    id: r.id,
                    seq: r.seq,
                    component: r.component.clone(),
                    start: r.start,
                    end: r.end,
                    inputs: r
                        .inputs
                        .iter()
                        .map(|i| {
                            (i.name.clone(), self.kind(&i.name), i.hash.clone(), self.is_flagged(&i.name), i.producer)
                        })
                        .collect(),
                    outputs: r
                        .outputs
                        .iter()
                        .map(|o| (o.name.clone(), self.kind(&o.name), o.hash.clone(), self.is_flagged(&o.name)))
                        .collect(),
                    deps: r.deps.iter().map(|d| d.0).collect(),
                    stale: r.stale.clone(),
                    notes: r.notes.clone(),
                    owner: c.owner,
                    description: c.description,
                    tags: sorted(c.tags),
                })
            })
            .collect();
        let mut components: Vec<ComponentAnswer> = self
            .components
            .iter()
            .map(|c| ComponentAnswer {
                name: c.name.clone(),
                description: c.description.clone(),
                owner: c.owner.clone(),
                tags: sorted(c.tags.clone()),
            })
            .collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let details = COMPONENTS
            .iter()
            .chain([&GHOST])
            .map(|&name| {
                let c = self.component(name).ok_or_else(|| "not found name".to_string())?;
                let outdated = self.outdated_reasons(name).is_some_and(|(_, r)| !r.is_empty());
                Ok((
                    ComponentAnswer {
                        name: c.name.clone(),
                        description: c.description.clone(),
                        owner: c.owner.clone(),
                        tags: sorted(c.tags.clone()),
                    },
                    self.runs.iter().filter(|r| r.component == name).count() as u64,
                    self.latest_run_of(name),
                    outdated,
                ))
            })
            .collect();
        let mut tag_counts: BTreeMap<String, u64> = BTreeMap::new();
        for c in &self.components {
            for t in &c.tags {
                *tag_counts.entry(t.clone()).or_default() += 1;
            }
        }
        let all_io: Vec<&str> = IO.iter().copied().chain([UNSEEN]).collect();
        let io = all_io
            .iter()
            .map(|&name| {
                let kind = self.kind(name).ok_or_else(|| "not found name".to_string())?;
                let flag = self.flags.iter().find(|f| f.name == name).map(|f| (f.reason.clone(), f.by.clone()));
                Ok((kind, flag, self.producers(name), self.consumers(name)))
            })
            .collect();
        let recent = self.newest_first(None);
        let history = COMPONENTS
            .iter()
            .chain([&GHOST])
            .map(|&name| {
                self.component(name).ok_or_else(|| "not found name".to_string())?;
                let all = self.newest_first(Some(name));
                let window = all
                    .iter()
                    .copied()
                    .filter(|&id| {
                        self.run(id).is_some_and(|r| r.start >= window_since().0 && r.start <= window_until().0)
                    })
                    .collect();
                Ok((all, window))
            })
            .collect();
        let mut flags: Vec<(String, Option<String>, Option<String>)> =
            self.flags.iter().map(|f| (f.name.clone(), f.reason.clone(), f.by.clone())).collect();
        flags.sort();
        let mut outdated = Vec::new();
        let mut names: Vec<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        for name in names {
            if let Some((latest, reasons)) = self.outdated_reasons(name)
                && !reasons.is_empty()
            {
                outdated.push((name.to_string(), latest, reasons));
            }
        }
        Answers {
            stats: (
                self.seq,
                self.seq,
                self.runs.len() as u64,
                self.components.len() as u64,
                self.kinds.len() as u64,
                self.flags.len() as u64,
            ),
            runs,
            components,
            details,
            tags: tag_counts.into_iter().collect(),
            io,
            traces: all_io.iter().map(|n| self.trace(n, None)).collect(),
            shallow_traces: all_io.iter().map(|n| self.trace(n, Some(1)).map(|t| t.nodes)).collect(),
            downstream: all_io.iter().map(|n| self.downstream(n)).collect(),
            flags,
            review: self.review(),
            recent_page: page_after(&recent),
            recent,
            history,
            outdated,
        }
    }
}

fn window_since() -> Timestamp {
    Timestamp(BASE_MS + 10 * DAY_MS)
}

fn window_until() -> Timestamp {
    Timestamp(BASE_MS + 40 * DAY_MS)
}

/// The page of three after the second run of a newest-first list.
fn page_after(list: &[RunId]) -> Vec<RunId> {
    match list.get(1) {
        Some(_) => list.iter().skip(2).take(3).copied().collect(),
        None => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers: what the model and the store are compared on
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct RunAnswer {
    id: RunId,
    seq: u64,
    component: String,
    start: i64,
    end: i64,
    inputs: Vec<InputAnswer>,
    outputs: Vec<OutputAnswer>,
    deps: Vec<RunId>,
    stale: Vec<String>,
    notes: String,
    owner: String,
    description: String,
    tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct ComponentAnswer {
    name: String,
    description: String,
    owner: String,
    tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct TraceAnswer {
    root: Option<RunId>,
    nodes: Vec<(RunId, u32)>,
    edges: Vec<(RunId, RunId, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq)]
struct DownstreamAnswer {
    producers: Vec<RunId>,
    runs: Vec<(RunId, u32)>,
    outputs: Vec<String>,
    edges: Vec<(RunId, RunId, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq)]
struct ReviewAnswer {
    flagged: Vec<String>,
    unresolved: Vec<String>,
    /// (id, count, coverage, reach)
    runs: Vec<(RunId, u64, f64, u64)>,
}

/// A flag's reason and author.
type Flag = (Option<String>, Option<String>);
/// An input: name, type, hash, flagged, producer.
type InputAnswer = (String, Option<IoType>, Option<String>, bool, Option<RunId>);
/// An output: name, type, hash, flagged.
type OutputAnswer = (String, Option<IoType>, Option<String>, bool);
/// A component with its run count, latest run and outdated flag.
type DetailAnswer = (ComponentAnswer, u64, Option<RunId>, bool);
/// An I/O pointer: type, flag, producers, consumers.
type IoAnswer = (IoType, Option<Flag>, Vec<RunId>, Vec<RunId>);
/// A history: every run newest first, and those in the start-time window.
type HistoryAnswer = (Vec<RunId>, Vec<RunId>);

#[derive(Clone, Debug, PartialEq)]
struct Answers {
    /// last_seq, events, runs, components, outputs, flags.
    stats: (u64, u64, u64, u64, u64, u64),
    runs: Vec<Result<RunAnswer, String>>,
    components: Vec<ComponentAnswer>,
    /// Per component (and the ghost): the component, run count, latest run, outdated.
    details: Vec<Result<DetailAnswer, String>>,
    tags: Vec<(String, u64)>,
    /// Per name (and the unseen one): type, flag, producers, consumers.
    io: Vec<Result<IoAnswer, String>>,
    traces: Vec<Result<TraceAnswer, String>>,
    shallow_traces: Vec<Result<Vec<(RunId, u32)>, String>>,
    downstream: Vec<Result<DownstreamAnswer, String>>,
    flags: Vec<(String, Option<String>, Option<String>)>,
    review: ReviewAnswer,
    recent: Vec<RunId>,
    recent_page: Vec<RunId>,
    /// Per component (and the ghost): all runs newest first, and those in the window.
    history: Vec<Result<HistoryAnswer, String>>,
    outdated: Vec<(String, RunId, Vec<String>)>,
}

fn err<T>(r: Result<T, StoreError>) -> Result<T, String> {
    r.map_err(|e| error_kind(&e))
}

fn run_answer(d: RunDetail) -> RunAnswer {
    RunAnswer {
        id: d.id,
        seq: d.seq,
        component: d.component,
        start: d.start.0,
        end: d.end.0,
        inputs: d.inputs.into_iter().map(|i| (i.name, Some(i.kind), i.hash, i.flagged, i.producer)).collect(),
        outputs: d.outputs.into_iter().map(|o| (o.name, Some(o.kind), o.hash, o.flagged)).collect(),
        deps: d.dependencies,
        stale: d.stale,
        notes: d.notes,
        owner: d.owner,
        description: d.description,
        tags: d.tags,
    }
}

fn component_answer(d: ComponentDetail) -> DetailAnswer {
    (
        ComponentAnswer {
            name: d.component.name,
            description: d.component.description,
            owner: d.component.owner,
            tags: d.component.tags,
        },
        d.run_count,
        d.latest_run.map(|r| r.id),
        d.outdated,
    )
}

fn io_answer(v: IoView) -> IoAnswer {
    (v.kind, v.flag.map(|f| (f.reason, f.by)), v.producers, v.consumers)
}

/// Everything the store answers, in the model's terms.
fn observe(r: &Reader<'_>) -> Answers {
    let stats = r.stats();
    let runs = (1..=stats.runs as RunId + 1).map(|id| err(r.run(id)).map(run_answer)).collect();
    let components = r
        .components(None, None)
        .into_iter()
        .map(|c| ComponentAnswer { name: c.name, description: c.description, owner: c.owner, tags: c.tags })
        .collect();
    let all_components: Vec<&str> = COMPONENTS.iter().copied().chain([GHOST]).collect();
    let details = all_components.iter().map(|n| err(r.component(n)).map(component_answer)).collect();
    let all_io: Vec<&str> = IO.iter().copied().chain([UNSEEN]).collect();
    let io = all_io.iter().map(|n| err(r.io(n)).map(io_answer)).collect();
    let traces = all_io
        .iter()
        .map(|n| {
            err(r.lineage(n, None, 10_000)).map(|l| {
                let mut edges = l.edges;
                edges.sort();
                TraceAnswer { root: l.root, nodes: l.nodes, edges }
            })
        })
        .collect();
    let shallow_traces = all_io.iter().map(|n| err(r.lineage(n, Some(1), 10_000)).map(|l| l.nodes)).collect();
    let downstream = all_io
        .iter()
        .map(|n| {
            err(r.downstream(n, None, 10_000)).map(|d| {
                let mut edges: Vec<(RunId, RunId, Option<String>)> =
                    d.edges.into_iter().map(|e| (e.from, e.to, e.via)).collect();
                edges.sort();
                DownstreamAnswer {
                    producers: d.producers,
                    runs: d.runs.into_iter().map(|n| (n.run.id, n.depth)).collect(),
                    outputs: d.outputs,
                    edges,
                }
            })
        })
        .collect();
    let mut flags: Vec<(String, Option<String>, Option<String>)> =
        r.flags().into_iter().map(|f| (f.name, f.reason, f.by)).collect();
    flags.sort();
    let review = r.review(1000).expect("review");
    let mut unresolved = review.unresolved;
    unresolved.sort();
    let mut flagged: Vec<String> = review.flagged.into_iter().map(|f| f.name).collect();
    flagged.sort();
    let review = ReviewAnswer {
        flagged,
        unresolved,
        runs: review.runs.iter().map(|x| (x.run.id, x.count, x.coverage, x.reach)).collect(),
    };
    let recent = ids(&r.recent(1000, None).expect("recent"));
    let recent_page = match recent.get(1) {
        Some(&cursor) => ids(&r.recent(3, Some(cursor)).expect("recent page")),
        None => Vec::new(),
    };
    let history = all_components
        .iter()
        .map(|n| {
            let all = ids(&err(r.history(n, 1000, None, None, None))?);
            let window = ids(&err(r.history(n, 1000, None, Some(window_since()), Some(window_until())))?);
            Ok((all, window))
        })
        .collect();
    let outdated = r.outdated().expect("outdated").into_iter().map(|o| (o.name, o.latest_run.id, o.reasons)).collect();
    Answers {
        stats: (stats.last_seq, stats.events, stats.runs, stats.components, stats.outputs, stats.flags),
        runs,
        components,
        details,
        tags: r.tags().into_iter().map(|t| (t.name, t.components)).collect(),
        io,
        traces,
        shallow_traces,
        downstream,
        flags,
        review,
        recent,
        recent_page,
        history,
        outdated,
    }
}

/// The store's own answers, whole (summaries, flag times and all), for `as_of` and reopen: these
/// must not change by a hair.
fn raw(r: &Reader<'_>) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        r.trace(IO[2], None, 10_000).map_err(|e| error_kind(&e)),
        r.review(1000).map_err(|e| error_kind(&e)),
        r.recent(1000, None).map_err(|e| error_kind(&e)),
        r.flags(),
        r.component(COMPONENTS[3]).map_err(|e| error_kind(&e)),
    )
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

fn options(segment_bytes: u64) -> LogOptions {
    LogOptions { segment_bytes, fsync: FsyncPolicy::Never, ..LogOptions::default() }
}

fn reopen(store: Store, dir: &Path, segment_bytes: u64) -> Store {
    drop(store);
    match Store::open(dir, options(segment_bytes)) {
        Ok((s, recovery)) => {
            assert!(recovery.torn_tail.is_none(), "a clean close leaves no torn tail");
            s
        }
        Err(e) => panic!("reopen failed: {e}"),
    }
}

fn written(r: Result<Vec<mltrace_store::model::Logged>, StoreError>) -> Written {
    r.map(|logged| logged.into_iter().map(|l| (l.id, l.seq, l.dependencies, l.stale)).collect())
        .map_err(|e| vec![error_kind(&e)])
}

/// Applies one operation to both; the store's answer must be one the model allows.
fn step(store: Store, dir: &Path, model: &mut Model, op: &Op) -> Result<Store, TestCaseError> {
    match op {
        Op::Run(spec) => {
            let request = to_request(spec);
            let got = written(store.log_run(&request).map(|l| vec![l]));
            let want = model.log_runs(std::slice::from_ref(&request));
            match (&got, &want) {
                (Err(g), Err(w)) => {
                    // A single run's fields are named without the batch prefix.
                    let unprefixed: Vec<String> = w.iter().map(|e| e.replace("runs[0].", "")).collect();
                    prop_assert!(unprefixed.contains(&g[0]), "store said {g:?}, model allows {unprefixed:?}");
                }
                _ => prop_assert_eq!(got, want, "log_run {:?}", request),
            }
        }
        Op::Batch(specs) => {
            let requests: Vec<NewRun> = specs.iter().map(to_request).collect();
            let got = written(store.log_runs(&requests));
            let want = model.log_runs(&requests);
            match (&got, &want) {
                (Err(g), Err(w)) => prop_assert!(w.contains(&g[0]), "store said {g:?}, model allows {w:?}"),
                _ => prop_assert_eq!(got, want, "log_runs {:?}", requests),
            }
        }
        Op::Register { component, description, owner, tags } => {
            let tags: Vec<String> = tags.iter().map(|&t| TAGS[t].to_string()).collect();
            let name = COMPONENTS[*component];
            store.register_component(name, TEXTS[*description], OWNERS[*owner], &tags).expect("register");
            model.register(name, TEXTS[*description], OWNERS[*owner], &tags);
        }
        Op::Tag { component, tags } => {
            let tags: Vec<String> = tags.iter().map(|&t| TAGS[t].to_string()).collect();
            let got = err(store.tag_component(COMPONENTS[*component], &tags).map(|_| ()));
            prop_assert_eq!(got, model.tag(COMPONENTS[*component], &tags));
        }
        Op::Notes { run, text } => {
            let got = err(store.set_notes(*run, TEXTS[*text]));
            prop_assert_eq!(got, model.set_notes(*run, TEXTS[*text]));
        }
        Op::Flag { names, reason, by } => {
            let names = io_names(names);
            let reason = reason.map(|r| TEXTS[r]);
            let by = by.map(|b| OWNERS[b]);
            let got = err(store.flag(&names, reason, by));
            prop_assert_eq!(got, model.flag(&names, reason, by), "flag {:?}", names);
        }
        Op::Unflag { names } => {
            let names = io_names(names);
            let got = err(store.unflag(&names));
            prop_assert_eq!(got, model.unflag(&names), "unflag {:?}", names);
        }
        Op::UnflagAll => {
            let mut got = store.unflag_all().expect("unflag all");
            let mut want = model.unflag_all();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
        Op::Reopen { segment_bytes } => return Ok(reopen(store, dir, *segment_bytes)),
        Op::Checkpoint => {
            store.checkpoint().expect("checkpoint");
            // A checkpoint writes a signed tree head first, unless the last event is one.
            if model.seq > 0 && model.last_head != model.seq {
                model.seq += 1;
                model.last_head = model.seq;
            }
        }
    }
    Ok(store)
}

/// What the live store answered at each seq it reached.
type History = BTreeMap<u64, (Answers, String)>;

fn check_as_of(store: &Store, seen: &History, when: &str) -> Result<(), TestCaseError> {
    for (&seq, (answers, raw_then)) in seen {
        let r = store.reader(Some(AsOf::Seq(seq)));
        prop_assert_eq!(r.seq(), seq);
        prop_assert_eq!(&observe(&r), answers, "{} as of seq {}", when, seq);
        prop_assert_eq!(&raw(&r), raw_then, "{} as of seq {} (whole answers)", when, seq);
    }
    Ok(())
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempdir();
    let mut store = match Store::open(dir.path(), options(4096)) {
        Ok((s, _)) => s,
        Err(e) => return Err(TestCaseError::fail(format!("open: {e}"))),
    };
    let mut model = Model::default();
    let mut seen: History = BTreeMap::new();
    {
        let empty = store.reader(None);
        seen.insert(0, (observe(&empty), raw(&empty)));
    }
    for (i, op) in ops.iter().enumerate() {
        store = step(store, dir.path(), &mut model, op)?;
        let r = store.reader(None);
        let now = observe(&r);
        prop_assert_eq!(&now, &model.answers(), "after op {} {:?}", i, op);
        let raw_now = raw(&r);
        if let Some((then, raw_then)) = seen.get(&r.seq()) {
            // No event appended (a rejected write, a retry, an unflag of nothing): nothing changed.
            prop_assert_eq!(then, &now, "op {} {:?} appended nothing but changed answers", i, op);
            prop_assert_eq!(raw_then, &raw_now);
        }
        seen.insert(r.seq(), (now, raw_now));
    }
    check_as_of(&store, &seen, "live")?;
    let store = reopen(store, dir.path(), 64 * 1024 * 1024);
    prop_assert_eq!(&observe(&store.reader(None)), &model.answers(), "after the final reopen");
    check_as_of(&store, &seen, "after reopen")?;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_store_answers_like_the_naive_model_live_after_reopen_and_as_of_every_past_seq(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        run_case(&ops)?;
    }
}

/// The model itself, on the contract's classic cases, so that a wrong model cannot hide a wrong
/// store (both agreeing on a wrong answer).
#[test]
fn the_model_answers_the_classic_cases_as_the_contract_says() {
    let mut m = Model::default();
    let t = |h: i64| Timestamp(BASE_MS + h * HOUR_MS);
    let r = |c: &str, h: i64, i: &[&str], o: &[&str]| {
        NewRun::new(c, t(h), t(h)).inputs(i.iter().copied()).outputs(o.iter().copied())
    };
    m.log_runs(&[r("featuregen", 0, &[], &["f.parquet"])]).expect("1");
    m.log_runs(&[r("featuregen", 24, &[], &["g.parquet"])]).expect("2");
    let train = m.log_runs(&[r("train", 48, &["f.parquet"], &["model.pkl"])]).expect("3");
    assert_eq!(train[0].3, ["featuregen (ID 1) has 1 fresher run that began before this component run started."]);
    let old = m.log_runs(&[r("eval", 48 + 45 * 24, &["model.pkl"], &["metrics"])]).expect("4");
    assert_eq!(old[0].3, ["train (ID 3) was run 45 days ago."]);
    let trace = m.trace("metrics", None).expect("trace");
    assert_eq!(trace.nodes, [(4, 0), (3, 1), (1, 2)]);
    assert_eq!(
        m.outdated_reasons("train").map(|(_, r)| r),
        Some(vec!["featuregen (ID 1) has been superseded by ID 2.".to_string()])
    );
    assert_eq!(infer("s3://x/MyData"), IoType::Data);
    assert_eq!(infer("clf.PKL"), IoType::Model);
    assert_eq!(infer("a.b"), IoType::Unknown);
    m.flag(&["metrics".into(), "g.parquet".into()], None, None).expect("flag");
    let review = m.review();
    let rows: Vec<(RunId, u64, f64)> =
        review.runs.iter().map(|&(id, count, coverage, _)| (id, count, coverage)).collect();
    assert_eq!(rows, [(4, 1, 0.5), (3, 1, 0.5), (2, 1, 0.5), (1, 1, 0.5)]);
}
