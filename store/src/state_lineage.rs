//! OpenLineage runs in the state: a run that grows over several events (START, RUNNING, COMPLETE
//! ...), decided at append ([`State::check_lineage`], [`State::resolve_lineage`]) and recorded by
//! [`State::apply_lineage`], which only copies what the event says.
//!
//! A native run is whole in one event; an OpenLineage run gets its id at its first event, and each
//! later event adds inputs (resolved then, like a native run's), outputs, dependencies and a new
//! status. Its outputs become the latest producer of their names only once it has completed. The
//! links a later event adds carry that event's seq (`late_*`), so that `as_of` views see a run as it
//! was then; native runs never touch these tables, so their paths are unchanged.

use super::{RunRow, State, fingerprint, insert_sorted};
use crate::error::{Result, StoreError};
use crate::event::{Dependency, IoRecord, IoType, LineageKind, LineageRecord, RunId, RunStatus, RunUpdate, Seq};
use crate::ingest::DEFAULT_STALENESS_S;
use crate::openlineage::{EventType, LineageEvent, RunPart};
use hashbrown::{HashMap, HashSet};
use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};

/// The OpenLineage side of the state.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct LineageIndex {
    /// Runs that came from OpenLineage, by id.
    pub runs: HashMap<RunId, LineageRun>,
    /// `run.runId` → run.
    pub ids: HashMap<String, RunId>,
    /// Edges added after their run's first event: (from, to) → seq.
    pub late_edges: HashMap<(RunId, RunId), Seq>,
    /// (seq, run) of the event that ended each run, in log order.
    pub ended: Vec<(Seq, RunId)>,
    /// Producer entries added after their run's first event: (io, run) → seq.
    pub late_producers: HashMap<(u32, RunId), Seq>,
    /// Consumer entries added after their run's first event: (io, run) → seq.
    pub late_consumers: HashMap<(u32, RunId), Seq>,
}

/// One OpenLineage run as it stands after its latest event.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct LineageRun {
    pub status: RunStatus,
    pub start: i64,
    pub end: i64,
    /// The earliest START time seen, if any.
    pub start_event: Option<i64>,
    /// The seq of the event that ended it.
    pub ended: Option<Seq>,
    /// Seqs of the run's events.
    pub seqs: Vec<Seq>,
    pub inputs: Vec<u32>,
    /// Outputs with the hash they were named with.
    pub outputs: Vec<(u32, Option<String>)>,
}

/// What a run event may do to its run: the checks that can refuse it, on a run's current state.
#[derive(Clone, Debug)]
pub(crate) struct Transition {
    pub status: RunStatus,
    pub start: i64,
    pub end: i64,
    pub start_event: Option<i64>,
}

/// A run's state as far as the checks need it.
#[derive(Clone, Debug)]
pub(crate) struct RunSketch {
    pub component: String,
    pub status: RunStatus,
    pub start: i64,
    pub end: i64,
    pub start_event: Option<i64>,
}

fn transition(prev: Option<&RunSketch>, part: &RunPart, component: &str, t: i64) -> Result<Transition> {
    let ty = part.event_type.unwrap_or(EventType::Other);
    let ends = match ty {
        EventType::Complete => Some(RunStatus::Completed),
        EventType::Fail => Some(RunStatus::Failed),
        EventType::Abort => Some(RunStatus::Aborted),
        _ => None,
    };
    let Some(prev) = prev else {
        return Ok(Transition {
            status: ends.unwrap_or(RunStatus::Running),
            start: t,
            end: t,
            start_event: (ty == EventType::Start).then_some(t),
        });
    };
    let uuid = &part.uuid;
    if prev.component != component {
        return Err(StoreError::invalid(
            "job",
            format!("run {uuid} belongs to the job of component `{}`; a run has one job", prev.component),
        ));
    }
    if let Some(s) = ends
        && prev.status.is_terminal()
        && s != prev.status
    {
        return Err(StoreError::invalid(
            "eventType",
            format!(
                "eventType {} for run {uuid}, which already ended as {}: a run ends once",
                ty.as_str(),
                prev.status.as_str()
            ),
        ));
    }
    if ty == EventType::Start && prev.status.is_terminal() && t > prev.end {
        return Err(StoreError::invalid(
            "eventType",
            format!(
                "START at {} for run {uuid}, which ended ({}) at {}: a run cannot start after it ended",
                crate::time::Timestamp(t),
                prev.status.as_str(),
                crate::time::Timestamp(prev.end)
            ),
        ));
    }
    if ends.is_some()
        && !prev.status.is_terminal()
        && let Some(s) = prev.start_event.filter(|&s| s > t)
    {
        return Err(StoreError::invalid(
            "eventTime",
            format!(
                "eventTime {} of {} is before the START of run {uuid} at {}",
                crate::time::Timestamp(t),
                ty.as_str(),
                crate::time::Timestamp(s)
            ),
        ));
    }
    let start = prev.start.min(t);
    let end = if prev.status.is_terminal() {
        prev.end
    } else if ends.is_some() {
        t
    } else {
        prev.end.max(t)
    };
    let start_event = match (prev.start_event, ty == EventType::Start) {
        (Some(s), true) => Some(s.min(t)),
        (None, true) => Some(t),
        (s, false) => s,
    };
    Ok(Transition { status: ends.unwrap_or(prev.status), start, end: end.max(start), start_event })
}

/// The type of an OpenLineage dataset first seen: the contract's inference from the name, and
/// `data` where it cannot tell (an OpenLineage dataset is a table, a file or a topic of records).
fn dataset_type(name: &str) -> IoType {
    match IoType::infer(name) {
        IoType::Unknown => IoType::Data,
        t => t,
    }
}

/// One event of a checked batch, ready to append.
pub(crate) enum Planned {
    /// A component's metadata changed (job facets): registered first.
    Register { name: String, description: String, owner: String, tags: Vec<String> },
    /// The OpenLineage event itself.
    Lineage(Box<LineageRecord>),
    /// A flag carried by our dataset facet.
    Flag { name: String, flagged: bool, reason: Option<String>, by: Option<String> },
}

impl State {
    fn sketch(&self, uuid: &str) -> Option<RunSketch> {
        let id = *self.ol.ids.get(uuid)?;
        let run = self.ol.runs.get(&id)?;
        let row = self.row(id)?;
        Some(RunSketch {
            component: self.comp_names.name(row.component).to_string(),
            status: run.status,
            start: run.start,
            end: run.end,
            start_event: run.start_event,
        })
    }

    /// Checks a batch of events against the state and against each other, in order, before
    /// anything is appended: a refused batch changes nothing.
    pub(crate) fn check_lineage(&self, events: &[LineageEvent]) -> Result<()> {
        let mut runs: HashMap<&str, RunSketch> = HashMap::new();
        let mut components: HashSet<&str> = HashSet::new();
        let mut names: HashSet<&str> = HashSet::new();
        for (i, e) in events.iter().enumerate() {
            let at = |err: StoreError| if events.len() == 1 { err } else { err.within(&format!("[{i}]")) };
            if let (Some(part), Some(component)) = (&e.run, &e.component) {
                let prev = runs.get(part.uuid.as_str()).cloned().or_else(|| self.sketch(&part.uuid));
                let t = transition(prev.as_ref(), part, component, e.event_time.0).map_err(at)?;
                for (j, up) in part.upstream.iter().enumerate() {
                    if self.comp_names.get(up).is_none() && !components.contains(up.as_str()) {
                        return Err(at(StoreError::invalid(
                            format!("run.facets.mltrace.upstream[{j}]"),
                            format!("run.facets.mltrace.upstream[{j}] names the unknown component `{up}`"),
                        )));
                    }
                }
                let sketch = RunSketch {
                    component: component.clone(),
                    status: t.status,
                    start: t.start,
                    end: t.end,
                    start_event: t.start_event,
                };
                runs.insert(&part.uuid, sketch);
                names.extend(part.inputs.iter().chain(&part.outputs).map(|io| io.name.as_str()));
            }
            if let Some(c) = &e.component {
                components.insert(c);
            }
            if let Some(flag) = &e.flag
                && self.io_names.get(&flag.name).is_none()
                && !names.contains(flag.name.as_str())
            {
                return Err(at(StoreError::not_found(
                    "dataset.name",
                    format!("dataset.name: no run ever read or wrote `{}`, so it cannot be flagged", flag.name),
                )));
            }
        }
        // Each event may open a run, and may add a producer or consumer entry for each name it
        // gives and for each output its run named before (produced when it completes).
        let parts = || events.iter().filter_map(|e| e.run.as_ref());
        let links = parts()
            .map(|p| {
                let before =
                    self.ol.ids.get(&p.uuid).and_then(|id| self.ol.runs.get(id)).map_or(0, |r| r.outputs.len());
                p.inputs.len() + p.outputs.len() + before
            })
            .sum();
        self.check_room(parts().count(), links)
    }

    /// Plans the events one checked OpenLineage event becomes, against the newest state (which
    /// includes the earlier events of its batch). Takes the event by value so its text moves.
    pub(crate) fn plan_lineage(&self, e: LineageEvent) -> Result<Vec<Planned>> {
        let mut out = Vec::new();
        if let Some(c) = &e.component
            && let Some(reg) = self.registration(c, &e.meta, e.kind == LineageKind::Job)
        {
            out.push(reg);
        }
        let run = match (&e.run, &e.component) {
            (Some(part), Some(component)) => Some(self.resolve_update(part, component, e.event_time.0)?),
            _ => None,
        };
        let flag = e.flag.clone();
        out.push(Planned::Lineage(Box::new(LineageRecord {
            raw: e.raw,
            kind: e.kind,
            event_time: e.event_time.0,
            run,
        })));
        if let Some(f) = flag {
            let flagged_now = self.io_names.get(&f.name).is_some_and(|id| self.flagged.contains_key(&id));
            // Unflagging what is not flagged changes nothing, as with `unflag`.
            if f.flagged || flagged_now {
                out.push(Planned::Flag { name: f.name, flagged: f.flagged, reason: f.reason, by: f.by });
            }
        }
        Ok(out)
    }

    /// A registration when job facets change a component's metadata (or a job event names a new
    /// one); `None` when nothing would change.
    fn registration(&self, name: &str, meta: &crate::openlineage::JobMeta, job_event: bool) -> Option<Planned> {
        let c = self.comp_names.get(name);
        if meta.is_empty() && (c.is_some() || !job_event) {
            return None;
        }
        let current = c.and_then(|c| self.comps[c as usize].versions.last());
        let (description, owner) = match current {
            Some(v) => (v.description.clone(), v.owner.clone()),
            None => (String::new(), String::new()),
        };
        let description = meta.description.clone().unwrap_or(description);
        let owner = meta.owner.clone().unwrap_or(owner);
        let has_tag =
            |t: &String| current.is_some_and(|v| self.tag_names.get(t).is_some_and(|id| v.tags.contains(&id)));
        let unchanged =
            current.is_some_and(|v| v.description == description && v.owner == owner) && meta.tags.iter().all(has_tag);
        if unchanged {
            return None;
        }
        Some(Planned::Register { name: name.to_string(), description, owner, tags: meta.tags.clone() })
    }

    /// The producer an input of run `id` resolves to (versioned when it has a hash), never the run
    /// itself: the contract's rule 1, on the producers known now.
    fn producer_for(&self, io: u32, hash: Option<&str>, id: RunId) -> Option<RunId> {
        let entry = &self.io[io as usize];
        let producers = entry.producers.as_slice(&self.io_lists);
        let latest_other = || producers.iter().rev().copied().find(|&p| p != id);
        let hashed = hash.map(fingerprint).and_then(|fp| {
            if fp == entry.latest_hash { producers.last().copied() } else { self.hashed.get(&(io, fp)).copied() }
        });
        hashed.filter(|&p| p != id).or_else(latest_other)
    }

    fn resolve_update(&self, part: &RunPart, component: &str, t: i64) -> Result<RunUpdate> {
        let existing = self.ol.ids.get(&part.uuid).copied();
        let prev = self.sketch(&part.uuid);
        let tr = transition(prev.as_ref(), part, component, t)?;
        let (id, opened) = match existing {
            Some(id) => (id, false),
            None => (self.runs.len() as RunId + 1, true),
        };
        let run = existing.and_then(|id| self.ol.runs.get(&id));
        let prev_status = prev.as_ref().map(|p| p.status);

        let had_inputs: HashSet<u32> = run.map(|r| r.inputs.iter().copied().collect()).unwrap_or_default();
        let had_outputs: HashMap<u32, bool> =
            run.map(|r| r.outputs.iter().map(|(io, h)| (*io, h.is_some())).collect()).unwrap_or_default();
        let completed_before = prev.as_ref().is_some_and(|p| p.status == RunStatus::Completed);
        let mut had_deps: HashSet<RunId> = HashSet::new();
        if !opened {
            for n in self.graph.neighbors(NodeIndex::new(id as usize - 1)) {
                had_deps.insert(n.index() as RunId + 1);
            }
        }
        // A dependency on a run that already depends on this one would close a cycle (possible only
        // for a run that completed and then names more inputs); such an input adds no dependency.
        let closes_cycle = |p: RunId| !opened && self.view(self.last_seq).trace_set(p).contains(id);

        let mut seen: HashSet<&str> = HashSet::new();
        let mut kinds: HashMap<&str, IoType> = HashMap::new();
        let kind_of = |name: &'_ str| -> IoType {
            match self.io_names.get(name) {
                Some(known) => self.io[known as usize].kind,
                None => dataset_type(name),
            }
        };
        let mut deps: Vec<Dependency> = Vec::new();
        let mut inputs = Vec::new();
        for io in &part.inputs {
            if !seen.insert(io.name.as_str()) || self.io_names.get(&io.name).is_some_and(|n| had_inputs.contains(&n)) {
                continue;
            }
            let kind = *kinds.entry(io.name.as_str()).or_insert_with(|| kind_of(&io.name));
            let producer = self
                .io_names
                .get(&io.name)
                .and_then(|n| self.producer_for(n, io.hash.as_deref(), id))
                .filter(|&p| !closes_cycle(p));
            if let Some(p) = producer
                && !had_deps.contains(&p)
                && !deps.iter().any(|d| d.run == p)
            {
                deps.push(Dependency { run: p, via: Some(io.name.clone()) });
            }
            inputs.push(IoRecord { name: io.name.clone(), hash: io.hash.clone(), kind, producer });
        }
        for up in &part.upstream {
            let latest =
                self.comp_names.get(up).and_then(|c| self.comps[c as usize].ids.iter().rev().find(|&&r| r != id));
            if let Some(&p) = latest
                && !had_deps.contains(&p)
                && !deps.iter().any(|d| d.run == p)
                && !closes_cycle(p)
            {
                deps.push(Dependency { run: p, via: None });
            }
        }
        deps.sort_by_key(|d| d.run);

        seen.clear();
        let mut outputs = Vec::new();
        for io in &part.outputs {
            // An output named again is new to the run only when it now brings the version the
            // first mention lacked (clients often send `version` with COMPLETE alone), and the run
            // has not yet produced it without one.
            let known = self.io_names.get(&io.name).and_then(|n| had_outputs.get(&n).copied());
            let adds_version = known == Some(false) && io.hash.is_some() && !completed_before;
            if !seen.insert(io.name.as_str()) || (known.is_some() && !adds_version) {
                continue;
            }
            let kind = *kinds.entry(io.name.as_str()).or_insert_with(|| kind_of(&io.name));
            outputs.push(IoRecord { name: io.name.clone(), hash: io.hash.clone(), kind, producer: None });
        }
        let produced = if tr.status != RunStatus::Completed {
            Vec::new()
        } else {
            let mut p = Vec::new();
            if prev_status != Some(RunStatus::Completed)
                && let Some(run) = run
            {
                for (io, hash) in &run.outputs {
                    let name = self.io_names.name(*io).to_string();
                    if outputs.iter().any(|o: &IoRecord| o.name == name) {
                        continue;
                    }
                    p.push(IoRecord { name, hash: hash.clone(), kind: self.io[*io as usize].kind, producer: None });
                }
            }
            p.extend(outputs.iter().cloned());
            p
        };
        let stale = self.staleness(id, tr.start, DEFAULT_STALENESS_S, &deps);
        Ok(RunUpdate {
            id,
            uuid: part.uuid.clone(),
            opened,
            component: component.to_string(),
            event_type: part.event_type.unwrap_or(EventType::Other).as_str().to_string(),
            start: tr.start,
            end: tr.end,
            status: tr.status,
            inputs,
            outputs,
            produced,
            dependencies: deps,
            stale,
            git_hash: part.git_hash.clone(),
            source_url: part.source_url.clone(),
            code_snapshot: part.code_snapshot.clone(),
            tests: part.tests.clone(),
            error: part.error.clone(),
            parent: part.parent.clone(),
            parent_component: part.parent_component.clone(),
        })
    }

    /// Records an OpenLineage event: only what it says, never a new decision.
    pub(crate) fn apply_lineage(&mut self, record: &LineageRecord, seq: Seq) {
        let Some(u) = &record.run else { return };
        let id = u.id;
        if u.opened {
            debug_assert_eq!(id as usize, self.runs.len() + 1);
            let c = self.component(&u.component, seq);
            let node = self.graph.add_node(());
            debug_assert_eq!(node.index() + 1, id as usize);
            self.runs.push(RunRow { seq, start: u.start, component: c });
            let entry = &mut self.comps[c as usize];
            if self.bulk {
                self.by_start.push(id);
                entry.by_start.push(id);
            } else {
                insert_sorted(&mut self.by_start, &self.runs, id);
                insert_sorted(&mut entry.by_start, &self.runs, id);
            }
            entry.ids.push(id);
            self.ol.ids.insert(u.uuid.clone(), id);
            self.ol.runs.insert(
                id,
                LineageRun {
                    status: RunStatus::Running,
                    start: u.start,
                    end: u.end,
                    start_event: None,
                    ended: None,
                    seqs: Vec::new(),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                },
            );
        } else if let Some(row) = self.row(id).cloned()
            && row.start != u.start
        {
            self.move_start(id, row.component, u.start);
        }
        // A name first seen in a later event dates from the newest run, not from this older one, so
        // that an `as_of` before this event does not know it (as near as run ids can say).
        let first_run = if u.opened { id } else { self.runs.len() as RunId };
        let mut input_ids = Vec::with_capacity(u.inputs.len());
        for input in &u.inputs {
            let io = self.io_id_of(&input.name, input.kind, first_run);
            self.io[io as usize].consumers.push(id, &mut self.io_lists);
            if !u.opened {
                self.ol.late_consumers.insert((io, id), seq);
            }
            input_ids.push(io);
        }
        let mut output_ids: Vec<(u32, Option<String>)> = Vec::with_capacity(u.outputs.len());
        for output in &u.outputs {
            let io = self.io_id_of(&output.name, output.kind, first_run);
            output_ids.push((io, output.hash.clone()));
        }
        for p in &u.produced {
            let io = self.io_id_of(&p.name, p.kind, first_run);
            let entry = &mut self.io[io as usize];
            let fp = p.hash.as_deref().map_or(0, fingerprint);
            if let Some(&previous) = entry.producers.as_slice(&self.io_lists).last()
                && entry.latest_hash != 0
                && entry.latest_hash != fp
            {
                self.hashed.insert((io, entry.latest_hash), previous);
            }
            entry.producers.push(id, &mut self.io_lists);
            entry.latest_hash = fp;
            if !u.opened {
                self.ol.late_producers.insert((io, id), seq);
            }
        }
        let node = NodeIndex::new(id as usize - 1);
        for dep in &u.dependencies {
            let via = dep.via.as_deref().and_then(|n| self.io_names.get(n)).unwrap_or(super::NO_VIA);
            self.graph.add_edge(node, NodeIndex::new(dep.run as usize - 1), via);
            if !u.opened {
                self.ol.late_edges.insert((id, dep.run), seq);
            }
        }
        if let Some(run) = self.ol.runs.get_mut(&id) {
            if u.status.is_terminal() && !run.status.is_terminal() {
                self.ol.ended.push((seq, id));
                run.ended = Some(seq);
            }
            run.status = u.status;
            run.start = u.start;
            run.end = u.end;
            if u.event_type == "START" {
                run.start_event = Some(run.start_event.map_or(record.event_time, |s| s.min(record.event_time)));
            }
            run.seqs.push(seq);
            run.inputs.extend(input_ids);
            for (io, hash) in output_ids {
                match run.outputs.iter_mut().find(|(known, _)| *known == io) {
                    Some(slot) => slot.1 = slot.1.take().or(hash),
                    None => run.outputs.push((io, hash)),
                }
            }
        }
    }

    /// A run's start moved earlier (a START that arrived after later events): keep the
    /// start-ordered indices sorted. Views before the move order the run by its new start.
    fn move_start(&mut self, id: RunId, c: u32, start: i64) {
        if !self.bulk {
            self.by_start.retain(|&r| r != id);
            self.comps[c as usize].by_start.retain(|&r| r != id);
        }
        self.runs[id as usize - 1].start = start;
        if !self.bulk {
            insert_sorted(&mut self.by_start, &self.runs, id);
            insert_sorted(&mut self.comps[c as usize].by_start, &self.runs, id);
        }
    }

    /// Whether a run had failed or been aborted by `seq`.
    pub(crate) fn failed_by(&self, id: RunId, seq: Seq) -> bool {
        self.ol.runs.get(&id).is_some_and(|r| {
            matches!(r.status, RunStatus::Failed | RunStatus::Aborted) && r.ended.is_some_and(|s| s <= seq)
        })
    }

    /// The OpenLineage run behind a run id, if it is one.
    pub(crate) fn lineage_run(&self, id: RunId) -> Option<&LineageRun> {
        self.ol.runs.get(&id)
    }

    /// The run an OpenLineage `runId` maps to.
    pub(crate) fn lineage_id(&self, uuid: &str) -> Option<RunId> {
        self.ol.ids.get(uuid).copied()
    }
}
