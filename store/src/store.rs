//! The store: one log, one materialized state, one writer at a time, any number of readers.
//!
//! A write validates the whole request against the state, resolves and applies its events (so a
//! later run of a batch sees an earlier one), writes the batch to the log with one `write`, and then
//! waits for durability outside the writer lock, where concurrent writers share an fsync. Readers
//! never wait for an fsync: they read the state at the last *visible* seq, which only moves forward
//! once the events up to it are durable under the policy, so nothing unacknowledged is ever shown.

use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, RunId, RunRecord, Seq};
use crate::ingest::{MAX_TEXT_BYTES, NewRun};
use crate::log::{Known, Loc, Log, LogOptions, Recovery};
use crate::model::{ComponentView, LineageLogged, Logged};
use crate::names::{check_name, check_text};
use crate::query::Reader;
use crate::state::State;
use crate::time::{AsOf, Timestamp};
// hashbrown's default hasher (foldhash) is several times faster than std's SipHash, and these
// tables are rebuilt from the log, never fed by an adversary who could pick colliding keys.
use crate::storage::{Fs, Storage};
use crate::upstream::LogBackend;
use hashbrown::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};

/// An open data directory.
pub struct Store {
    pub(crate) log: Log,
    state: RwLock<State>,
    /// Held by one write at a time; holds the thread that encodes its events.
    writer: Mutex<Pipe>,
    visible: AtomicU64,
    /// Signs tree heads; `None` only for a read-only open of a directory that has no key yet.
    pub(crate) key: Option<crate::audit::AuditKey>,
    pub(crate) merkle: bool,
    /// The last seq the newest checkpoint covers (0: none), so that whoever holds the store knows
    /// how long the next open's replay would be.
    checkpointed: AtomicU64,
    /// The shared log this store mirrors, if any (see [`crate::upstream`]).
    upstream: OnceLock<Arc<dyn LogBackend>>,
}

/// A record's bytes, for sizing the state before a replay: a run of a typical pipeline is 200-450
/// bytes; erring low sizes tables larger than needed, and `State::end_bulk` trims the vectors.
const EST_RECORD_BYTES: u64 = 400;

/// Events go to the encoding thread in chunks of this many; a write of fewer (a single run, a
/// flag) is encoded by the writer itself, since a handoff would cost more than it saves.
const ENCODE_CHUNK: usize = 128;

/// Work for the encoding thread: one write is `Start`, any number of `Events`, then `Finish`.
enum Job {
    /// A new batch, with a buffer to encode into.
    Start(Vec<u8>),
    Events(Vec<Event>),
    Finish,
}

/// What the encoding thread answers at `Finish`: the framed batch, the audit tree's leaves, and the
/// events themselves, handed back so that the writer frees them (after its lock) from the
/// allocator arena it made them in, instead of two threads contending for one arena.
type Encoded = std::result::Result<(crate::log::Encoded, Vec<crate::audit::Hash>, Vec<Vec<Event>>), String>;

/// The encoding thread of a writable store: it frames, checksums and hashes (for the audit tree)
/// a large write's events while the writer is still resolving and applying the write's later
/// events, so that only the `pwrite` is left for the writer once it is done.
/// Ends when the store (and with it the sender) is dropped.
struct Pipe {
    thread: Option<(mpsc::SyncSender<Job>, mpsc::Receiver<Encoded>)>,
}

impl Pipe {
    fn start(merkle: bool) -> Pipe {
        let (jobs, work) = mpsc::sync_channel::<Job>(8);
        let (answer, answers) = mpsc::sync_channel::<Encoded>(1);
        let spawned = std::thread::Builder::new().name("mltrace-encode".into()).spawn(move || {
            type Current = (crate::log::Encoder, Vec<crate::audit::Hash>, Option<String>, Vec<Vec<Event>>);
            let mut current: Option<Current> = None;
            for job in work {
                match job {
                    Job::Start(buf) => {
                        current = Some((crate::log::Encoder::with_buffer(buf), Vec::new(), None, Vec::new()))
                    }
                    Job::Events(events) => {
                        let Some((enc, leaves, failed, spent)) = current.as_mut() else { continue };
                        for e in &events {
                            if failed.is_none()
                                && let Err(why) = enc.push(e, &mut |p| {
                                    if merkle {
                                        leaves.push(crate::audit::leaf_hash(p));
                                    }
                                })
                            {
                                *failed = Some(why);
                            }
                        }
                        spent.push(events);
                    }
                    Job::Finish => {
                        let out = match current.take() {
                            Some((enc, leaves, None, spent)) => Ok((enc.finish(), leaves, spent)),
                            Some((_, _, Some(why), _)) => Err(why),
                            None => Err("the encoding thread got no batch".into()),
                        };
                        if answer.send(out).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        match spawned {
            Ok(_) => Pipe { thread: Some((jobs, answers)) },
            // Without the thread, every write encodes its own events.
            Err(e) => {
                tracing::warn!("no encoding thread ({e}); writers encode their own batches");
                Pipe { thread: None }
            }
        }
    }
}

/// Events being prepared by one write; each is applied to the state as it is added, and large
/// writes hand them on to the encoding thread in chunks as they come.
pub(crate) struct Batch {
    /// Events not (yet) handed on.
    events: Vec<Event>,
    pub(crate) at: i64,
    jobs: Option<mpsc::SyncSender<Job>>,
    /// A buffer to encode into, until the batch starts on the encoding thread.
    buf: Option<Vec<u8>>,
    handed_on: usize,
    count: usize,
    last: Seq,
    /// The encoding thread went away (it panicked): the write fails and is undone.
    lost: bool,
}

impl Batch {
    /// Adds an event made elsewhere (a restored export), seq and time as they are.
    pub(crate) fn push_event(&mut self, st: &mut State, event: Event) {
        st.apply(&event.as_ref(), Loc::PENDING);
        self.add(event);
    }

    pub(crate) fn push(&mut self, st: &mut State, kind: EventKind) -> Seq {
        let event = Event { seq: st.last_seq + 1, at: self.at, kind };
        st.apply(&event.as_ref(), Loc::PENDING);
        let seq = event.seq;
        self.add(event);
        seq
    }

    fn add(&mut self, event: Event) {
        self.count += 1;
        self.last = event.seq;
        self.events.push(event);
        if self.events.len() >= ENCODE_CHUNK {
            self.hand_on();
        }
    }

    /// Sends the events so far to the encoding thread, if there is one.
    fn hand_on(&mut self) {
        let Some(jobs) = &self.jobs else { return };
        if let Some(buf) = self.buf.take()
            && jobs.send(Job::Start(buf)).is_err()
        {
            self.lost = true;
        }
        let n = self.events.len();
        if jobs.send(Job::Events(std::mem::replace(&mut self.events, Vec::with_capacity(ENCODE_CHUNK)))).is_err() {
            self.lost = true;
        }
        self.handed_on += n;
    }

    /// The batch's records and audit leaves, encoded here or by the encoding thread.
    fn encode(&mut self, merkle: bool, answers: Option<&mpsc::Receiver<Encoded>>) -> Encoded {
        if self.handed_on == 0 {
            let mut enc = crate::log::Encoder::with_buffer(self.buf.take().unwrap_or_default());
            let mut leaves = Vec::with_capacity(if merkle { self.events.len() } else { 0 });
            for e in &self.events {
                enc.push(e, &mut |p| {
                    if merkle {
                        leaves.push(crate::audit::leaf_hash(p));
                    }
                })?;
            }
            return Ok((enc.finish(), leaves, Vec::new()));
        }
        if !self.events.is_empty() {
            self.hand_on();
        }
        let finished = self.jobs.as_ref().is_some_and(|jobs| jobs.send(Job::Finish).is_ok());
        match answers {
            Some(answers) if finished && !self.lost => answers.recv().unwrap_or_else(|_| {
                self.lost = true;
                Err("the encoding thread is gone".into())
            }),
            _ => {
                self.lost = true;
                Err("the encoding thread is gone".into())
            }
        }
    }
}

impl Store {
    /// Opens (creating when needed) a data directory for writing; replays the log.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<(Store, Recovery)> {
        Store::open_on(Arc::new(Fs), dir, opts)
    }

    /// [`Store::open`] on any storage (tests put a simulated disk here).
    pub fn open_on(storage: Arc<dyn Storage>, dir: &Path, opts: LogOptions) -> Result<(Store, Recovery)> {
        Self::open_with(storage, dir, opts, true)
    }

    /// Opens a data directory read-only from its log alone, ignoring the checkpoint: what an audit
    /// of the directory reads, so that every answer (the tree above all) comes from the records'
    /// bytes as they are now, not from a cache written before someone changed them.
    pub fn open_read_only_from_log(dir: &Path) -> Result<Store> {
        let opts = LogOptions { read_only: true, ..LogOptions::default() };
        Self::open_with(Arc::new(Fs), dir, opts, false).map(|(s, _)| s)
    }

    fn open_with(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: LogOptions,
        use_checkpoint: bool,
    ) -> Result<(Store, Recovery)> {
        let merkle = opts.merkle;
        let checkpoint = if use_checkpoint { crate::checkpoint::read(&*storage, dir) } else { Ok(None) };
        // What the checkpoint covers, when the open used it (a fallback replay ignores it).
        let mut checkpointed = 0;
        let (mut state, log, recovery) = match checkpoint {
            Ok(Some(crate::checkpoint::Loaded { state, log_id, covered }))
                if merkle && state.tree.size() != state.last_seq =>
            {
                tracing::warn!("the checkpoint has no audit tree; replaying the whole log");
                let known = Known { resume: None, last_seq: state.last_seq, log_id, segments: &covered };
                Self::replay(storage, dir, opts, Some(known))?
            }
            Ok(Some(crate::checkpoint::Loaded { mut state, log_id, covered })) => {
                let resume = state.locs.last().map(|&loc| (loc, state.last_seq));
                let checkpoint_seq = state.last_seq;
                let known = Known { resume, last_seq: checkpoint_seq, log_id, segments: &covered };
                state.begin_bulk();
                let opened = Log::open(storage.clone(), dir, opts.clone(), Some(known), |event, loc, leaf| {
                    state.apply(event, loc);
                    if let Some(leaf) = leaf {
                        state.tree.push(*leaf);
                    }
                    Ok(())
                });
                match opened {
                    Ok((log, recovery)) => {
                        checkpointed = checkpoint_seq;
                        (state, log, recovery)
                    }
                    Err(e @ StoreError::Locked { .. }) => return Err(e),
                    Err(e) => {
                        tracing::warn!("the checkpoint does not fit the log ({e}); replaying the whole log");
                        let known = Known { resume: None, last_seq: checkpoint_seq, log_id, segments: &covered };
                        Self::replay(storage, dir, opts, Some(known))?
                    }
                }
            }
            Ok(None) => Self::replay(storage, dir, opts, None)?,
            Err(why) => {
                tracing::warn!("ignoring the checkpoint: {why}; replaying the whole log");
                Self::replay(storage, dir, opts, None)?
            }
        };
        state.end_bulk();
        crate::memory::opened();
        if let Some(t) = &recovery.torn_tail {
            tracing::warn!(
                path = %t.path.display(), offset = t.offset, bytes_dropped = t.bytes_dropped,
                "cut off a torn tail left by a crash: {}", t.reason
            );
        }
        let key = crate::audit::open_key(dir, &log.options())?;
        let visible = AtomicU64::new(state.last_seq);
        let pipe = if log.options().read_only { Pipe { thread: None } } else { Pipe::start(merkle) };
        let store = Store {
            log,
            state: RwLock::new(state),
            writer: Mutex::new(pipe),
            visible,
            key,
            merkle,
            checkpointed: AtomicU64::new(checkpointed),
            upstream: OnceLock::new(),
        };
        Ok((store, recovery))
    }

    fn replay(
        storage: Arc<dyn Storage>,
        dir: &Path,
        opts: LogOptions,
        known: Option<Known<'_>>,
    ) -> Result<(State, Log, Recovery)> {
        let mut state = State::default();
        state.begin_bulk();
        // Sized for the log up front: growing the name tables by doubling rehashed every name
        // (~9% of a replay), and `State::end_bulk` gives back what the estimate overshot.
        state.reserve(crate::log::segment_bytes(&*storage, dir) / EST_RECORD_BYTES);
        let (log, recovery) = Log::open(storage, dir, opts, known, |event, loc, leaf| {
            state.apply(event, loc);
            if let Some(leaf) = leaf {
                state.tree.push(*leaf);
            }
            Ok(())
        })?;
        Ok((state, log, recovery))
    }

    /// Writes a checkpoint of the state (everything written so far), so that the next open loads it
    /// and replays only what came after. The writer lock is not taken: writes wait only while the
    /// state is encoded into the page cache (under the state's read lock, like any reader); the
    /// fsyncs and the rename happen with no lock held.
    pub fn checkpoint(&self) -> Result<Seq> {
        self.head_for_checkpoint()?;
        let started = std::time::Instant::now();
        let pending = self.begin_checkpoint()?;
        let encoded = started.elapsed();
        // The checkpoint must never name events that the log could still lose.
        self.log.flush()?;
        let seq = pending.commit(self.log.storage())?;
        self.checkpointed.fetch_max(seq, Ordering::AcqRel);
        tracing::debug!(
            seq,
            encode_ms = encoded.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "checkpoint written (writes waited for the encode only)"
        );
        Ok(seq)
    }

    /// Encodes the state at a moment when it and the log's segment sums agree. Under the state's
    /// read lock no write can add events, but one that added them before may be writing them to
    /// the log: they stay `PENDING` until it is done. So the state is encoded once its newest event
    /// has a place in the log; should that moment not come (a flood of writes), the writer lock
    /// makes it.
    fn begin_checkpoint(&self) -> Result<crate::checkpoint::Pending> {
        let encode = |st: &State| {
            crate::checkpoint::begin(self.log.storage(), self.log.dir(), st, self.log.id(), &self.log.sums())
        };
        for _ in 0..200 {
            let st = self.state();
            if st.locs.last().is_none_or(|&l| l != Loc::PENDING) {
                return encode(&st);
            }
            drop(st);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        encode(&self.state())
    }

    /// Events appended since the newest checkpoint: what the next open would replay.
    pub fn events_since_checkpoint(&self) -> u64 {
        self.last_seq().saturating_sub(self.checkpointed.load(Ordering::Acquire))
    }

    /// Writes a checkpoint when at least `n` events came after the newest one; answers its seq.
    pub fn checkpoint_if_behind(&self, n: u64) -> Result<Option<Seq>> {
        if n == 0 || self.events_since_checkpoint() < n || self.failure().is_some() {
            return Ok(None);
        }
        self.checkpoint().map(Some)
    }

    /// Opens a data directory for reading only, beside a writer if there is one: a snapshot of what
    /// was complete on disk at open.
    pub fn open_read_only(dir: &Path) -> Result<Store> {
        let opts = LogOptions { read_only: true, ..LogOptions::default() };
        Store::open(dir, opts).map(|(s, _)| s)
    }

    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The seq of the last acknowledged event: what readers see.
    pub fn last_seq(&self) -> Seq {
        self.visible.load(Ordering::Acquire)
    }

    /// Why writes are refused, if they are.
    pub fn failure(&self) -> Option<String> {
        self.log.failure()
    }

    /// fsyncs everything written (for shutdown).
    pub fn flush(&self) -> Result<()> {
        self.log.flush()
    }

    /// Approximate heap bytes of each index (capacity, not just length).
    pub fn memory(&self) -> Vec<(&'static str, usize)> {
        self.state().memory()
    }

    /// Log size in bytes and segments.
    pub fn log_size(&self) -> (u64, usize) {
        self.log.size()
    }

    /// fsync count and total time.
    pub fn fsync_stats(&self) -> (u64, std::time::Duration) {
        self.log.fsync_stats()
    }

    /// fsync latency histogram: (upper bound in seconds, count); the last bound is infinite.
    pub fn fsync_histogram(&self) -> Vec<(f64, u64)> {
        self.log.fsync_histogram()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    /// A reader at `as_of` (the latest acknowledged state when `None`).
    pub fn reader(&self, as_of: Option<AsOf>) -> Reader<'_> {
        let visible = self.last_seq();
        let seq = match as_of {
            None => visible,
            Some(AsOf::Seq(s)) => s.min(visible),
            Some(AsOf::Time(t)) => self.state().seq_at_time(t.0).min(visible),
        };
        Reader::new(self, seq)
    }

    /// Runs one write: `build` checks the request against the state, then adds events; the batch is
    /// written, made durable, and becomes visible. `build` must fail before adding any event.
    pub(crate) fn write<T>(&self, build: impl FnOnce(&mut State, &mut Batch) -> Result<(T, Seq)>) -> Result<T> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = self.log.failure() {
            return Err(StoreError::Unavailable(why));
        }
        let up = self.upstream.get().map(|u| &**u);
        if let Some(up) = up {
            // Resolve against everything the shared log already holds, so that the conditional
            // append below fails only on a true race with another node.
            self.catch_up_locked(&mut guard, up)?;
        }
        let (answer, last) = self.append_locked(&mut guard, build, up)?;
        drop(guard);
        self.publish_visible(last)?;
        Ok(answer)
    }

    /// [`Store::write`], resolved again after a conflict on the shared log (the build step is
    /// run once per attempt, each time against the caught-up state).
    pub(crate) fn write_again<T>(
        &self,
        mut build: impl FnMut(&mut State, &mut Batch) -> Result<(T, Seq)>,
    ) -> Result<T> {
        self.retry_conflicts(|| self.write(&mut build))
    }

    /// Runs `attempt` again while it fails with a conflict on the shared log: each attempt
    /// catches up first, so only a node that keeps losing the race to others gives up.
    pub(crate) fn retry_conflicts<T>(&self, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
        const ATTEMPTS: usize = 32;
        let mut tries = 1;
        loop {
            match attempt() {
                Err(StoreError::Conflict(_)) if tries < ATTEMPTS => tries += 1,
                other => return other,
            }
        }
    }

    /// Waits until the events up to `last` are durable, then shows them to readers.
    fn publish_visible(&self, last: Seq) -> Result<()> {
        if last > 0 {
            self.log.wait_durable(last)?;
            self.visible.fetch_max(last, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Applies what the upstream log holds beyond the state; the writer lock is held.
    fn catch_up_locked(&self, pipe: &mut Pipe, up: &dyn LogBackend) -> Result<()> {
        loop {
            let after = self.state().last_seq;
            let events = up.read(after, 65_536, std::time::Duration::ZERO)?;
            if events.is_empty() {
                return Ok(());
            }
            let (_, last) = self.append_locked(pipe, Store::restore_build(Some(after), events), None)?;
            self.publish_visible(last)?;
        }
    }

    /// [`Store::apply_upstream`]: events already in the shared log, appended locally only.
    pub(crate) fn apply_from_upstream(&self, mut events: Vec<Event>) -> Result<Seq> {
        if events.last().is_some_and(|e| e.seq <= self.last_seq()) {
            // All applied already (this node's own write coming back): no need for the lock.
            return Ok(self.last_seq());
        }
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = self.log.failure() {
            return Err(StoreError::Unavailable(why));
        }
        let after = self.state().last_seq;
        // A write of this node may have applied some of them already (its own batch coming back).
        events.retain(|e| e.seq > after);
        if events.is_empty() {
            return Ok(after);
        }
        let (last, _) = self.append_locked(&mut guard, Store::restore_build(Some(after), events), None)?;
        drop(guard);
        self.publish_visible(last)?;
        Ok(last)
    }

    /// The shared log this store mirrors, if any.
    pub fn upstream(&self) -> Option<&dyn LogBackend> {
        self.upstream.get().map(|u| &**u)
    }

    /// Makes this store the local mirror of a shared log: from now on every write is appended
    /// there first (see [`crate::upstream`]). Set once, before serving writes.
    pub fn set_upstream(&self, up: Arc<dyn LogBackend>) -> Result<()> {
        self.upstream.set(up).map_err(|_| StoreError::Unavailable("the store already has an upstream log".into()))
    }

    /// The body of a write, with the writer lock held: build, send upstream when there is one,
    /// append locally. Answers the build's answer and the seq to wait for.
    fn append_locked<T>(
        &self,
        pipe: &mut Pipe,
        build: impl FnOnce(&mut State, &mut Batch) -> Result<(T, Seq)>,
        up: Option<&dyn LogBackend>,
    ) -> Result<(T, Seq)> {
        let mut st = self.state_mut();
        let before = st.last_seq;
        let (jobs, answers) = match &pipe.thread {
            Some((jobs, answers)) => (Some(jobs.clone()), Some(answers)),
            None => (None, None),
        };
        let mut batch = Batch {
            events: Vec::new(),
            at: Timestamp::now().0.max(st.last_time()),
            jobs,
            buf: Some(self.log.spare_buffer()),
            handed_on: 0,
            count: 0,
            last: 0,
            lost: false,
        };
        let built = build(&mut st, &mut batch);
        drop(st);
        let (answer, wait_for) = match built {
            Ok(done) => done,
            Err(e) => {
                // `build` adds no event before it fails; should one have gone to the encoding
                // thread anyway, its answer is collected so that the next write starts clean.
                if batch.handed_on > 0 {
                    let _ = batch.encode(self.merkle, answers);
                }
                return Err(e);
            }
        };
        // Events back from the encoding thread: freed at the end, outside the writer lock.
        let mut _spent = Vec::new();
        if batch.count > 0 {
            let first = batch.last + 1 - batch.count as u64;
            let encoded = batch.encode(self.merkle, answers).map_err(|why| StoreError::invalid("", why));
            if batch.lost {
                // The thread died (a panic): later writes encode their own events.
                pipe.thread = None;
            }
            let appended = encoded.and_then(|(encoded, leaves, mut spent)| {
                if let Some(up) = up {
                    // The shared log takes the batch first: only what it holds may be appended here.
                    let events: Vec<Event> = if batch.handed_on == 0 {
                        std::mem::take(&mut batch.events)
                    } else {
                        spent.drain(..).flatten().collect()
                    };
                    let sent = up.append(before, &events);
                    spent.push(events);
                    sent?;
                }
                Ok((self.log.append_encoded(encoded)?, leaves, spent))
            });
            match appended {
                Ok((locs, leaves, spent)) => {
                    _spent = spent;
                    let mut st = self.state_mut();
                    for (i, loc) in locs.into_iter().enumerate() {
                        st.set_loc(first + i as u64, loc);
                    }
                    leaves.into_iter().for_each(|l| st.tree.push(l));
                }
                Err(e) => {
                    self.rebuild(before)?;
                    return Err(e);
                }
            }
        }
        Ok((answer, batch.last.max(wait_for)))
    }

    /// After a failed write (say, a full disk) the state holds events the log does not: rebuild it
    /// from the log, so that the store goes on exactly as if the write had never been tried.
    fn rebuild(&self, upto: Seq) -> Result<()> {
        let mut st = self.state_mut();
        let mut fresh = State::default();
        fresh.begin_bulk();
        for seq in 1..=upto {
            let loc = st.locs[seq as usize - 1];
            let event = self.log.read(loc, seq)?;
            fresh.apply(&event.as_ref(), loc);
        }
        fresh.end_bulk();
        // The tree only ever holds events whose records were written, so it is still right.
        fresh.tree = std::mem::take(&mut st.tree);
        *st = fresh;
        Ok(())
    }

    /// Logs one run.
    pub fn log_run(&self, run: &NewRun) -> Result<Logged> {
        self.log_run_owned(run.clone())
    }

    /// Logs one run, taking it by value (its strings move into the event).
    pub fn log_run_owned(&self, run: NewRun) -> Result<Logged> {
        let mut out = self.log_batch(vec![run], false)?;
        out.pop().ok_or_else(|| StoreError::Unavailable("the run was not logged".into()))
    }

    /// Logs a batch of runs, all or nothing, in order. Errors name the field as `runs[i].field`.
    pub fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        self.log_runs_owned(runs.to_vec())
    }

    /// [`Store::log_runs`], taking the runs by value: what the API uses, since copying every name
    /// and code snapshot into the events was a good part of the cost of a run.
    pub fn log_runs_owned(&self, runs: Vec<NewRun>) -> Result<Vec<Logged>> {
        self.log_batch(runs, true)
    }

    /// Logs runs, all or nothing; a field is named `runs[i].field` in a batch, `field` for one run.
    fn log_batch(&self, runs: Vec<NewRun>, batched: bool) -> Result<Vec<Logged>> {
        let at = |i: usize, e: StoreError| if batched { e.within(&format!("runs[{i}]")) } else { e };
        for (i, r) in runs.iter().enumerate() {
            r.check().map_err(|e| at(i, e))?;
        }
        if self.upstream().is_some() {
            // The runs are resolved again after a conflict, so each attempt takes a copy.
            return self.retry_conflicts(|| self.log_checked_runs(runs.clone(), batched));
        }
        self.log_checked_runs(runs, batched)
    }

    fn log_checked_runs(&self, runs: Vec<NewRun>, batched: bool) -> Result<Vec<Logged>> {
        let at = |i: usize, e: StoreError| if batched { e.within(&format!("runs[{i}]")) } else { e };
        self.write(move |st, batch| {
            // Everything that depends on the state is checked before the first event is added.
            let mut known_components: HashSet<&str> = HashSet::new();
            for (i, r) in runs.iter().enumerate() {
                for (j, up) in r.upstream.iter().enumerate() {
                    if st.comp_names.get(up).is_none() && !known_components.contains(up.as_str()) {
                        let field = format!("upstream[{j}]");
                        let message = format!("{field} names the unknown component `{up}`");
                        return Err(at(i, StoreError::invalid(field, message)));
                    }
                }
                known_components.insert(&r.component);
            }
            drop(known_components);
            st.check_room(runs.len(), runs.iter().map(|r| r.inputs.len() + r.outputs.len()).sum())?;
            let mut hits: Vec<Option<Logged>> = Vec::with_capacity(runs.len());
            let mut wait_for = 0;
            for r in &runs {
                let hit = match &r.idempotency_key {
                    Some(k) => self.idempotent_hit(st, k)?,
                    None => None,
                };
                if let Some(h) = &hit {
                    wait_for = wait_for.max(h.seq);
                }
                hits.push(hit);
            }
            let mut in_batch: HashMap<String, usize> = HashMap::new();
            let mut out: Vec<Logged> = Vec::with_capacity(runs.len());
            for (i, r) in runs.into_iter().enumerate() {
                if let Some(hit) = hits[i].take() {
                    out.push(hit);
                    continue;
                }
                if let Some(k) = &r.idempotency_key {
                    if let Some(&first) = in_batch.get(k.as_str()) {
                        let again = out[first].clone();
                        out.push(again);
                        continue;
                    }
                    in_batch.insert(k.clone(), i);
                }
                let record = st.resolve(r);
                let logged = Logged {
                    id: record.id,
                    seq: st.last_seq + 1,
                    dependencies: record.dependencies.iter().map(|d| d.run).collect(),
                    stale: record.stale.clone(),
                };
                batch.push(st, EventKind::RunLogged(Box::new(record)));
                out.push(logged);
            }
            Ok((out, wait_for))
        })
    }

    fn idempotent_hit(&self, st: &State, key: &str) -> Result<Option<Logged>> {
        let Some(id) = st.idempotent_candidate(key) else { return Ok(None) };
        let Some(row) = st.row(id) else { return Ok(None) };
        let loc = st.locs[row.seq as usize - 1];
        if loc == Loc::PENDING {
            return Ok(None);
        }
        let record = self.run_record_at(loc, row.seq)?;
        if record.idempotency_key.as_deref() != Some(key) {
            return Ok(None);
        }
        Ok(Some(Logged {
            id,
            seq: row.seq,
            dependencies: record.dependencies.iter().map(|d| d.run).collect(),
            stale: record.stale,
        }))
    }

    pub(crate) fn run_record_at(&self, loc: Loc, seq: Seq) -> Result<RunRecord> {
        match self.log.read(loc, seq)?.kind {
            EventKind::RunLogged(r) => Ok(*r),
            _ => Err(StoreError::Corrupt {
                path: self.log.dir().to_path_buf(),
                offset: loc.offset(),
                reason: "expected a run event".into(),
            }),
        }
    }

    /// Registers (or re-registers) a component: description and owner replaced, tags added.
    pub fn register_component(
        &self,
        name: &str,
        description: &str,
        owner: &str,
        tags: &[String],
    ) -> Result<ComponentView> {
        check_name("name", "component", name)?;
        check_text("description", description, MAX_TEXT_BYTES)?;
        if !owner.is_empty() {
            check_name("owner", "owner", owner)?;
        }
        check_tags(tags)?;
        self.write_again(|st, batch| {
            batch.push(
                st,
                EventKind::ComponentRegistered {
                    name: name.into(),
                    description: description.into(),
                    owner: owner.into(),
                    tags: tags.to_vec(),
                },
            );
            Ok(((), 0))
        })?;
        self.component_view(name)
    }

    /// Adds tags to an existing component.
    pub fn tag_component(&self, name: &str, tags: &[String]) -> Result<ComponentView> {
        check_name("name", "component", name)?;
        check_tags(tags)?;
        self.write_again(|st, batch| {
            // Components come into being by registration or a first run; tagging a misspelt name
            // must not silently create a new one.
            if st.comp_names.get(name).is_none() {
                return Err(StoreError::not_found(
                    "name",
                    format!("component `{name}` does not exist: register it or log a run of it first"),
                ));
            }
            batch.push(st, EventKind::ComponentTagged { name: name.into(), tags: tags.to_vec() });
            Ok(((), 0))
        })?;
        self.component_view(name)
    }

    fn component_view(&self, name: &str) -> Result<ComponentView> {
        self.reader(None).component(name).map(|d| d.component)
    }

    /// Replaces a run's notes.
    pub fn set_notes(&self, run: RunId, notes: &str) -> Result<()> {
        check_text("notes", notes, MAX_TEXT_BYTES)?;
        self.write_again(|st, batch| {
            if st.row(run).is_none() {
                return Err(StoreError::not_found("id", format!("run {run} does not exist")));
            }
            batch.push(st, EventKind::NotesSet { run, notes: notes.into() });
            Ok(((), 0))
        })
    }

    /// Flags outputs; every name must be known, or nothing is flagged.
    pub fn flag(&self, outputs: &[String], reason: Option<&str>, by: Option<&str>) -> Result<Vec<String>> {
        if outputs.is_empty() {
            return Err(StoreError::invalid("outputs", "outputs is empty: name at least one output to flag"));
        }
        crate::ingest::check_count("outputs", outputs.len(), crate::ingest::MAX_FLAG_OUTPUTS)?;
        for (i, o) in outputs.iter().enumerate() {
            check_name(&format!("outputs[{i}]"), "output", o)?;
        }
        if let Some(r) = reason {
            check_text("reason", r, MAX_TEXT_BYTES)?;
        }
        if let Some(b) = by {
            check_name("by", "user", b)?;
        }
        let names = dedup(outputs);
        self.write_again(|st, batch| {
            // Checked on the request as given, not deduplicated, so that the error names the
            // caller's own index (`outputs[2]` in [a, a, unknown]).
            check_known(st, outputs)?;
            batch.push(
                st,
                EventKind::Flagged { outputs: names.clone(), reason: reason.map(Into::into), by: by.map(Into::into) },
            );
            Ok((names.clone(), 0))
        })
    }

    /// Unflags the named outputs; answers those that were flagged.
    pub fn unflag(&self, outputs: &[String]) -> Result<Vec<String>> {
        if outputs.is_empty() {
            return Err(StoreError::invalid("outputs", "outputs is empty: name outputs to unflag, or unflag all"));
        }
        crate::ingest::check_count("outputs", outputs.len(), crate::ingest::MAX_FLAG_OUTPUTS)?;
        for (i, o) in outputs.iter().enumerate() {
            check_name(&format!("outputs[{i}]"), "output", o)?;
        }
        let names = dedup(outputs);
        self.write_again(|st, batch| {
            // Checked on the request as given, not deduplicated, so that the error names the
            // caller's own index (`outputs[2]` in [a, a, unknown]).
            check_known(st, outputs)?;
            let was: Vec<String> = names
                .iter()
                .filter(|n| st.io_names.get(n).is_some_and(|id| st.flagged.contains_key(&id)))
                .cloned()
                .collect();
            if !was.is_empty() {
                batch.push(st, EventKind::Unflagged { outputs: was.clone(), all: false });
            }
            Ok((was, 0))
        })
    }

    /// Unflags everything; answers what was flagged.
    pub fn unflag_all(&self) -> Result<Vec<String>> {
        self.write_again(|st, batch| {
            let mut was: Vec<(u64, String)> =
                st.flagged.iter().map(|(&id, f)| (f.seq, st.io_names.name(id).to_string())).collect();
            was.sort();
            let was: Vec<String> = was.into_iter().map(|(_, n)| n).collect();
            if !was.is_empty() {
                batch.push(st, EventKind::Unflagged { outputs: was.clone(), all: true });
            }
            Ok((was, 0))
        })
    }

    /// Appends OpenLineage events (see [`crate::openlineage`]), all or nothing, in order: each is
    /// stored as received with what it did to its run, preceded by a registration when its job
    /// facets change the component and followed by a flag when it carries our flag facet.
    pub fn log_lineage(&self, events: Vec<crate::openlineage::LineageEvent>) -> Result<Vec<LineageLogged>> {
        if self.upstream().is_some() {
            return self.retry_conflicts(|| self.log_lineage_once(events.clone()));
        }
        self.log_lineage_once(events)
    }

    fn log_lineage_once(&self, events: Vec<crate::openlineage::LineageEvent>) -> Result<Vec<LineageLogged>> {
        use crate::state::lineage::Planned;
        self.write(move |st, batch| {
            // Everything that can refuse the batch is checked before the first event is added.
            st.check_lineage(&events)?;
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                let mut logged = LineageLogged { seq: 0, run: None, status: None };
                for planned in st.plan_lineage(e)? {
                    match planned {
                        Planned::Register { name, description, owner, tags } => {
                            batch.push(st, EventKind::ComponentRegistered { name, description, owner, tags });
                        }
                        Planned::Lineage(record) => {
                            logged.run = record.run.as_ref().map(|u| u.id);
                            logged.status = record.run.as_ref().map(|u| u.status);
                            logged.seq = batch.push(st, EventKind::Lineage(record));
                        }
                        Planned::Flag { name, flagged: true, reason, by } => {
                            batch.push(st, EventKind::Flagged { outputs: vec![name], reason, by });
                        }
                        Planned::Flag { name, flagged: false, .. } => {
                            batch.push(st, EventKind::Unflagged { outputs: vec![name], all: false });
                        }
                    }
                }
                out.push(logged);
            }
            Ok((out, 0))
        })
    }

    /// Up to `limit` events after `after`, in seq order (acknowledged events only).
    pub fn events_after(&self, after: Seq, limit: usize) -> Result<Vec<Event>> {
        let last = self.last_seq();
        let (from, locs): (usize, Vec<Loc>) = {
            let st = self.state();
            let from = (after as usize).min(last as usize);
            let to = (last as usize).min(from.saturating_add(limit));
            (from, st.locs[from..to].to_vec())
        };
        locs.into_iter().zip(from as u64 + 1..).map(|(loc, seq)| self.log.read(loc, seq)).collect()
    }
}

fn check_tags(tags: &[String]) -> Result<()> {
    crate::ingest::check_count("tags", tags.len(), crate::ingest::MAX_LIST)?;
    for (i, t) in tags.iter().enumerate() {
        check_name(&format!("tags[{i}]"), "tag", t)?;
    }
    Ok(())
}

fn dedup(names: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    names.iter().filter(|n| seen.insert(n.as_str())).cloned().collect()
}

fn check_known(st: &State, names: &[String]) -> Result<()> {
    for (i, n) in names.iter().enumerate() {
        if st.io_names.get(n).is_none() {
            return Err(StoreError::not_found(format!("outputs[{i}]"), format!("no run ever read or wrote `{n}`")));
        }
    }
    Ok(())
}
