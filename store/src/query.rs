//! Reads: every query of the contract, at a fixed point of the log's history, composed from the
//! state's indices (structure) and the log (the cold fields of the runs they name).
//!
//! A [`Reader`] holds the state's read lock for its lifetime: keep it short-lived.

use crate::error::{Result, StoreError};
use crate::event::{RunId, RunRecord, Seq};
use crate::model::*;
use crate::state::{FlagEntry, NO_VIA, State, View};
use crate::store::Store;
use crate::time::Timestamp;
// hashbrown's default hasher (foldhash) is several times faster than std's SipHash, and these
// tables are rebuilt from the log, never fed by an adversary who could pick colliding keys.
use hashbrown::{HashMap, HashSet};
use std::sync::RwLockReadGuard;

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

/// A consistent read of the store at one seq.
pub struct Reader<'s> {
    store: &'s Store,
    st: RwLockReadGuard<'s, State>,
    seq: Seq,
}

fn flag_view(name: &str, f: &FlagEntry) -> FlagView {
    FlagView { name: name.to_string(), reason: f.reason.clone(), by: f.by.clone(), at: Timestamp(f.at) }
}

impl<'s> Reader<'s> {
    pub(crate) fn new(store: &'s Store, st: RwLockReadGuard<'s, State>, seq: Seq) -> Self {
        Reader { store, st, seq }
    }

    fn view(&self) -> View<'_> {
        self.st.view(self.seq)
    }

    /// The seq this reader sees.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    fn record(&self, id: RunId) -> Result<RunRecord> {
        let row = self.view().run(id).ok_or_else(|| StoreError::not_found("id", format!("run {id} does not exist")))?;
        self.store.run_record_at(self.st.locs[row.seq as usize - 1], row.seq)
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

    /// A run summary.
    pub fn summary(&self, id: RunId) -> Result<RunSummary> {
        let r = self.record(id)?;
        let row_seq = self.view().run(id).map(|r| r.seq).unwrap_or(0);
        let (description, owner, tags) = self.component_fields(&r.component);
        let notes = self.view().notes(id).map(str::to_string).unwrap_or(r.notes);
        Ok(RunSummary {
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
        })
    }

    fn summaries(&self, ids: &[RunId]) -> Result<Vec<RunSummary>> {
        ids.iter().map(|&id| self.summary(id)).collect()
    }

    /// The full run.
    pub fn run(&self, id: RunId) -> Result<RunDetail> {
        let r = self.record(id)?;
        let v = self.view();
        let flags = v.flags();
        let flagged = |name: &str| v.io(name).is_some_and(|io| flags.contains_key(&io));
        let (description, owner, tags) = self.component_fields(&r.component);
        let notes = v.notes(id).map(str::to_string).unwrap_or(r.notes);
        Ok(RunDetail {
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
        })
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

    /// A component with its run count, latest run and outdated flag.
    pub fn component(&self, name: &str) -> Result<ComponentDetail> {
        let c = self.component_id(name)?;
        let v = self.view();
        let runs = v.component_runs(c);
        let latest_run = match runs.last() {
            Some(&id) => Some(self.summary(id)?),
            None => None,
        };
        let outdated = v.superseded(c).is_some_and(|(_, s)| !s.is_empty());
        Ok(ComponentDetail { component: self.component_view(c), run_count: runs.len() as u64, latest_run, outdated })
    }

    /// Components, filtered by owner and tag (both when given), sorted by name.
    pub fn components(&self, owner: Option<&str>, tag: Option<&str>) -> Vec<ComponentView> {
        let v = self.view();
        let tag_id = tag.map(|t| self.st.tag_names.get(t));
        let mut out: Vec<ComponentView> = v
            .components()
            .filter(|&c| {
                let (_, o, tags) = v.component_meta(c);
                owner.is_none_or(|want| o == want) && tag_id.is_none_or(|t| t.is_some_and(|t| tags.contains(&t)))
            })
            .map(|c| self.component_view(c))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every tag with the number of components carrying it.
    pub fn tags(&self) -> Vec<TagCount> {
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

    fn cursor(&self, before: Option<RunId>) -> Result<Option<(i64, RunId)>> {
        self.view().cursor(before).ok_or_else(|| {
            StoreError::not_found("before", format!("run {} does not exist", before.unwrap_or_default()))
        })
    }

    /// Most recent runs: start descending, then id descending.
    pub fn recent(&self, limit: usize, before: Option<RunId>) -> Result<Vec<RunSummary>> {
        let ids = self.view().recent(self.cursor(before)?, limit);
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
        let c = self.component_id(name)?;
        let ids = self.view().history(c, self.cursor(before)?, since.map(|t| t.0), until.map(|t| t.0), limit);
        self.summaries(&ids)
    }

    fn io_id(&self, name: &str, field: &str) -> Result<u32> {
        self.view().io(name).ok_or_else(|| StoreError::not_found(field, format!("no run ever read or wrote `{name}`")))
    }

    /// An I/O pointer: type, flag, producers and consumers.
    pub fn io(&self, name: &str) -> Result<IoView> {
        let id = self.io_id(name, "name")?;
        let v = self.view();
        let flags = v.flags();
        let flag = flags.get(&id).map(|f| FlagInfo { reason: f.reason.clone(), by: f.by.clone(), at: Timestamp(f.at) });
        Ok(IoView {
            name: name.to_string(),
            kind: self.st.io[id as usize].kind,
            flagged: flag.is_some(),
            flag,
            producers: v.producers(id).to_vec(),
            consumers: v.consumers(id).to_vec(),
        })
    }

    fn via(&self, via: u32) -> Option<String> {
        (via != NO_VIA).then(|| self.st.io_names.name(via).to_string())
    }

    /// The structure of a trace, without reading any run from the log.
    pub fn lineage(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<Lineage> {
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

    /// The runs that produced an output, depth first from its latest producer.
    pub fn trace(&self, output: &str, max_depth: Option<u32>, limit: usize) -> Result<TraceView> {
        let l = self.lineage(output, max_depth, limit)?;
        let nodes = l
            .nodes
            .iter()
            .map(|&(id, depth)| Ok(TraceNode { depth, run: self.summary(id)? }))
            .collect::<Result<Vec<_>>>()?;
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
        let io = self.io_id(output, "output")?;
        let (producers, walk) = self.view().downstream(io, max_depth, limit);
        let mut runs = Vec::with_capacity(walk.nodes.len());
        let mut outputs = Vec::new();
        let mut seen = HashSet::new();
        for &(id, depth) in &walk.nodes {
            let run = self.summary(id)?;
            for o in &run.outputs {
                if seen.insert(o.clone()) {
                    outputs.push(o.clone());
                }
            }
            runs.push(TraceNode { depth, run });
        }
        Ok(DownstreamView {
            output: output.to_string(),
            producers,
            runs,
            outputs,
            edges: walk.edges.into_iter().map(|(from, to, via)| EdgeView { from, to, via: self.via(via) }).collect(),
            truncated: walk.truncated,
        })
    }

    fn flag_list(&self) -> Vec<(u32, FlagEntry)> {
        let mut flags: Vec<(u32, FlagEntry)> = self.view().flags().iter().map(|(&id, f)| (id, f.clone())).collect();
        flags.sort_by_key(|(_, f)| (f.seq, f.pos));
        flags
    }

    /// Flagged outputs, in the order they were flagged.
    pub fn flags(&self) -> Vec<FlagView> {
        self.flag_list().iter().map(|(id, f)| flag_view(self.st.io_names.name(*id), f)).collect()
    }

    /// Flagged outputs and the runs most common to their traces.
    pub fn review(&self, limit: usize) -> Result<ReviewView> {
        let v = self.view();
        let flags = self.flag_list();
        let mut counts: HashMap<RunId, u64> = HashMap::new();
        let mut unresolved = Vec::new();
        for (io, _) in &flags {
            match v.latest_producer(*io) {
                Some(root) => {
                    for id in &v.trace_set(root) {
                        *counts.entry(id).or_default() += 1;
                    }
                }
                None => unresolved.push(self.st.io_names.name(*io).to_string()),
            }
        }
        let mut ranked: Vec<(RunId, u64)> = counts.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        ranked.truncate(limit);
        let total = flags.len().max(1) as f64;
        let runs = ranked
            .into_iter()
            .map(|(id, count)| Ok(ReviewRun { run: self.summary(id)?, count, coverage: count as f64 / total }))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReviewView {
            flagged: flags.iter().map(|(id, f)| flag_view(self.st.io_names.name(*id), f)).collect(),
            unresolved,
            runs,
        })
    }

    /// Components whose latest run depends on a run that is no longer the latest of its component.
    pub fn outdated(&self) -> Result<Vec<OutdatedComponent>> {
        let v = self.view();
        let mut out = Vec::new();
        let mut comps: Vec<u32> = v.components().collect();
        comps.sort_by(|&a, &b| self.st.comp_names.name(a).cmp(self.st.comp_names.name(b)));
        for c in comps {
            let Some((latest, superseded)) = v.superseded(c) else { continue };
            if superseded.is_empty() {
                continue;
            }
            let reasons = superseded
                .iter()
                .map(|&(dep, newer)| {
                    let comp = v.run(dep).map(|r| self.st.comp_names.name(r.component)).unwrap_or("?");
                    format!("{comp} (ID {dep}) has been superseded by ID {newer}.")
                })
                .collect();
            out.push(OutdatedComponent {
                name: self.st.comp_names.name(c).to_string(),
                latest_run: self.summary(latest)?,
                reasons,
            });
        }
        Ok(out)
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Stats {
        let v = self.view();
        let (log_bytes, segments) = self.store.log_size();
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
        let v = self.view();
        let comps: Vec<&str> = v.components().map(|c| self.st.comp_names.name(c)).collect();
        let tags: Vec<String> = self.tags().into_iter().map(|t| t.name).collect();
        let n_io = v.io_count() as u32;
        let outputs: Vec<String> = if q.is_empty() {
            (0..n_io).rev().take(limit).map(|id| self.st.io_names.name(id).to_string()).collect()
        } else {
            rank(q, (0..n_io).map(|id| self.st.io_names.name(id)), limit)
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
