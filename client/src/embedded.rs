//! [`DataDir`]: a data directory used in process, without a server.
//!
//! Reads open the directory read-only, so they work beside a server that writes it; the snapshot
//! is kept for the handle's later reads (consistent with each other, and the log is replayed once)
//! until [`DataDir::refresh`]. The first write opens it for writing (taking the directory's lock) and keeps it
//! open, so a batch import replays the log once, and later reads see what was written. When a
//! server holds the lock the write fails with [`StoreError::Locked`], whose message names the
//! server's address from the lock file.

use super::{AnyEndpoint, Backend, Method, Result};
use mltrace_store::model::Logged;
use mltrace_store::{AsOf, LogOptions, NewRun, Seq, Store};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A data directory, opened on demand.
pub struct DataDir {
    path: PathBuf,
    writer: Mutex<Option<Arc<Store>>>,
    snapshot: Mutex<Option<Arc<Store>>>,
    /// The directory opened from its log alone, for audit questions (see [`Endpoint::audited`](crate::Endpoint::audited)).
    audited: Mutex<Option<Arc<Store>>>,
    holder: String,
}

/// A writer that logged at least this many events past the newest checkpoint writes one when it
/// closes, so that the command line and embedded pipelines, which never run the server's
/// maintenance thread for long, do not leave every later open a long replay.
pub const CLOSE_CHECKPOINT_EVENTS: u64 = 10_000;

impl Drop for DataDir {
    fn drop(&mut self) {
        let writer = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(store) = writer
            && let Err(e) = store.checkpoint_if_behind(CLOSE_CHECKPOINT_EVENTS)
        {
            tracing::warn!("closing {}: checkpoint failed: {e}", self.path.display());
        }
    }
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir").field("path", &self.path).finish()
    }
}

impl DataDir {
    /// The directory at `path` (nothing is opened yet).
    pub fn new(path: impl AsRef<Path>) -> DataDir {
        DataDir {
            path: path.as_ref().to_path_buf(),
            writer: Mutex::new(None),
            snapshot: Mutex::new(None),
            audited: Mutex::new(None),
            holder: format!("pid {}, the mltrace command line", std::process::id()),
        }
    }

    /// What a server that finds the directory locked is told about us.
    pub fn with_holder(mut self, holder: impl Into<String>) -> DataDir {
        self.holder = holder.into();
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_writer(&self) -> Option<Arc<Store>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the read-only snapshot, so the next read sees what others wrote since.
    pub fn refresh(&self) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.audited.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn snapshot(&self) -> Result<Arc<Store>> {
        let mut slot = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let store = Arc::new(Store::open_read_only(&self.path)?);
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The store open for writing (opened, and the lock taken, on first use).
    pub fn writer(&self) -> Result<Arc<Store>> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let opts = LogOptions { holder: self.holder.clone(), ..LogOptions::default() };
        let (store, _recovery) = Store::open(&self.path, opts)?;
        let store = Arc::new(store);
        *slot = Some(store.clone());
        // From now on reads go to the writer, which sees everything.
        self.refresh();
        Ok(store)
    }

    /// Runs `f` on the writer if this handle holds one, else on the read-only snapshot.
    fn read<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        if let Some(w) = self.open_writer() {
            return f(&w);
        }
        let snapshot = self.snapshot()?;
        f(&snapshot)
    }

    fn write<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let w = self.writer()?;
        f(&w)
    }
}

impl Backend for DataDir {
    fn describe(&self) -> String {
        format!("the data directory {}", self.path.display())
    }

    fn ask(&self, q: &dyn AnyEndpoint) -> Result<Box<dyn Any + Send>> {
        if q.method() == Method::Get { self.read(|s| Backend::ask(s, q)) } else { self.write(|s| Backend::ask(s, q)) }
    }

    fn events(&self, after: Seq, limit: Option<u64>, each: &mut dyn FnMut(&str) -> std::io::Result<()>) -> Result<u64> {
        self.read(|s| s.events(after, limit, each))
    }

    fn restore(&self, lines: &[String]) -> Result<Seq> {
        self.write(|s| Backend::restore(s, lines))
    }

    fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        self.read(|s| s.openlineage_events(after, as_of, each))
    }

    fn log_run(&self, run: &NewRun) -> Result<Logged> {
        // Check the run before taking the directory's lock, so a bad run never waits on it.
        run.check()?;
        self.write(|s| Backend::log_run(s, run))
    }

    fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        for (i, r) in runs.iter().enumerate() {
            r.check().map_err(|e| e.within(&format!("runs[{i}]")))?;
        }
        self.write(|s| Backend::log_runs(s, runs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Call;
    use mltrace_store::Timestamp;

    #[test]
    fn reads_see_the_writes_of_the_same_handle() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path());
        let t = Timestamp(1_000);
        d.log_run(&NewRun::new("ingest", t, t).outputs(["raw.csv"])).unwrap();
        let recent = crate::queries::Recent { limit: 5, before: None, as_of: None };
        assert_eq!(d.call(&recent).unwrap().runs.len(), 1);
        drop(d);
        // A second handle reads read-only what the first one wrote.
        assert_eq!(DataDir::new(dir.path()).call(&recent).unwrap().runs[0].component, "ingest");
    }

    #[test]
    fn a_second_writer_is_told_who_holds_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { holder: "pid 1, serving http://127.0.0.1:8123".into(), ..LogOptions::default() };
        let (_server, _) = Store::open(dir.path(), opts).unwrap();
        let e =
            DataDir::new(dir.path()).call(&crate::commands::Unflag { all: true, ..Default::default() }).unwrap_err();
        assert_eq!(e.code(), "conflict");
        assert!(e.to_string().contains("http://127.0.0.1:8123"), "{e}");
    }
}
