//! The log backend seam: a log that other nodes append to as well (a JetStream stream, see the
//! `mltrace-cluster` crate), in front of this store's own segment log.
//!
//! The store stays synchronous and free of networking: it only sees [`LogBackend`]. With an
//! upstream set ([`Store::set_upstream`]), the store keeps its data directory as a local mirror of
//! the shared log, the same bytes per event: every write is first appended upstream under the
//! condition that nothing came after the state it was resolved against, and only then to the local
//! log; events that other nodes appended come back through [`Store::apply_upstream`], the same
//! checks and the same `apply` as a restored export. The shared log is the truth for the order of
//! events; the local mirror makes reads, traces and restarts local.
//!
//! The local store implements the trait too (its own log is then the shared one), which is how the
//! follow protocol is tested without a network, and how one store can mirror another.

use crate::error::{Result, StoreError};
use crate::event::{Event, Seq};
use crate::store::Store;
use std::time::{Duration, Instant};

/// A log of events that several stores append to.
pub trait LogBackend: Send + Sync {
    /// Appends a batch (seqs `after + 1` onwards) right after event `after`, all or nothing;
    /// answers the seq of its last event. Fails with [`StoreError::Conflict`] when the log
    /// already holds an event after `after` (another node appended first), and with
    /// [`StoreError::Unavailable`] when the log cannot be reached; in both cases nothing of the batch
    /// was appended... except when the answer was lost on the way, which the caller learns by
    /// reading the log (the batch then comes back as someone else's).
    fn append(&self, after: Seq, events: &[Event]) -> Result<Seq>;
    /// Up to `limit` events after `after`, in seq order, waiting up to `wait` for the first one
    /// when there is none yet (an empty answer: nothing new in that time).
    fn read(&self, after: Seq, limit: usize, wait: Duration) -> Result<Vec<Event>>;
    /// The seq of the log's last event.
    fn last_seq(&self) -> Result<Seq>;
    /// Waits up to `wait` until the log holds an event after `after` (a follower waits here, then
    /// reads from where its store is by then, so that it does not read back its own writes).
    fn wait_for(&self, after: Seq, wait: Duration) -> Result<()> {
        self.read(after, 1, wait).map(|_| ())
    }
}

/// The local log as a backend: appends are restores (the events as given), conditional on the
/// log's last seq.
impl LogBackend for Store {
    fn append(&self, after: Seq, events: &[Event]) -> Result<Seq> {
        self.restore_after(after, events.to_vec())
    }

    fn read(&self, after: Seq, limit: usize, wait: Duration) -> Result<Vec<Event>> {
        let deadline = Instant::now() + wait;
        loop {
            let events = self.events_after(after, limit)?;
            if !events.is_empty() || Instant::now() >= deadline {
                return Ok(events);
            }
            // A local follower is for tests and tools; a short poll keeps the store free of a
            // notification path that only they would use.
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn last_seq(&self) -> Result<Seq> {
        Ok(Store::last_seq(self))
    }
}

impl Store {
    /// Appends exported events where they continue the log, provided its last seq is still
    /// `after`: a conditional restore, refused with [`StoreError::Conflict`] otherwise.
    pub fn restore_after(&self, after: Seq, events: Vec<Event>) -> Result<Seq> {
        self.restore_checked(Some(after), events)
    }

    /// Events read from the upstream log: those this store does not have yet are appended to the
    /// local log and applied, without being sent upstream again. Answers the last seq applied.
    pub fn apply_upstream(&self, events: Vec<Event>) -> Result<Seq> {
        self.apply_from_upstream(events)
    }

    /// Reads what the upstream log holds after this store's last event and applies it; answers
    /// how many events were applied (0: none came within `wait`).
    pub fn follow_upstream(&self, limit: usize, wait: Duration) -> Result<usize> {
        let up = self.upstream().ok_or_else(|| StoreError::Unavailable("this store has no upstream log".into()))?;
        up.wait_for(self.last_seq(), wait)?;
        // Read from where the store is now: this node's own writes that came back meanwhile are
        // skipped without being decoded.
        let before = self.last_seq();
        let events = up.read(before, limit, Duration::ZERO)?;
        if events.is_empty() {
            return Ok(0);
        }
        let last = self.apply_upstream(events)?;
        Ok(last.saturating_sub(before) as usize)
    }
}
