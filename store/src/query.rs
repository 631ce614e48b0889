//! Reads: every query of the contract, at a fixed point of the log's history, composed from the
//! state's indices (structure) and the log (the cold fields of the runs they name).
//!
//! A [`Reader`] holds the state's read lock for its lifetime: keep it short-lived.

use crate::error::{Result, StoreError};
use crate::event::{EventKind, LineageRecord, RunId, RunRecord, RunStatus, Seq};
use crate::log::Loc;
use crate::model::*;
use crate::state::{FlagEntry, NO_VIA, State, View};
use crate::store::Store;
use crate::time::Timestamp;
// hashbrown's default hasher (foldhash) is several times faster than std's SipHash, and these
// tables are rebuilt from the log, never fed by an adversary who could pick colliding keys.
use hashbrown::{HashMap, HashSet};
use std::sync::RwLockReadGuard;

// The OpenLineage export: a child module, so that it reads through the same private helpers.
#[path = "query_lineage.rs"]
mod lineage;

/// Default and largest node limit of a trace.
pub const DEFAULT_TRACE_LIMIT: usize = 10_000;

/// The structure of a trace: run ids with depth, edges `(from, to, via)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The output's latest producer.
    pub root: Option<RunId>,
    /// Runs in pre-order with their depth.
    pub nodes: Vec<(RunId, u32)>,
    /// Edges from a run to a dependency, with the linking input if any.
    pub edges: Vec<(RunId, RunId, Option<String>)>,
    /// The node limit cut the walk short.
    pub truncated: bool,
}

/// What an OpenLineage run's events say beyond a run record.
#[derive(Default)]
struct LineageFacts {
    uuid: String,
    status: RunStatus,
    error: Option<String>,
    source_url: Option<String>,
    parent: Option<String>,
    parent_component: Option<String>,
    /// (seq, eventType, eventTime) of each event.
    events: Vec<(Seq, String, i64)>,
    /// Each event's text as received.
    raws: Vec<String>,
}

impl LineageFacts {
    /// The run card's OpenLineage block: the well-known facets picked out, and every facet as
    /// received (a later event's facet replaces an earlier one of the same name).
    fn card(&self, component: &str, parent: Option<RunId>) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let mut run_facets = Map::new();
        let mut job_facets = Map::new();
        let mut inputs = Map::new();
        let mut outputs = Map::new();
        let mut job = Value::Null;
        for raw in &self.raws {
            let Ok(v) = serde_json::from_str::<Value>(raw) else { continue };
            let merge = |into: &mut Map<String, Value>, from: Option<&Value>| {
                if let Some(Value::Object(f)) = from {
                    into.extend(f.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            };
            merge(&mut run_facets, v.pointer("/run/facets"));
            merge(&mut job_facets, v.pointer("/job/facets"));
            for (key, into) in [("inputs", &mut inputs), ("outputs", &mut outputs)] {
                for d in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                    let (Some(ns), Some(name)) = (d["namespace"].as_str(), d["name"].as_str()) else { continue };
                    let entry =
                        into.entry(crate::openlineage::io_name(ns, name)).or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(e) = entry {
                        merge(e, d.get("facets"));
                        merge(e, d.get(if key == "inputs" { "inputFacets" } else { "outputFacets" }));
                    }
                }
            }
            if let Some(j) = v.get("job") {
                job = json!({"namespace": j["namespace"], "name": j["name"]});
            }
        }
        if job.is_null() {
            let (namespace, name) = crate::openlineage::job_of(component);
            job = json!({"namespace": namespace, "name": name});
        }
        json!({
            "run_id": self.uuid,
            "job": job,
            "events": self.events.iter().map(|(seq, ty, t)| json!({"seq": seq, "eventType": ty, "eventTime": Timestamp(*t)})).collect::<Vec<_>>(),
            "parent": self.parent.as_ref().map(|p| json!({"run_id": p, "component": self.parent_component, "run": parent})),
            "source_url": self.source_url,
            "nominal_time": run_facets.get("nominalTime"),
            "processing_engine": run_facets.get("processing_engine"),
            "environment_variables": run_facets.get("environmentVariables").and_then(|f| f.get("environmentVariables")),
            "facets": {"run": run_facets, "job": job_facets, "inputs": inputs, "outputs": outputs},
        })
    }
}

/// A consistent read of the store at one seq.
pub struct Reader<'s> {
    store: &'s Store,
    seq: Seq,
}

/// How many runs a query reads from the log between two holds of the state lock: enough that
/// taking the lock is noise, few enough that a hold stays in the microseconds.
const RUNS_PER_HOLD: usize = 256;

/// Where a run's cold fields are in the log: one record for a native run, one per event (as of the
/// reader) for an OpenLineage run.
enum Source {
    Native(Seq, Loc),
    Lineage(Vec<(Seq, Loc)>),
}

/// A run's cold fields as read from the log.
type Cold = (RunRecord, Option<LineageFacts>);

/// The state under its read lock, seen at the reader's seq. Everything here works in memory; no
/// method reads the log.
struct Locked<'a> {
    st: RwLockReadGuard<'a, State>,
    seq: Seq,
}

fn flag_view(name: &str, f: &FlagEntry) -> FlagView {
    FlagView { name: name.to_string(), reason: f.reason.clone(), by: f.by.clone(), at: Timestamp(f.at) }
}

impl Locked<'_> {
    fn view(&self) -> View<'_> {
        self.st.view(self.seq)
    }

    fn source(&self, id: RunId) -> Result<Source> {
        let row = self.view().run(id).ok_or_else(|| StoreError::not_found("id", format!("run {id} does not exist")))?;
        let loc = |seq: Seq| self.st.locs[seq as usize - 1];
        Ok(match self.st.lineage_run(id) {
            Some(r) => Source::Lineage(r.seqs.iter().filter(|&&s| s <= self.seq).map(|&s| (s, loc(s))).collect()),
            None => Source::Native(row.seq, loc(row.seq)),
        })
    }

    /// The parent run of an OpenLineage run, when it is logged here (as of this reader).
    fn parent_of(&self, facts: &LineageFacts) -> Option<RunId> {
        let id = self.st.lineage_id(facts.parent.as_deref()?)?;
        self.view().run(id).map(|_| id)
    }

    fn component_fields(&self, name: &str) -> (String, String, Vec<String>) {
        let v = self.view();
        match v.component(name) {
            Some(c) => {
                let (d, o, t) = v.component_meta(c);
                let mut tags: Vec<String> = t.iter().map(|&t| self.st.tag_names.name(t).to_string()).collect();
                tags.sort();
                (d.to_string(), o.to_string(), tags)
            }
            None => Default::default(),
        }
    }

    fn summary(&self, id: RunId, (r, facts): Cold) -> RunSummary {
        let parent = facts.as_ref().and_then(|f| self.parent_of(f));
        let row_seq = self.view().run(id).map(|r| r.seq).unwrap_or(0);
        let (description, owner, tags) = self.component_fields(&r.component);
        let notes = self.view().notes(id).map(str::to_string).unwrap_or(r.notes);
        RunSummary {
            id,
            seq: row_seq,
            duration_ms: r.end - r.start,
            start: Timestamp(r.start),
            end: Timestamp(r.end),
            inputs: r.inputs.into_iter().map(|i| i.name).collect(),
            outputs: r.outputs.into_iter().map(|o| o.name).collect(),
            dependencies: r.dependencies.iter().map(|d| d.run).collect(),
            component: r.component,
            stale: r.stale,
            git_hash: r.git_hash,
            git_tags: r.git_tags,
            notes,
            tests: r.tests,
            owner,
            description,
            tags,
            status: facts.as_ref().map(|f| f.status),
            error: facts.and_then(|f| f.error),
            parent,
        }
    }

    fn detail(&self, id: RunId, (r, facts): Cold) -> RunDetail {
        let parent = facts.as_ref().and_then(|f| self.parent_of(f));
        let openlineage = facts.as_ref().map(|f| f.card(&r.component, parent));
        let v = self.view();
        let flags = v.flags();
        let flagged = |name: &str| v.io(name).is_some_and(|io| flags.contains_key(&io));
        let (description, owner, tags) = self.component_fields(&r.component);
        let notes = v.notes(id).map(str::to_string).unwrap_or(r.notes);
        RunDetail {
            id,
            seq: v.run(id).map(|r| r.seq).unwrap_or(0),
            duration_ms: r.end - r.start,
            start: Timestamp(r.start),
            end: Timestamp(r.end),
            inputs: r
                .inputs
                .into_iter()
                .map(|i| InputView {
                    flagged: flagged(&i.name),
                    kind: i.kind,
                    producer: i.producer,
                    hash: i.hash,
                    name: i.name,
                })
                .collect(),
            outputs: r
                .outputs
                .into_iter()
                .map(|o| OutputView { flagged: flagged(&o.name), kind: o.kind, hash: o.hash, name: o.name })
                .collect(),
            dependencies: r.dependencies.iter().map(|d| d.run).collect(),
            component: r.component,
            stale: r.stale,
            git_hash: r.git_hash,
            git_tags: r.git_tags,
            code_snapshot: r.code_snapshot,
            notes,
            tests: r.tests,
            owner,
            description,
            tags,
            status: facts.as_ref().map(|f| f.status),
            error: facts.and_then(|f| f.error),
            parent,
            openlineage,
        }
    }

    fn component_id(&self, name: &str) -> Result<u32> {
        self.view()
            .component(name)
            .ok_or_else(|| StoreError::not_found("name", format!("component `{name}` does not exist")))
    }

    fn component_view(&self, c: u32) -> ComponentView {
        let name = self.st.comp_names.name(c).to_string();
        let (description, owner, tags) = self.component_fields(&name);
        ComponentView { name, description, owner, tags }
    }

    fn cursor(&self, before: Option<RunId>) -> Result<Option<(i64, RunId)>> {
        self.view().cursor(before).ok_or_else(|| {
            StoreError::not_found("before", format!("run {} does not exist", before.unwrap_or_default()))
        })
    }

    fn io_id(&self, name: &str, field: &str) -> Result<u32> {
        self.view().io(name).ok_or_else(|| StoreError::not_found(field, format!("no run ever read or wrote `{name}`")))
    }

    fn via(&self, via: u32) -> Option<String> {
        (via != NO_VIA).then(|| self.st.io_names.name(via).to_string())
    }

    fn flag_list(&self) -> Vec<(u32, FlagEntry)> {
        let mut flags: Vec<(u32, FlagEntry)> = self.view().flags().iter().map(|(&id, f)| (id, f.clone())).collect();
        flags.sort_by_key(|(_, f)| (f.seq, f.pos));
        flags
    }

    fn lineage(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<Lineage> {
        let io = self.io_id(output, "output")?;
        let v = self.view();
        let Some(root) = v.latest_producer(io) else {
            return Ok(Lineage { root: None, nodes: Vec::new(), edges: Vec::new(), truncated: false });
        };
        let walk = v.trace(root, max_depth, limit);
        Ok(Lineage {
            root: Some(root),
            nodes: walk.nodes,
            edges: walk.edges.into_iter().map(|(f, t, via)| (f, t, self.via(via))).collect(),
            truncated: walk.truncated,
        })
    }

    fn tags(&self) -> Vec<TagCount> {
        let v = self.view();
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for c in v.components() {
            for &t in v.component_meta(c).2 {
                *counts.entry(t).or_default() += 1;
            }
        }
        let mut out: Vec<TagCount> = counts
            .into_iter()
            .map(|(t, n)| TagCount { name: self.st.tag_names.name(t).to_string(), components: n })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

impl<'s> Reader<'s> {
    pub(crate) fn new(store: &'s Store, seq: Seq) -> Self {
        Reader { store, seq }
    }

    fn lock(&self) -> Locked<'s> {
        Locked { st: self.store.state(), seq: self.seq }
    }

    /// The seq this reader sees.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// Reads a run's cold fields, with no lock held.
    fn load(&self, id: RunId, source: Source) -> Result<Cold> {
        match source {
            Source::Native(seq, loc) => Ok((self.store.run_record_at(loc, seq)?, None)),
            Source::Lineage(events) => {
                let (record, facts) = self.lineage_record(id, events)?;
                Ok((record, Some(facts)))
            }
        }
    }

    /// Reads runs `ids` from the log outside the lock, a few hundred at a time, and gives each
    /// (with the lock held again) to `finish`.
    fn each_run<T>(&self, ids: &[RunId], mut finish: impl FnMut(&Locked<'_>, RunId, Cold) -> T) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(RUNS_PER_HOLD) {
            let sources = {
                let l = self.lock();
                chunk.iter().map(|&id| l.source(id)).collect::<Result<Vec<_>>>()?
            };
            let cold = chunk.iter().zip(sources).map(|(&id, s)| self.load(id, s)).collect::<Result<Vec<_>>>()?;
            let l = self.lock();
            out.extend(chunk.iter().zip(cold).map(|(&id, c)| finish(&l, id, c)));
        }
        Ok(out)
    }

    /// An OpenLineage run as of this reader: its events up to the reader's seq, merged (lists
    /// concatenated, scalars from the latest event that gave them).
    fn lineage_record(&self, id: RunId, events: Vec<(Seq, Loc)>) -> Result<(RunRecord, LineageFacts)> {
        let mut record = RunRecord {
            id,
            component: String::new(),
            start: 0,
            end: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            dependencies: Vec::new(),
            stale: Vec::new(),
            git_hash: None,
            git_tags: Vec::new(),
            code_snapshot: None,
            notes: String::new(),
            tests: Vec::new(),
            idempotency_key: None,
        };
        let mut facts = LineageFacts::default();
        for (seq, loc) in events {
            let event = self.store.log.read(loc, seq)?;
            let EventKind::Lineage(l) = event.kind else { continue };
            let LineageRecord { raw, run, event_time, .. } = *l;
            let Some(u) = run else { continue };
            record.component = u.component;
            record.start = u.start;
            record.end = u.end;
            record.inputs.extend(u.inputs);
            for o in u.outputs {
                // A second mention brings the version the first lacked.
                match record.outputs.iter_mut().find(|known| known.name == o.name) {
                    Some(known) => known.hash = known.hash.take().or(o.hash),
                    None => record.outputs.push(o),
                }
            }
            record.dependencies.extend(u.dependencies);
            record.stale.extend(u.stale);
            record.tests.extend(u.tests);
            record.git_hash = u.git_hash.or(record.git_hash);
            record.code_snapshot = u.code_snapshot.or(record.code_snapshot);
            facts.uuid = u.uuid;
            facts.status = u.status;
            facts.error = u.error.or(facts.error);
            facts.source_url = u.source_url.or(facts.source_url);
            if u.parent.is_some() {
                facts.parent = u.parent;
                facts.parent_component = u.parent_component;
            }
            facts.events.push((seq, u.event_type, event_time));
            facts.raws.push(raw);
        }
        record.dependencies.sort_by_key(|d| d.run);
        Ok((record, facts))
    }

    fn one<T>(&self, id: RunId, finish: impl FnMut(&Locked<'_>, RunId, Cold) -> T) -> Result<T> {
        self.each_run(&[id], finish)?
            .pop()
            .ok_or_else(|| StoreError::not_found("id", format!("run {id} does not exist")))
    }

    /// A run summary.
    pub fn summary(&self, id: RunId) -> Result<RunSummary> {
        self.one(id, |l, id, cold| l.summary(id, cold))
    }

    fn summaries(&self, ids: &[RunId]) -> Result<Vec<RunSummary>> {
        self.each_run(ids, |l, id, cold| l.summary(id, cold))
    }

    /// The full run.
    pub fn run(&self, id: RunId) -> Result<RunDetail> {
        self.one(id, |l, id, cold| l.detail(id, cold))
    }

    /// A component with its run count, latest run and outdated flag.
    pub fn component(&self, name: &str) -> Result<ComponentDetail> {
        let (component, run_count, latest, outdated) = {
            let l = self.lock();
            let c = l.component_id(name)?;
            let v = l.view();
            let runs = v.component_runs(c);
            let outdated = v.superseded(c).is_some_and(|(_, s)| !s.is_empty());
            (l.component_view(c), runs.len() as u64, runs.last().copied(), outdated)
        };
        let latest_run = match latest {
            Some(id) => Some(self.summary(id)?),
            None => None,
        };
        Ok(ComponentDetail { component, run_count, latest_run, outdated })
    }

    /// Components, filtered by owner and tag (both when given), sorted by name.
    pub fn components(&self, owner: Option<&str>, tag: Option<&str>) -> Vec<ComponentView> {
        let l = self.lock();
        let v = l.view();
        let tag_id = tag.map(|t| l.st.tag_names.get(t));
        let mut out: Vec<ComponentView> = v
            .components()
            .filter(|&c| {
                let (_, o, tags) = v.component_meta(c);
                owner.is_none_or(|want| o == want) && tag_id.is_none_or(|t| t.is_some_and(|t| tags.contains(&t)))
            })
            .map(|c| l.component_view(c))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every tag with the number of components carrying it.
    pub fn tags(&self) -> Vec<TagCount> {
        self.lock().tags()
    }

    /// Most recent runs: start descending, then id descending.
    pub fn recent(&self, limit: usize, before: Option<RunId>) -> Result<Vec<RunSummary>> {
        let ids = {
            let l = self.lock();
            l.view().recent(l.cursor(before)?, limit)
        };
        self.summaries(&ids)
    }

    /// A component's runs, newest first, within an inclusive start-time range.
    pub fn history(
        &self,
        name: &str,
        limit: usize,
        before: Option<RunId>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<RunSummary>> {
        let ids = {
            let l = self.lock();
            let c = l.component_id(name)?;
            l.view().history(c, l.cursor(before)?, since.map(|t| t.0), until.map(|t| t.0), limit)
        };
        self.summaries(&ids)
    }

    /// An I/O pointer: type, flag, producers and consumers.
    pub fn io(&self, name: &str) -> Result<IoView> {
        let l = self.lock();
        let id = l.io_id(name, "name")?;
        let v = l.view();
        let flags = v.flags();
        let flag = flags.get(&id).map(|f| FlagInfo { reason: f.reason.clone(), by: f.by.clone(), at: Timestamp(f.at) });
        Ok(IoView {
            name: name.to_string(),
            kind: l.st.io[id as usize].kind,
            flagged: flag.is_some(),
            flag,
            producers: v.producers(id).to_vec(),
            consumers: v.consumers(id).to_vec(),
        })
    }

    /// The structure of a trace, without reading any run from the log.
    pub fn lineage(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<Lineage> {
        self.lock().lineage(output, max_depth, limit)
    }

    /// The runs that produced an output, depth first from its latest producer.
    pub fn trace(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<TraceView> {
        let l = self.lineage(output, max_depth, limit)?;
        let mut depths = l.nodes.iter().map(|&(_, depth)| depth);
        let ids: Vec<RunId> = l.nodes.iter().map(|&(id, _)| id).collect();
        let nodes = self.each_run(&ids, |lk, id, cold| TraceNode {
            depth: depths.next().unwrap_or(0),
            run: lk.summary(id, cold),
        })?;
        Ok(TraceView {
            output: output.to_string(),
            root: l.root,
            truncated: l.truncated,
            nodes,
            edges: l.edges.into_iter().map(|(from, to, via)| EdgeView { from, to, via }).collect(),
        })
    }

    /// Everything derived from an output.
    pub fn downstream(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<DownstreamView> {
        let (producers, walk, edges) = {
            let l = self.lock();
            let io = l.io_id(output, "output")?;
            let (producers, walk) = l.view().downstream(io, max_depth, limit);
            let edges: Vec<EdgeView> =
                walk.edges.iter().map(|&(from, to, via)| EdgeView { from, to, via: l.via(via) }).collect();
            (producers, walk, edges)
        };
        let ids: Vec<RunId> = walk.nodes.iter().map(|&(id, _)| id).collect();
        let mut depths = walk.nodes.iter().map(|&(_, depth)| depth);
        let runs = self.each_run(&ids, |lk, id, cold| TraceNode {
            depth: depths.next().unwrap_or(0),
            run: lk.summary(id, cold),
        })?;
        let mut outputs = Vec::new();
        let mut seen = HashSet::new();
        for node in &runs {
            for o in &node.run.outputs {
                if seen.insert(o.clone()) {
                    outputs.push(o.clone());
                }
            }
        }
        Ok(DownstreamView { output: output.to_string(), producers, runs, outputs, edges, truncated: walk.truncated })
    }

    /// Flagged outputs, in the order they were flagged.
    pub fn flags(&self) -> Vec<FlagView> {
        let l = self.lock();
        l.flag_list().iter().map(|(id, f)| flag_view(l.st.io_names.name(*id), f)).collect()
    }

    /// Flagged outputs and the runs most common to their traces, in the contract's order.
    pub fn review(&self, limit: usize) -> Result<ReviewView> {
        self.review_ranked(limit, ReviewRank::Count)
    }

    /// Review with the runs in the given order. Every run carries its `specificity`; ranking by
    /// it needs it for every candidate before the cut, ranking by count only for the runs kept.
    pub fn review_ranked(&self, limit: usize, rank: ReviewRank) -> Result<ReviewView> {
        let (flagged, unresolved, ranked, ids, union, from_log) = {
            let l = self.lock();
            let v = l.view();
            let flags = l.flag_list();
            let mut counts: HashMap<RunId, u64> = HashMap::new();
            let mut unresolved = Vec::new();
            for (io, _) in &flags {
                match v.latest_producer(*io) {
                    Some(root) => {
                        for id in &v.trace_set(root) {
                            *counts.entry(id).or_default() += 1;
                        }
                    }
                    None => unresolved.push(l.st.io_names.name(*io).to_string()),
                }
            }
            let mut ranked: Vec<(RunId, u64)> = counts.into_iter().collect();
            ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
            if rank == ReviewRank::Count {
                ranked.truncate(limit);
            }
            let ids: Vec<RunId> = ranked.iter().map(|&(id, _)| id).collect();
            let union = v.downstream_union(&ids);
            // A small downstream (the usual case: the ranked runs feed a few hundred runs of a big
            // log) reads its runs' outputs from the log; a large one counts over every name once.
            let from_log = union.len().saturating_mul(16) < v.io_count();
            let flagged: Vec<FlagView> = flags.iter().map(|(id, f)| flag_view(l.st.io_names.name(*id), f)).collect();
            (flagged, unresolved, ranked, ids, union, from_log)
        };
        let names_of = if from_log { Some(self.latest_names_from_log(&union)?) } else { None };
        let mut scored: Vec<(RunId, u64, u64, f64)> = {
            let l = self.lock();
            let v = l.view();
            let names_of = match names_of {
                Some(n) => n,
                None => v.latest_names_in(&union),
            };
            let reach = v.reach(&ids, &union, &names_of);
            ranked
                .into_iter()
                .zip(reach)
                .map(|((id, count), reach)| {
                    // A counted output's latest producer is the run or downstream of it, so it is
                    // in the reach too: reach >= count >= 1.
                    debug_assert!(reach >= count, "run {id}: reach {reach} < count {count}");
                    (id, count, reach, count as f64 / reach.max(1) as f64)
                })
                .collect()
        };
        if rank == ReviewRank::Specificity {
            scored.sort_unstable_by(|a, b| b.3.total_cmp(&a.3).then(b.1.cmp(&a.1)).then(b.0.cmp(&a.0)));
            scored.truncate(limit);
        }
        let total = flagged.len().max(1) as f64;
        let ids: Vec<RunId> = scored.iter().map(|s| s.0).collect();
        let mut scores = scored.into_iter();
        let runs = self.each_run(&ids, |l, id, cold| {
            let (_, count, reach, specificity) = scores.next().unwrap_or_default();
            ReviewRun { run: l.summary(id, cold), count, coverage: count as f64 / total, reach, specificity }
        })?;
        Ok(ReviewView { flagged, unresolved, runs })
    }

    /// For each run of `runs`, how many of its outputs it is (still) the latest producer of.
    fn latest_names_from_log(&self, runs: &roaring::RoaringBitmap) -> Result<HashMap<RunId, u64>> {
        let ids: Vec<RunId> = runs.iter().collect();
        let counts = self.each_run(&ids, |l, id, (record, _)| {
            let v = l.view();
            let latest = record
                .outputs
                .iter()
                .filter(|o| v.io(&o.name).and_then(|io| v.latest_producer(io)) == Some(id))
                .count() as u64;
            (id, latest)
        })?;
        Ok(counts.into_iter().filter(|&(_, n)| n > 0).collect())
    }

    /// Components whose latest run depends on a run that is no longer the latest of its component.
    pub fn outdated(&self) -> Result<Vec<OutdatedComponent>> {
        let found: Vec<(String, RunId, Vec<String>)> = {
            let l = self.lock();
            let v = l.view();
            let mut comps: Vec<u32> = v.components().collect();
            comps.sort_by(|&a, &b| l.st.comp_names.name(a).cmp(l.st.comp_names.name(b)));
            let mut found = Vec::new();
            for c in comps {
                let Some((latest, superseded)) = v.superseded(c) else { continue };
                if superseded.is_empty() {
                    continue;
                }
                let reasons = superseded
                    .iter()
                    .map(|&(dep, newer)| {
                        let comp = v.run(dep).map(|r| l.st.comp_names.name(r.component)).unwrap_or("?");
                        format!("{comp} (ID {dep}) has been superseded by ID {newer}.")
                    })
                    .collect();
                found.push((l.st.comp_names.name(c).to_string(), latest, reasons));
            }
            found
        };
        let ids: Vec<RunId> = found.iter().map(|f| f.1).collect();
        let summaries = self.summaries(&ids)?;
        Ok(found
            .into_iter()
            .zip(summaries)
            .map(|((name, _, reasons), latest_run)| OutdatedComponent { name, latest_run, reasons })
            .collect())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Stats {
        let (log_bytes, segments) = self.store.log_size();
        let l = self.lock();
        let v = l.view();
        Stats {
            last_seq: self.seq,
            events: v.events(),
            runs: u64::from(v.max_run),
            components: v.components().count() as u64,
            outputs: v.io_count(),
            flags: v.flags().len() as u64,
            log_bytes,
            segments: segments as u64,
        }
    }

    /// Names matching `q` (prefix matches first, then substring matches; case-insensitive).
    pub fn suggest(&self, q: &str, limit: usize) -> Suggestions {
        let l = self.lock();
        let v = l.view();
        let comps: Vec<&str> = v.components().map(|c| l.st.comp_names.name(c)).collect();
        let tags: Vec<String> = l.tags().into_iter().map(|t| t.name).collect();
        let n_io = v.io_count() as u32;
        let outputs: Vec<String> = if q.is_empty() {
            (0..n_io).rev().take(limit).map(|id| l.st.io_names.name(id).to_string()).collect()
        } else {
            rank(q, (0..n_io).map(|id| l.st.io_names.name(id)), limit)
        };
        Suggestions {
            components: rank(q, comps.iter().copied(), limit),
            outputs,
            tags: rank(q, tags.iter().map(String::as_str), limit),
        }
    }
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn rank<'a>(q: &str, names: impl Iterator<Item = &'a str>, limit: usize) -> Vec<String> {
    let mut prefix = Vec::new();
    let mut inner = Vec::new();
    for name in names {
        match find_ci(name, q) {
            Some(0) => prefix.push(name),
            Some(_) => inner.push(name),
            None => {}
        }
    }
    prefix.sort_unstable();
    inner.sort_unstable();
    prefix.into_iter().chain(inner).take(limit).map(str::to_string).collect()
}
