//! The materialized state: every index, rebuilt from the log by [`State::apply`], and the structural
//! queries over it, always through a [`View`] that fixes a point in the log's history.
//!
//! Layout, chosen for millions of runs: names are interned (4-byte ids); runs live in one compact
//! table indexed by id (seq, start, component); lineage is a petgraph DAG whose node index is
//! `run id - 1` and whose edges point from a run to its dependencies, labelled with the linking input;
//! per-output producer and consumer lists; per-component runs ordered by start; flags as a roaring
//! bitmap. Cold fields (code, git, tests, messages) stay in the log and are read on demand.
//!
//! This module never does I/O and never decides anything a replay could decide differently: what
//! [`State::resolve`] computes goes into the event, and [`State::apply`] only records it.

use crate::error::{Result, StoreError};
use crate::event::{Dependency, EventKindRef, EventRef, IoRecord, IoRef, IoType, RunId, RunRecord, RunRef, Seq};
use crate::ingest::NewRun;
use crate::log::Loc;
use crate::names::Interner;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::borrow::Cow;
// hashbrown's default hasher (foldhash) is several times faster than std's SipHash, and these
// tables are rebuilt from the log, never fed by an adversary who could pick colliding keys.
use hashbrown::{HashMap, HashSet};

// OpenLineage runs: resolved and applied by a child module, so that it shares the private indices.
#[path = "state_lineage.rs"]
pub(crate) mod lineage;

/// Edge label for an explicit upstream dependency (no linking input).
pub(crate) const NO_VIA: u32 = u32::MAX;
const DAY_MS: i64 = 86_400_000;

type Lineage = petgraph::Graph<(), u32, petgraph::Directed, u32>;

/// The producers or the consumers of an I/O name, as a 4-byte handle: 0 for none, the run id itself
/// for one run, and for more (the rare case) the high bit set over an index into the state's
/// `io_lists` side tables. There are two per name and 1.17 names per run in the benchmark workload:
/// as an inline enum with a boxed `Vec` for the long case they were 32 of `IoEntry`'s 48 bytes
/// (56 bytes a run, plus a 32-byte box for each long list); as handles `IoEntry` is 24 bytes.
///
/// Run ids must therefore stay below 2^31, and side-table indices below 2^30 (the next bit says
/// which table): [`State::check_room`] refuses the append that would reach that, so `push` never
/// sees a larger one.
#[derive(Serialize, Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(transparent)]
pub(crate) struct IdList(u32);

/// Set in an [`IdList`] handle of a list of two runs or more.
const LIST: u32 = 1 << 31;
/// Set beside [`LIST`] for a list of three or more (in `IdLists::long`, else in `IdLists::pairs`).
const LONG: u32 = 1 << 30;
/// The most runs the state addresses (run ids are [`IdList`] handles).
pub(crate) const MAX_RUNS: u32 = LIST - 1;
/// The most entries of each side table of [`IdLists`].
const MAX_LISTS: u32 = LONG - 1;

/// The producer and consumer lists longer than one run. Most are two runs long (an output produced
/// twice, a name read by a second run): those are 8-byte pairs, where a `Vec` would cost its
/// 24-byte header and an allocation; a pair that grows moves to `long` and its slot is reused.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct IdLists {
    pairs: Vec<[RunId; 2]>,
    /// Slots of `pairs` whose list moved to `long`.
    free_pairs: Vec<u32>,
    long: Vec<Vec<RunId>>,
}

impl IdLists {
    fn new_pair(&mut self, pair: [RunId; 2]) -> u32 {
        if let Some(slot) = self.free_pairs.pop()
            && let Some(free) = self.pairs.get_mut(slot as usize)
        {
            *free = pair;
            return slot;
        }
        self.pairs.push(pair);
        self.pairs.len() as u32 - 1
    }

    fn shrink_to_fit(&mut self) {
        self.pairs.shrink_to_fit();
        self.free_pairs.shrink_to_fit();
        self.long.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.pairs.capacity() * size_of::<[RunId; 2]>()
            + self.free_pairs.capacity() * size_of::<u32>()
            + self.long.capacity() * size_of::<Vec<RunId>>()
            + self.long.iter().map(|l| l.capacity() * size_of::<RunId>()).sum::<usize>()
    }
}

impl IdList {
    /// Appends a run id; a list that grows past one moves to `lists`.
    fn push(&mut self, id: RunId, lists: &mut IdLists) {
        debug_assert!(id != 0 && id <= MAX_RUNS);
        debug_assert!(lists.pairs.len() < MAX_LISTS as usize && lists.long.len() < MAX_LISTS as usize);
        let index = (self.0 & !(LIST | LONG)) as usize;
        match self.0 {
            0 => self.0 = id,
            one if one & LIST == 0 => self.0 = LIST | lists.new_pair([one, id]),
            pair if pair & LONG == 0 => {
                let [a, b] = lists.pairs.get(index).copied().unwrap_or_default();
                lists.free_pairs.push(index as u32);
                self.0 = LIST | LONG | lists.long.len() as u32;
                lists.long.push(vec![a, b, id]);
            }
            _ => {
                if let Some(list) = lists.long.get_mut(index) {
                    list.push(id);
                }
            }
        }
    }

    pub(crate) fn as_slice<'s>(&'s self, lists: &'s IdLists) -> &'s [RunId] {
        let index = (self.0 & !(LIST | LONG)) as usize;
        match self.0 {
            0 => &[],
            one if one & LIST == 0 => std::slice::from_ref(&self.0),
            pair if pair & LONG == 0 => lists.pairs.get(index).map_or(&[], |p| p.as_slice()),
            _ => lists.long.get(index).map_or(&[], Vec::as_slice),
        }
    }
}

/// One run's hot fields. Packed to 4-byte alignment: 20 bytes a run instead of 24 (the padding
/// after `component`), at the price of reading fields by value only (no references into a row).
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(crate) struct RunRow {
    pub seq: Seq,
    pub start: i64,
    pub component: u32,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct IoEntry {
    pub kind: IoType,
    /// The first run that named it (names only ever come into being through runs).
    pub first_run: RunId,
    /// Fingerprint of the content hash its latest producer gave it (0: none). Older versions live
    /// in `State::hashed`; most names have one version, so most names need no entry there.
    pub latest_hash: u64,
    pub producers: IdList,
    pub consumers: IdList,
}

// The sizes the memory budget counts on: a run row, and an I/O entry per name.
const _: () = assert!(std::mem::size_of::<RunRow>() == 20 && std::mem::size_of::<IoEntry>() == 24);

#[derive(Serialize, Deserialize)]
pub(crate) struct ComponentVersion {
    pub seq: Seq,
    pub description: String,
    pub owner: String,
    pub tags: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ComponentEntry {
    pub created: Seq,
    pub versions: Vec<ComponentVersion>,
    /// Run ids, ascending by (start, id).
    pub by_start: Vec<RunId>,
    /// Ids, ascending.
    pub ids: Vec<RunId>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct FlagEntry {
    pub reason: Option<String>,
    pub by: Option<String>,
    pub at: i64,
    pub seq: Seq,
    /// Position in its event's list: outputs flagged together keep the order they were given in.
    pub pos: u32,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct FlagChange {
    pub seq: Seq,
    pub at: i64,
    pub flag: bool,
    pub ids: Vec<u32>,
    pub reason: Option<String>,
    pub by: Option<String>,
}

/// Everything the log materializes into.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct State {
    pub io_names: Interner,
    pub io: Vec<IoEntry>,
    /// The producer and consumer lists longer than one run (see [`IdList`]).
    pub io_lists: IdLists,
    pub comp_names: Interner,
    pub comps: Vec<ComponentEntry>,
    pub tag_names: Interner,
    pub runs: Vec<RunRow>,
    pub graph: Lineage,
    /// Every run id, ascending by (start, id): the order of `recent`. Ids alone (the start is in
    /// `runs`) keep this at 4 bytes a run.
    pub by_start: Vec<RunId>,
    /// Latest producer of (output, fingerprint of a content hash) for the versions of an output
    /// that a newer producer superseded (the newest version is `IoEntry::latest_hash`).
    hashed: HashMap<(u32, u64), RunId>,
    pub flagged: HashMap<u32, FlagEntry>,
    pub flag_bits: RoaringBitmap,
    pub flag_log: Vec<FlagChange>,
    pub notes: HashMap<RunId, Vec<(Seq, String)>>,
    /// Hash of an idempotency key → run; the run's event holds the key to confirm a hit.
    idem: HashMap<u64, RunId>,
    pub locs: Vec<Loc>,
    /// (first seq, append time) for each run of events appended at the same millisecond.
    times: Vec<(Seq, i64)>,
    pub last_seq: Seq,
    /// OpenLineage runs, which grow over several events (empty without them).
    pub ol: lineage::LineageIndex,
    /// The Merkle tree over the events whose records are written (see `audit`): it trails
    /// `last_seq` only while a batch is being written.
    pub tree: crate::audit::MerkleTree,
    /// Seq of the last signed tree head written to the log (0: none).
    pub last_head: Seq,
    /// Replaying: the start-ordered indices are appended to and sorted once at the end
    /// ([`State::end_bulk`]) instead of kept sorted at every run.
    #[serde(skip)]
    bulk: bool,
}

/// A 64-bit fingerprint (FNV-1a) of a string: fixed across builds and processes, because the
/// tables keyed by it are saved in checkpoints. Idempotency keys are confirmed against the run's
/// event on a hit; content hashes are not, which leaves a 2^-64 chance per pair of versions of one
/// name that a hash-matched input links to the wrong version.
pub(crate) fn fingerprint(text: &str) -> u64 {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    // 0 means "no hash" in `IoEntry::latest_hash`.
    h.max(1)
}

/// A small map keyed by the names of one request: a run names a handful of inputs and outputs, for
/// which a scan is cheaper than hashing (a hash set and map per run were ~3% of ingest); a long
/// list switches to a hash map.
enum Names<'n, V> {
    Few(SmallVec<[(&'n str, V); 8]>),
    Many(HashMap<&'n str, V>),
}

impl<'n, V: Copy> Names<'n, V> {
    const FEW: usize = 16;

    fn with_capacity(n: usize) -> Self {
        if n <= Self::FEW { Names::Few(SmallVec::new()) } else { Names::Many(HashMap::with_capacity(n)) }
    }

    /// Adds `name` unless present; true when it was added.
    fn insert(&mut self, name: &'n str, value: V) -> bool {
        match self {
            Names::Few(v) if v.iter().any(|(n, _)| *n == name) => false,
            Names::Few(v) if v.len() < Self::FEW => {
                v.push((name, value));
                true
            }
            Names::Few(v) => {
                let mut map: HashMap<&'n str, V> = v.drain(..).collect();
                map.insert(name, value);
                *self = Names::Many(map);
                true
            }
            Names::Many(m) => match m.entry(name) {
                hashbrown::hash_map::Entry::Occupied(_) => false,
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(value);
                    true
                }
            },
        }
    }

    /// The value of `name`, first set by `make` when absent.
    fn get_or_insert(&mut self, name: &'n str, make: impl FnOnce() -> V) -> V {
        let found = match self {
            Names::Few(v) => v.iter().find(|(n, _)| *n == name).map(|&(_, value)| value),
            Names::Many(m) => m.get(name).copied(),
        };
        found.unwrap_or_else(|| {
            let value = make();
            self.insert(name, value);
            value
        })
    }
}

/// The pieces of a sentence, joined.
fn sentence(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    pieces.iter().for_each(|p| out.push_str(p));
    out
}

/// `slice.partition_point(pred)`, searched from the end by doubling steps: in staleness the point
/// is nearly always among the last entries (a dependency is usually its component's latest run),
/// where this touches a few cache lines instead of a binary search's ~20 scattered ones.
fn partition_point_from_end<T>(slice: &[T], mut pred: impl FnMut(&T) -> bool) -> usize {
    // Everything at or after `hi` is known to fail `pred`.
    let mut hi = slice.len();
    let mut step = 1;
    while hi > 0 {
        let probe = hi.saturating_sub(step);
        if pred(&slice[probe]) {
            return probe + 1 + slice[probe + 1..hi].partition_point(pred);
        }
        hi = probe;
        step *= 2;
    }
    0
}

fn insert_sorted(v: &mut Vec<RunId>, runs: &[RunRow], id: RunId) {
    let key = |r: RunId| (runs[r as usize - 1].start, r);
    let item = key(id);
    // Runs mostly arrive in start order, and out of order still among the latest starts (concurrent
    // pipelines log within moments of each other): searched from the end, the common case is one
    // comparison with the last entry and an append, where a binary search over millions of entries
    // was ~10% of replay (perf, 300k runs).
    let at = partition_point_from_end(v, |&x| key(x) < item);
    v.insert(at, id);
}

impl State {
    /// Records one event. Called for replay and for live appends alike, so both build the same state.
    pub fn apply(&mut self, event: &EventRef<'_>, loc: Loc) {
        debug_assert_eq!(event.seq, self.last_seq + 1);
        self.last_seq = event.seq;
        self.locs.push(loc);
        if self.times.last().is_none_or(|&(_, at)| at != event.at) {
            self.times.push((event.seq, event.at));
        }
        match &event.kind {
            EventKindRef::ComponentRegistered { name, description, owner, tags } => {
                let c = self.component(name, event.seq);
                let mut tag_ids = self.current_tags(c);
                self.add_tags(&mut tag_ids, tags);
                self.comps[c as usize].versions.push(ComponentVersion {
                    seq: event.seq,
                    description: description.to_string(),
                    owner: owner.to_string(),
                    tags: tag_ids,
                });
            }
            EventKindRef::ComponentTagged { name, tags } => {
                let c = self.component(name, event.seq);
                let (description, owner) = match self.comps[c as usize].versions.last() {
                    Some(v) => (v.description.clone(), v.owner.clone()),
                    None => Default::default(),
                };
                let mut tag_ids = self.current_tags(c);
                self.add_tags(&mut tag_ids, tags);
                self.comps[c as usize].versions.push(ComponentVersion {
                    seq: event.seq,
                    description,
                    owner,
                    tags: tag_ids,
                });
            }
            EventKindRef::RunLogged(run) => self.apply_run(run, event.seq),
            EventKindRef::Lineage(record) => self.apply_lineage(record, event.seq),
            EventKindRef::NotesSet { run, notes } => {
                self.notes.entry(*run).or_default().push((event.seq, notes.to_string()));
            }
            EventKindRef::Flagged { outputs, reason, by } => {
                let ids: Vec<u32> = outputs.iter().filter_map(|n| self.io_names.get(n)).collect();
                for (pos, &id) in ids.iter().enumerate() {
                    let entry = FlagEntry {
                        reason: reason.map(str::to_string),
                        by: by.map(str::to_string),
                        at: event.at,
                        seq: event.seq,
                        pos: pos as u32,
                    };
                    self.flagged.insert(id, entry);
                    self.flag_bits.insert(id);
                }
                self.flag_log.push(FlagChange {
                    seq: event.seq,
                    at: event.at,
                    flag: true,
                    ids,
                    reason: reason.map(str::to_string),
                    by: by.map(str::to_string),
                });
            }
            EventKindRef::Unflagged { outputs, .. } => {
                let ids: Vec<u32> = outputs.iter().filter_map(|n| self.io_names.get(n)).collect();
                for id in &ids {
                    self.flagged.remove(id);
                    self.flag_bits.remove(*id);
                }
                self.flag_log.push(FlagChange {
                    seq: event.seq,
                    at: event.at,
                    flag: false,
                    ids,
                    reason: None,
                    by: None,
                });
            }
            EventKindRef::TreeHead { .. } => self.last_head = event.seq,
        }
    }

    /// Sets the location of an event applied before its batch was written.
    pub fn set_loc(&mut self, seq: Seq, loc: Loc) {
        if let Some(slot) = self.locs.get_mut(seq as usize - 1) {
            *slot = loc;
        }
    }

    fn component(&mut self, name: &str, seq: Seq) -> u32 {
        let (c, new) = self.comp_names.intern(name);
        if new {
            self.comps.push(ComponentEntry {
                created: seq,
                versions: Vec::new(),
                by_start: Vec::new(),
                ids: Vec::new(),
            });
        }
        c
    }

    fn current_tags(&self, c: u32) -> Vec<u32> {
        self.comps[c as usize].versions.last().map(|v| v.tags.clone()).unwrap_or_default()
    }

    fn add_tags(&mut self, tag_ids: &mut Vec<u32>, tags: &[&str]) {
        for t in tags {
            let (id, _) = self.tag_names.intern(t);
            if !tag_ids.contains(&id) {
                tag_ids.push(id);
            }
        }
    }

    fn io_id(&mut self, io: &IoRef<'_>, run: RunId) -> u32 {
        self.io_id_of(io.name, io.kind, run)
    }

    fn io_id_of(&mut self, name: &str, kind: IoType, run: RunId) -> u32 {
        let (id, new) = self.io_names.intern(name);
        if new {
            self.io.push(IoEntry {
                kind,
                first_run: run,
                latest_hash: 0,
                producers: IdList::default(),
                consumers: IdList::default(),
            });
        }
        id
    }

    fn apply_run(&mut self, run: &RunRef<'_>, seq: Seq) {
        debug_assert_eq!(run.id as usize, self.runs.len() + 1);
        let c = self.component(run.component, seq);
        // The inputs' ids, for the edges below: a dependency's linking input is one of them, and a
        // scan of a handful beats looking the name up in the table again.
        let mut input_ids: SmallVec<[(&str, u32); 4]> = SmallVec::new();
        for input in &run.inputs {
            let id = self.io_id(input, run.id);
            self.io[id as usize].consumers.push(run.id, &mut self.io_lists);
            input_ids.push((input.name, id));
        }
        for output in &run.outputs {
            let id = self.io_id(output, run.id);
            let entry = &mut self.io[id as usize];
            let fp = output.hash.map_or(0, fingerprint);
            if let Some(&previous) = entry.producers.as_slice(&self.io_lists).last()
                && entry.latest_hash != 0
                && entry.latest_hash != fp
            {
                self.hashed.insert((id, entry.latest_hash), previous);
            }
            entry.producers.push(run.id, &mut self.io_lists);
            entry.latest_hash = fp;
        }
        let node = self.graph.add_node(());
        debug_assert_eq!(node.index() + 1, run.id as usize);
        for dep in &run.dependencies {
            let via = dep
                .via
                .and_then(|n| {
                    input_ids.iter().find(|(name, _)| *name == n).map(|&(_, id)| id).or_else(|| self.io_names.get(n))
                })
                .unwrap_or(NO_VIA);
            self.graph.add_edge(node, NodeIndex::new(dep.run as usize - 1), via);
        }
        self.runs.push(RunRow { seq, start: run.start, component: c });
        let entry = &mut self.comps[c as usize];
        if self.bulk {
            self.by_start.push(run.id);
            entry.by_start.push(run.id);
        } else {
            insert_sorted(&mut self.by_start, &self.runs, run.id);
            insert_sorted(&mut entry.by_start, &self.runs, run.id);
        }
        entry.ids.push(run.id);
        if let Some(k) = run.idempotency_key {
            self.idem.insert(fingerprint(k), run.id);
        }
    }

    /// Refuses an append of `runs` runs with `links` inputs and outputs between them when it could
    /// take run ids or a side table of lists past what an [`IdList`] handle addresses (each link
    /// adds at most one list to one of them). Checked before a write adds its first event, so nothing is written.
    pub fn check_room(&self, runs: usize, links: usize) -> Result<()> {
        let lists = self.io_lists.pairs.len().max(self.io_lists.long.len());
        if self.runs.len().saturating_add(runs) > MAX_RUNS as usize || lists.saturating_add(links) > MAX_LISTS as usize
        {
            return Err(StoreError::Unavailable(format!(
                "the store holds {} runs and {lists} producer or consumer lists of a kind, and its indices \
                 address at most {MAX_RUNS} runs and {MAX_LISTS} lists of a kind; start a new data directory \
                 for further runs",
                self.runs.len(),
            )));
        }
        Ok(())
    }

    /// The run an idempotency key may belong to (the caller confirms against the run's event).
    pub fn idempotent_candidate(&self, key: &str) -> Option<RunId> {
        self.idem.get(&fingerprint(key)).copied()
    }

    pub fn row(&self, id: RunId) -> Option<&RunRow> {
        self.runs.get((id as usize).checked_sub(1)?)
    }

    /// The latest run of a component (any time), for rule 2.
    fn latest_of(&self, c: u32) -> Option<RunId> {
        self.comps.get(c as usize)?.ids.last().copied()
    }

    /// The records of one I/O list: duplicates dropped (first kept), each name's type as fixed when
    /// it was first seen (in the state, or earlier in this request).
    /// Which entries of `list` a run keeps (duplicates dropped, first appearance kept), with the
    /// type each name has or gets.
    fn select_io<'n>(
        &self,
        list: &'n [crate::ingest::IoSpec],
        kinds: &mut Names<'n, IoType>,
    ) -> Vec<(usize, IoType, Option<u32>)> {
        let mut seen: Names<'n, ()> = Names::with_capacity(list.len());
        list.iter()
            .enumerate()
            .filter(|(_, io)| seen.insert(io.name.as_str(), ()))
            .map(|(i, io)| {
                let known = self.io_names.get(&io.name);
                let kind = match known {
                    Some(known) => self.io[known as usize].kind,
                    None => {
                        kinds.get_or_insert(io.name.as_str(), || io.kind.unwrap_or_else(|| IoType::infer(&io.name)))
                    }
                };
                (i, kind, known)
            })
            .collect()
    }

    /// Turns a checked request into the run's final record: id, types, dependencies, staleness.
    /// Runs against the newest state (including earlier runs of the same batch). Takes the request
    /// by value so that its strings move into the record instead of being copied.
    pub fn resolve(&self, mut new: NewRun) -> RunRecord {
        let id = self.runs.len() as RunId + 1;
        // Borrowed names while choosing: no copy of a name until the record takes it.
        let (keep_in, keep_out) = {
            let mut kinds = Names::with_capacity(new.inputs.len() + new.outputs.len());
            let keep_in = self.select_io(&new.inputs, &mut kinds);
            let keep_out = self.select_io(&new.outputs, &mut kinds);
            (keep_in, keep_out)
        };
        // The ids of the inputs already known, looked up once while choosing.
        let input_ids: Vec<Option<u32>> = keep_in.iter().map(|&(_, _, id)| id).collect();
        let take = |list: &mut Vec<crate::ingest::IoSpec>, keep: Vec<(usize, IoType, Option<u32>)>| -> Vec<IoRecord> {
            keep.into_iter()
                .map(|(i, kind, _)| {
                    let io = std::mem::take(&mut list[i]);
                    IoRecord { name: io.name, hash: io.hash, kind, producer: None }
                })
                .collect()
        };
        let mut inputs = take(&mut new.inputs, keep_in);
        let outputs = take(&mut new.outputs, keep_out);

        let mut deps: Vec<Dependency> = Vec::new();
        if new.dependencies_from_inputs {
            for (input, known) in inputs.iter_mut().zip(input_ids) {
                let Some(io) = known else { continue };
                let entry = &self.io[io as usize];
                let hashed = input.hash.as_deref().map(fingerprint).and_then(|fp| {
                    if fp == entry.latest_hash {
                        entry.producers.as_slice(&self.io_lists).last().copied()
                    } else {
                        self.hashed.get(&(io, fp)).copied()
                    }
                });
                let producer = hashed.or_else(|| entry.producers.as_slice(&self.io_lists).last().copied());
                input.producer = producer;
                if let Some(p) = producer
                    && !deps.iter().any(|d| d.run == p)
                {
                    deps.push(Dependency { run: p, via: Some(input.name.clone()) });
                }
            }
        }
        for up in &new.upstream {
            let latest = self.comp_names.get(up).and_then(|c| self.latest_of(c));
            if let Some(p) = latest
                && !deps.iter().any(|d| d.run == p)
            {
                deps.push(Dependency { run: p, via: None });
            }
        }
        deps.sort_by_key(|d| d.run);
        let stale = self.staleness(id, new.start.0, new.staleness_threshold_s, &deps);
        RunRecord {
            id,
            component: new.component,
            start: new.start.0,
            end: new.end.0,
            inputs,
            outputs,
            dependencies: deps,
            stale,
            git_hash: new.git_hash,
            git_tags: new.git_tags,
            code_snapshot: new.code_snapshot,
            notes: new.notes,
            tests: new.tests,
            idempotency_key: new.idempotency_key,
        }
    }

    /// The contract's staleness messages, in dependency id order.
    fn staleness(&self, this: RunId, start: i64, threshold_s: u64, deps: &[Dependency]) -> Vec<String> {
        let threshold_ms = i64::try_from(threshold_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        // Pieces joined by hand: `format!` was half the cost of these sentences, which nearly every
        // run of a pipeline gets.
        let (mut ids, mut days) = (itoa::Buffer::new(), itoa::Buffer::new());
        for d in deps {
            let Some(row) = self.row(d.run) else { continue };
            let name = self.comp_names.name(row.component);
            let age = start - row.start;
            if age > threshold_ms {
                out.push(sentence(&[
                    name,
                    " (ID ",
                    ids.format(d.run),
                    ") was run ",
                    days.format(age / DAY_MS),
                    " days ago.",
                ]));
            }
            if row.start <= start {
                let runs = &self.comps[row.component as usize].by_start;
                let start_of = |r: RunId| self.runs[r as usize - 1].start;
                let lo = partition_point_from_end(runs, |&r| start_of(r) < row.start);
                let hi = partition_point_from_end(runs, |&r| start_of(r) <= start);
                let n = if self.ol.runs.is_empty() {
                    hi - lo - 1
                } else {
                    // With OpenLineage runs: a run that had failed when this was appended is no
                    // fresher data, and an OpenLineage run's own later events must not count it.
                    let fresher = |&&r: &&RunId| r != d.run && r != this && !self.failed_by(r, self.last_seq);
                    runs[lo..hi].iter().filter(fresher).count()
                };
                if n >= 1 {
                    let noun = if n == 1 { " fresher run" } else { " fresher runs" };
                    let mut count = itoa::Buffer::new();
                    out.push(sentence(&[
                        name,
                        " (ID ",
                        ids.format(d.run),
                        ") has ",
                        count.format(n),
                        noun,
                        " that began before this component run started.",
                    ]));
                }
            }
        }
        out
    }

    /// The last seq appended at or before `t` (0 if none).
    pub fn seq_at_time(&self, t: i64) -> Seq {
        let i = self.times.partition_point(|&(_, at)| at <= t);
        if i == 0 {
            0
        } else if let Some(&(next_first, _)) = self.times.get(i) {
            next_first - 1
        } else {
            self.last_seq
        }
    }

    /// Makes room for about `events` more events of runs (a replay's estimate from the log's size).
    pub fn reserve(&mut self, events: u64) {
        let n = usize::try_from(events).unwrap_or(usize::MAX).min(1 << 32);
        self.locs.reserve(n);
        self.runs.reserve(n);
        self.by_start.reserve(n);
        self.io.reserve(n);
        self.io_names.reserve(n);
        self.graph.reserve_nodes(n);
        self.graph.reserve_edges(n);
    }

    /// Starts a bulk load (replay): see [`State::end_bulk`].
    pub fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    /// Ends a bulk load: sorts the start-ordered indices once (keeping them sorted run by run costs
    /// a binary search and a move of the tail whenever runs arrive out of start order) and returns
    /// spare capacity.
    pub fn end_bulk(&mut self) {
        if !self.bulk {
            return;
        }
        self.bulk = false;
        let runs = &self.runs;
        let key = |&r: &RunId| (runs[r as usize - 1].start, r);
        self.by_start.sort_unstable_by_key(key);
        for c in &mut self.comps {
            c.by_start.sort_unstable_by_key(key);
        }
        self.shrink();
    }

    /// Returns spare capacity after a bulk load (replay grows vectors by doubling).
    pub fn shrink(&mut self) {
        self.io_names.shrink();
        self.comp_names.shrink();
        self.graph.shrink_to_fit();
        for c in &mut self.comps {
            c.by_start.shrink_to_fit();
            c.ids.shrink_to_fit();
        }
        self.runs.shrink_to_fit();
        self.io.shrink_to_fit();
        self.io_lists.shrink_to_fit();
        self.by_start.shrink_to_fit();
        self.locs.shrink_to_fit();
        self.times.shrink_to_fit();
        self.tree.shrink();
    }

    /// Approximate heap bytes of each index, for the memory report of benchmarks and `stats`.
    pub fn memory(&self) -> Vec<(&'static str, usize)> {
        use std::mem::size_of;
        let io_lists = self.io_lists.heap_bytes();
        let comps: usize = self.comps.iter().map(|c| c.by_start.capacity() * 4 + c.ids.capacity() * 4).sum();
        vec![
            ("runs", self.runs.capacity() * size_of::<RunRow>()),
            ("io entries", self.io.capacity() * size_of::<IoEntry>()),
            ("io producer/consumer lists", io_lists),
            ("io names", self.io_names.heap_bytes()),
            ("lineage graph", self.graph.capacity().0 * 8 + self.graph.capacity().1 * 20),
            ("recent index", self.by_start.capacity() * 4),
            ("component indices", comps),
            ("hashed outputs", self.hashed.capacity() * (size_of::<((u32, u64), RunId)>() + 1)),
            ("event locations", self.locs.capacity() * 8),
            ("idempotency keys", self.idem.capacity() * 13),
            ("audit tree", self.tree.memory()),
        ]
    }

    /// The append time of event `seq` (of the last event at or before it).
    pub fn last_time_at(&self, seq: Seq) -> i64 {
        let i = self.times.partition_point(|&(first, _)| first <= seq);
        i.checked_sub(1).and_then(|i| self.times.get(i)).map_or(0, |&(_, at)| at)
    }

    /// The time of the last event; appends never go back in time.
    pub fn last_time(&self) -> i64 {
        self.times.last().map(|&(_, at)| at).unwrap_or(i64::MIN)
    }

    /// A read view at `seq`.
    pub fn view(&self, seq: Seq) -> View<'_> {
        let seq = seq.min(self.last_seq);
        let max_run = self.runs.partition_point(|r| r.seq <= seq) as RunId;
        View { st: self, seq, max_run }
    }
}

/// The state as it was right after event `seq`: every query goes through one.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub st: &'a State,
    pub seq: Seq,
    pub max_run: RunId,
}

/// A structural lineage answer: run ids with depths, and edges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Walk {
    pub nodes: Vec<(RunId, u32)>,
    pub edges: Vec<(RunId, RunId, u32)>,
    pub truncated: bool,
}

/// Flag state at a view.
pub(crate) type FlagMap<'a> = Cow<'a, HashMap<u32, FlagEntry>>;

impl<'a> View<'a> {
    pub fn is_current(&self) -> bool {
        self.seq >= self.st.last_seq
    }

    pub fn run(&self, id: RunId) -> Option<&'a RunRow> {
        if id == 0 || id > self.max_run {
            return None;
        }
        self.st.row(id)
    }

    pub fn io(&self, name: &str) -> Option<u32> {
        let id = self.st.io_names.get(name)?;
        (self.st.io[id as usize].first_run <= self.max_run).then_some(id)
    }

    pub fn component(&self, name: &str) -> Option<u32> {
        let c = self.st.comp_names.get(name)?;
        (self.st.comps[c as usize].created <= self.seq).then_some(c)
    }

    pub fn components(&self) -> impl Iterator<Item = u32> + 'a {
        let seq = self.seq;
        let st = self.st;
        (0..st.comps.len() as u32).filter(move |&c| st.comps[c as usize].created <= seq)
    }

    /// (description, owner, tag ids) of a component at this view.
    pub fn component_meta(&self, c: u32) -> (&'a str, &'a str, &'a [u32]) {
        let versions = &self.st.comps[c as usize].versions;
        let i = versions.partition_point(|v| v.seq <= self.seq);
        match i.checked_sub(1).and_then(|i| versions.get(i)) {
            Some(v) => (&v.description, &v.owner, &v.tags),
            None => ("", "", &[]),
        }
    }

    fn visible<'s>(&self, ids: &'s [RunId]) -> &'s [RunId] {
        &ids[..ids.partition_point(|&id| id <= self.max_run)]
    }

    pub fn producers(&self, io: u32) -> &'a [RunId] {
        let ids = self.st.io[io as usize].producers.as_slice(&self.st.io_lists);
        if self.st.ol.late_producers.is_empty() {
            return self.visible(ids);
        }
        self.visible_links(ids, io, &self.st.ol.late_producers)
    }

    pub fn consumers(&self, io: u32) -> &'a [RunId] {
        let ids = self.st.io[io as usize].consumers.as_slice(&self.st.io_lists);
        if self.st.ol.late_consumers.is_empty() {
            return self.visible(ids);
        }
        self.visible_links(ids, io, &self.st.ol.late_consumers)
    }

    /// The prefix of a producer or consumer list that existed at this view. Entries are appended
    /// in log order, so their seqs ascend: a native run's entry dates from its event, an entry an
    /// OpenLineage run added later from the event that added it.
    fn visible_links<'s>(&self, ids: &'s [RunId], io: u32, late: &HashMap<(u32, RunId), Seq>) -> &'s [RunId] {
        let added = |id: RunId| late.get(&(io, id)).copied().unwrap_or_else(|| self.st.runs[id as usize - 1].seq);
        &ids[..ids.partition_point(|&id| added(id) <= self.seq)]
    }

    /// Whether an edge existed at this view (edges an OpenLineage run added after its first event
    /// carry their own seq).
    fn edge_visible(&self, from: RunId, to: RunId) -> bool {
        self.st.ol.late_edges.is_empty() || self.st.ol.late_edges.get(&(from, to)).is_none_or(|&s| s <= self.seq)
    }

    pub fn latest_producer(&self, io: u32) -> Option<RunId> {
        self.producers(io).last().copied()
    }

    pub fn component_runs(&self, c: u32) -> &'a [RunId] {
        self.visible(&self.st.comps[c as usize].ids)
    }

    /// Dependencies of a run, ascending by id, with the linking input.
    pub fn deps(&self, id: RunId) -> Vec<(RunId, u32)> {
        self.linked(id, Direction::Outgoing)
    }

    /// Runs that depend on `id` (visible at this view), ascending.
    pub fn dependents(&self, id: RunId) -> Vec<(RunId, u32)> {
        self.linked(id, Direction::Incoming)
    }

    /// The runs on the other end of `id`'s edges in one direction, visible at this view, ascending.
    fn linked(&self, id: RunId, dir: Direction) -> Vec<(RunId, u32)> {
        use petgraph::visit::EdgeRef;
        let node = NodeIndex::new(id as usize - 1);
        let mut out: Vec<(RunId, u32)> = self
            .st
            .graph
            .edges_directed(node, dir)
            .map(|e| {
                let other = if dir == Direction::Outgoing { e.target() } else { e.source() };
                (other.index() as RunId + 1, *e.weight())
            })
            .filter(|&(r, _)| r <= self.max_run)
            .filter(
                |&(r, _)| if dir == Direction::Outgoing { self.edge_visible(id, r) } else { self.edge_visible(r, id) },
            )
            .collect();
        out.sort_unstable();
        out
    }

    /// Depth-first, pre-order walk of dependencies from `root`, each run once at its first visit.
    pub fn trace(&self, root: RunId, max_depth: Option<u32>, limit: usize) -> Walk {
        let mut walk = Walk::default();
        let mut visited = RoaringBitmap::new();
        let mut stack = vec![(root, 0u32)];
        while let Some((id, depth)) = stack.pop() {
            if visited.contains(id) {
                continue;
            }
            if walk.nodes.len() >= limit {
                walk.truncated = true;
                break;
            }
            visited.insert(id);
            walk.nodes.push((id, depth));
            if max_depth.is_some_and(|m| depth >= m) {
                continue;
            }
            let deps = self.deps(id);
            for &(dep, _) in deps.iter().rev() {
                if !visited.contains(dep) {
                    stack.push((dep, depth + 1));
                }
            }
            walk.edges.extend(deps.into_iter().map(|(dep, via)| (id, dep, via)));
        }
        if walk.truncated {
            walk.edges.retain(|&(_, to, _)| visited.contains(to));
        }
        walk
    }

    /// Set of runs in the trace of `root` (the whole lineage, as review counts it).
    pub fn trace_set(&self, root: RunId) -> RoaringBitmap {
        let mut set = RoaringBitmap::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if set.insert(id) {
                let node = NodeIndex::new(id as usize - 1);
                for e in self.st.graph.edges_directed(node, Direction::Outgoing) {
                    let dep = petgraph::visit::EdgeRef::target(&e).index() as RunId + 1;
                    if !set.contains(dep) && self.edge_visible(id, dep) {
                        stack.push(dep);
                    }
                }
            }
        }
        set
    }

    /// Every run downstream of a root (the roots included), visible at this view.
    pub fn downstream_union(&self, roots: &[RunId]) -> RoaringBitmap {
        let mut union = RoaringBitmap::new();
        let mut stack: Vec<RunId> = roots.iter().copied().filter(|&r| r != 0 && r <= self.max_run).collect();
        while let Some(id) = stack.pop() {
            if !union.insert(id) {
                continue;
            }
            let node = NodeIndex::new(id as usize - 1);
            for e in self.st.graph.edges_directed(node, Direction::Incoming) {
                let dependent = petgraph::visit::EdgeRef::source(&e).index() as RunId + 1;
                if dependent <= self.max_run && !union.contains(dependent) {
                    stack.push(dependent);
                }
            }
        }
        union
    }

    /// For the runs of `runs`: how many names each is the latest producer of, by one pass over
    /// every name (the way when `runs` is a large part of the log; else reading the runs' outputs
    /// from the log is cheaper, see `Reader::review_ranked`).
    pub fn latest_names_in(&self, runs: &RoaringBitmap) -> HashMap<RunId, u64> {
        let mut names_of: HashMap<RunId, u64> = HashMap::new();
        for entry in &self.st.io {
            if entry.first_run > self.max_run {
                continue;
            }
            if let Some(&p) = self.visible(entry.producers.as_slice(&self.st.io_lists)).last()
                && runs.contains(p)
            {
                *names_of.entry(p).or_default() += 1;
            }
        }
        names_of
    }

    /// For each root, the number of names whose latest producer (at this view) is the root or a
    /// run that transitively depends on it: the outputs the root still contributes to. Review's
    /// `count` of a run is the flagged part of exactly this set, which makes the two comparable.
    /// `union` is `downstream_union(roots)`, `names_of` its runs' latest names.
    ///
    /// Per 64 roots, one pass over the union in id order (dependencies always point to smaller
    /// ids, so id order is topological): each run ORs its dependencies' root bits and adds its
    /// names to every root whose bit it carries. Cost: the shared downstream once per 64 roots,
    /// instead of a downstream walk per root.
    pub fn reach(&self, roots: &[RunId], union: &RoaringBitmap, names_of: &HashMap<RunId, u64>) -> Vec<u64> {
        // Chunks of neighbouring ids: a chunk of late runs then sweeps only the end of the union.
        let mut order: Vec<usize> = (0..roots.len()).collect();
        order.sort_unstable_by_key(|&i| roots.get(i).copied().unwrap_or(0));
        let sorted: Vec<RunId> = order.iter().filter_map(|&i| roots.get(i).copied()).collect();
        let by_sorted = self.reach_sorted(&sorted, union, names_of);
        let mut out = vec![0u64; roots.len()];
        for (k, &i) in order.iter().enumerate() {
            if let (Some(o), Some(&r)) = (out.get_mut(i), by_sorted.get(k)) {
                *o = r;
            }
        }
        out
    }

    fn reach_sorted(&self, roots: &[RunId], union: &RoaringBitmap, names_of: &HashMap<RunId, u64>) -> Vec<u64> {
        let mut out = vec![0u64; roots.len()];
        // The shared downstream in id order (a topological order: dependencies point to smaller
        // ids), each run with its names and the positions of its dependencies in that order, so
        // that each pass below is plain array work.
        let order: Vec<RunId> = union.iter().collect();
        let index: HashMap<RunId, u32> = order.iter().enumerate().map(|(i, &id)| (id, i as u32)).collect();
        let names: Vec<u64> = order.iter().map(|id| names_of.get(id).copied().unwrap_or(0)).collect();
        let deps: Vec<Vec<u32>> = order
            .iter()
            .map(|&id| {
                let node = NodeIndex::new(id as usize - 1);
                self.st
                    .graph
                    .edges_directed(node, Direction::Outgoing)
                    .filter_map(|e| index.get(&(petgraph::visit::EdgeRef::target(&e).index() as RunId + 1)).copied())
                    .collect()
            })
            .collect();
        let mut masks = vec![0u64; order.len()];
        for (chunk_no, chunk) in roots.chunks(64).enumerate() {
            masks.iter_mut().for_each(|m| *m = 0);
            let mut first = order.len();
            for (b, r) in chunk.iter().enumerate() {
                if let Some(&i) = index.get(r) {
                    if let Some(m) = masks.get_mut(i as usize) {
                        *m |= 1 << b;
                    }
                    first = first.min(i as usize);
                }
            }
            for i in first..order.len() {
                let mut mask = masks.get(i).copied().unwrap_or(0);
                for &d in deps.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                    mask |= masks.get(d as usize).copied().unwrap_or(0);
                }
                if mask == 0 {
                    continue;
                }
                if let Some(m) = masks.get_mut(i) {
                    *m = mask;
                }
                let n = names.get(i).copied().unwrap_or(0);
                let mut rest = if n == 0 { 0 } else { mask };
                while rest != 0 {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    if let Some(o) = out.get_mut(chunk_no * 64 + b) {
                        *o += n;
                    }
                }
            }
        }
        out
    }

    /// Breadth-first walk of dependents, from the producers of `io` (or its consumers for a source).
    pub fn downstream(&self, io: u32, max_depth: Option<u32>, limit: usize) -> (Vec<RunId>, Walk) {
        let producers = self.producers(io).to_vec();
        let mut seen: HashSet<RunId> = producers.iter().copied().collect();
        let mut frontier: Vec<RunId> = if producers.is_empty() {
            self.consumers(io).to_vec()
        } else {
            let mut f: Vec<RunId> = producers.iter().flat_map(|&p| self.dependents(p)).map(|(r, _)| r).collect();
            f.sort_unstable();
            f.dedup();
            f
        };
        let mut walk = Walk::default();
        let mut depth = 1;
        'levels: while !frontier.is_empty() {
            let mut next = Vec::new();
            for &id in &frontier {
                if !seen.insert(id) {
                    continue;
                }
                if walk.nodes.len() >= limit {
                    walk.truncated = true;
                    break 'levels;
                }
                walk.nodes.push((id, depth));
                if max_depth.is_none_or(|m| depth < m) {
                    next.extend(self.dependents(id).into_iter().map(|(r, _)| r));
                }
            }
            next.sort_unstable();
            next.dedup();
            frontier = next;
            depth += 1;
        }
        let listed: HashSet<RunId> = walk.nodes.iter().map(|&(id, _)| id).collect();
        for &(id, _) in &walk.nodes {
            for (dep, via) in self.deps(id) {
                if listed.contains(&dep) || producers.contains(&dep) {
                    walk.edges.push((id, dep, via));
                }
            }
        }
        (producers, walk)
    }

    /// Flags as they stood at this view.
    pub fn flags(&self) -> FlagMap<'a> {
        if self.is_current() {
            return Cow::Borrowed(&self.st.flagged);
        }
        let mut map = HashMap::new();
        for change in self.st.flag_log.iter().take_while(|c| c.seq <= self.seq) {
            for (pos, &id) in change.ids.iter().enumerate() {
                if change.flag {
                    map.insert(
                        id,
                        FlagEntry {
                            reason: change.reason.clone(),
                            by: change.by.clone(),
                            at: change.at,
                            seq: change.seq,
                            pos: pos as u32,
                        },
                    );
                } else {
                    map.remove(&id);
                }
            }
        }
        Cow::Owned(map)
    }

    /// Notes set after logging, as of this view.
    pub fn notes(&self, id: RunId) -> Option<&'a str> {
        let list = self.st.notes.get(&id)?;
        let i = list.partition_point(|(seq, _)| *seq <= self.seq);
        i.checked_sub(1).and_then(|i| list.get(i)).map(|(_, n)| n.as_str())
    }

    /// Position in the newest-first order: start descending, then id descending.
    fn newest_first<'s>(&self, sorted: &'s [RunId], before: Option<(i64, RunId)>) -> impl Iterator<Item = RunId> + 's
    where
        'a: 's,
    {
        let runs = &self.st.runs;
        let end = match before {
            Some(key) => sorted.partition_point(|&r| (runs[r as usize - 1].start, r) < key),
            None => sorted.len(),
        };
        let max = self.max_run;
        sorted[..end].iter().rev().copied().filter(move |&id| id <= max)
    }

    /// The cursor key of a run (any run, visible or not, may serve as a position).
    pub fn cursor(&self, before: Option<RunId>) -> Option<Option<(i64, RunId)>> {
        match before {
            None => Some(None),
            Some(id) => self.run(id).map(|r| Some((r.start, id))),
        }
    }

    pub fn recent(&self, before: Option<(i64, RunId)>, limit: usize) -> Vec<RunId> {
        self.newest_first(&self.st.by_start, before).take(limit).collect()
    }

    pub fn history(
        &self,
        c: u32,
        before: Option<(i64, RunId)>,
        since: Option<i64>,
        until: Option<i64>,
        limit: usize,
    ) -> Vec<RunId> {
        let sorted = &self.st.comps[c as usize].by_start;
        let start_of = |r: RunId| self.st.runs[r as usize - 1].start;
        let lo = since.map(|s| sorted.partition_point(|&r| start_of(r) < s)).unwrap_or(0);
        let hi = until.map(|u| sorted.partition_point(|&r| start_of(r) <= u)).unwrap_or(sorted.len());
        let window = &sorted[lo..hi.max(lo)];
        self.newest_first(window, before).take(limit).collect()
    }

    /// Superseded dependencies of a component's latest run: (dependency, the newer run).
    pub fn superseded(&self, c: u32) -> Option<(RunId, Vec<(RunId, RunId)>)> {
        let latest = self.latest_effective(c)?;
        let mut out = Vec::new();
        for (dep, _) in self.deps(latest) {
            let Some(row) = self.run(dep) else { continue };
            if row.component == c {
                continue;
            }
            if let Some(newest) = self.latest_effective(row.component)
                && newest != dep
            {
                out.push((dep, newest));
            }
        }
        Some((latest, out))
    }

    /// The latest run of a component that had not failed or been aborted at this view: a failed
    /// OpenLineage run produced nothing, so it supersedes nothing (native runs never fail).
    fn latest_effective(&self, c: u32) -> Option<RunId> {
        let runs = self.component_runs(c);
        if self.st.ol.runs.is_empty() {
            return runs.last().copied();
        }
        runs.iter().rev().copied().find(|&id| !self.st.failed_by(id, self.seq))
    }

    pub fn events(&self) -> u64 {
        self.seq
    }

    pub fn io_count(&self) -> u64 {
        self.st.io.partition_point(|e| e.first_run <= self.max_run) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_from_the_end_finds_the_same_point_as_a_binary_search() {
        for len in 0..70usize {
            let v: Vec<usize> = (0..len).collect();
            for split in 0..=len {
                let want = v.partition_point(|&x| x < split);
                assert_eq!(partition_point_from_end(&v, |&x| x < split), want, "len {len}, split {split}");
            }
        }
    }

    #[test]
    fn a_request_map_keeps_the_first_value_of_a_name_past_the_switch_to_hashing() {
        let names: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
        let mut few: Names<'_, usize> = Names::with_capacity(2);
        let mut many: Names<'_, usize> = Names::with_capacity(40);
        for (i, n) in names.iter().enumerate() {
            assert!(few.insert(n, i));
            assert!(many.insert(n, i));
        }
        assert!(matches!(few, Names::Many(_)), "a long list switches to a hash map");
        for (i, n) in names.iter().enumerate() {
            assert!(!few.insert(n, 99) && !many.insert(n, 99), "{n} was there already");
            assert_eq!(few.get_or_insert(n, || 99), i);
            assert_eq!(many.get_or_insert(n, || 99), i);
        }
        assert_eq!(few.get_or_insert("new", || 7), 7);
        assert_eq!(few.get_or_insert("new", || 8), 7);
    }

    #[test]
    fn an_id_list_keeps_one_run_in_its_handle_two_in_a_pair_and_more_in_a_vector() {
        let mut lists = IdLists::default();
        let (mut a, mut b, mut c) = (IdList::default(), IdList::default(), IdList::default());
        assert_eq!(a.as_slice(&lists), &[] as &[RunId]);
        a.push(MAX_RUNS, &mut lists);
        assert_eq!(a.as_slice(&lists), &[MAX_RUNS], "the largest id fits the handle");
        assert_eq!(lists.heap_bytes(), 0);
        b.push(7, &mut lists);
        b.push(9, &mut lists);
        a.push(3, &mut lists);
        assert_eq!((b.as_slice(&lists), a.as_slice(&lists)), (&[7, 9][..], &[MAX_RUNS, 3][..]));
        assert_eq!((lists.pairs.len(), lists.long.len()), (2, 0));
        b.push(11, &mut lists);
        assert_eq!(b.as_slice(&lists), &[7, 9, 11]);
        assert_eq!((lists.long.len(), lists.free_pairs.as_slice()), (1, &[0][..]), "b's pair is free");
        c.push(1, &mut lists);
        c.push(2, &mut lists);
        assert_eq!(lists.pairs.len(), 2, "c took b's pair");
        for id in 12..40 {
            b.push(id, &mut lists);
        }
        assert_eq!(b.as_slice(&lists), [7, 9, 11].into_iter().chain(12..40).collect::<Vec<_>>().as_slice());
        assert_eq!((a.as_slice(&lists), c.as_slice(&lists)), (&[MAX_RUNS, 3][..], &[1, 2][..]));
    }

    #[test]
    fn an_append_past_the_addressable_runs_or_lists_is_refused_with_a_reason() {
        let st = State::default();
        let (runs, lists) = (MAX_RUNS as usize, MAX_LISTS as usize);
        assert!(st.check_room(runs, lists).is_ok());
        for (runs, links) in [(runs + 1, 0), (0, lists + 1), (usize::MAX, usize::MAX)] {
            match st.check_room(runs, links) {
                Err(StoreError::Unavailable(why)) => assert!(why.contains("new data directory"), "{why}"),
                other => panic!("{runs} runs, {links} links: {other:?}"),
            }
        }
    }
}
