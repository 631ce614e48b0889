//! A simulated disk for tests (built only with `cfg(test)` or the `fault-injection` feature): files
//! in memory, with what was written kept apart from what was made durable, so that a test can cut
//! the power at any operation and see what a real disk could hold afterwards.
//!
//! Model: a file's written bytes become durable at `sync_data`/`sync_all` of that file; a
//! directory entry (a file created or renamed) becomes durable at `sync_dir` of its directory.
//! A power cut keeps only durable bytes and entries, plus, optionally, a prefix of the write that
//! was in flight (a torn write: a real disk may persist any prefix of it). Each mutating operation
//! is numbered, so that a test can cut the power just before operation `n`, or make operation `n`
//! fail as a full or broken disk would.

use super::{OpenMode, Storage, StorageFile};
use crate::error::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// What a mutating operation was, for fault plans that target one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A positioned write.
    Write,
    /// A file's `set_len`.
    SetLen,
    /// A file's `sync_data` or `sync_all`.
    Sync,
    /// A directory's sync.
    SyncDir,
    /// A file created (or truncated by creation).
    Create,
    /// A rename.
    Rename,
}

/// A write that was under way when the power went.
#[derive(Clone, Debug)]
struct InFlight {
    inode: usize,
    offset: u64,
    bytes: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    written: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct Disk {
    inodes: Vec<Inode>,
    names: BTreeMap<PathBuf, usize>,
    durable_names: BTreeMap<PathBuf, usize>,
    dirs: BTreeSet<PathBuf>,
    /// Mutating operations done so far.
    ops: u64,
    /// The power goes just before this operation: it and every later one fail.
    power_off_at: Option<u64>,
    /// These operations fail (once each) with an I/O error, leaving nothing changed.
    fail_at: BTreeSet<u64>,
    /// Every operation of this kind fails from the next one on.
    fail_kind: Option<OpKind>,
    /// A failing write still writes the first half of its bytes (as a disk that filled up midway).
    partial_writes: bool,
    /// The write that the power cut interrupted.
    in_flight: Option<InFlight>,
    /// The kinds of the operations done, in order (for tests that target one kind).
    log: Vec<OpKind>,
}

/// A simulated disk. Clones share the same disk.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    disk: Arc<Mutex<Disk>>,
    gates: Arc<Gates>,
}

#[derive(Debug, Default)]
struct Gates {
    reads: Gate,
    syncs: Gate,
}

/// Holds one kind of operation until released: a disk whose reads or fsyncs take as long as a test
/// likes, so that it can see who waits for whom while one is under way.
#[derive(Debug, Default)]
struct Gate {
    /// (operations held, operations waiting now)
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.0 {
            return;
        }
        s.1 += 1;
        self.changed.notify_all();
        while s.0 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.1 -= 1;
    }

    fn set(&self, held: bool) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = held;
        self.changed.notify_all();
    }

    fn wait_for_held(&self, timeout: std::time::Duration) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (s, _) = self.changed.wait_timeout_while(s, timeout, |s| s.1 == 0).unwrap_or_else(|p| p.into_inner());
        s.1 > 0
    }
}

struct SimFile {
    disk: Arc<Mutex<Disk>>,
    gates: Arc<Gates>,
    inode: usize,
    writable: bool,
}

fn lock(disk: &Mutex<Disk>) -> MutexGuard<'_, Disk> {
    disk.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", path.display()))
}

impl Disk {
    /// Counts one mutating operation and says whether it may go ahead.
    fn begin(&mut self, kind: OpKind) -> io::Result<()> {
        let n = self.ops;
        if self.power_off_at.is_some_and(|at| n >= at) {
            return Err(io::Error::other("simulated power loss"));
        }
        self.ops += 1;
        self.log.push(kind);
        if self.fail_at.remove(&n) || self.fail_kind == Some(kind) {
            return Err(io::Error::other(format!("injected failure of operation {n} ({kind:?})")));
        }
        Ok(())
    }
}

impl SimStorage {
    /// An empty disk.
    pub fn new() -> Self {
        SimStorage::default()
    }

    /// Mutating operations done so far.
    pub fn ops(&self) -> u64 {
        lock(&self.disk).ops
    }

    /// The kinds of the mutating operations done so far, in order.
    pub fn op_kinds(&self) -> Vec<OpKind> {
        lock(&self.disk).log.clone()
    }

    /// The power goes just before operation `n` (counting from 0): it and every later one fail.
    /// If it is a write, what it would have written is kept for [`SimStorage::power_cut`] to tear.
    pub fn power_off_at(&self, n: u64) {
        lock(&self.disk).power_off_at = Some(n);
    }

    /// From now on every read of a file's bytes waits until [`SimStorage::release_reads`].
    pub fn hold_reads(&self) {
        self.gates.reads.set(true);
    }

    /// Lets the held reads (and every later one) go.
    pub fn release_reads(&self) {
        self.gates.reads.set(false);
    }

    /// Waits (at most `timeout`) until at least one read is held; says whether one is.
    pub fn wait_for_held_read(&self, timeout: std::time::Duration) -> bool {
        self.gates.reads.wait_for_held(timeout)
    }

    /// From now on every fsync of a file waits until [`SimStorage::release_syncs`].
    pub fn hold_syncs(&self) {
        self.gates.syncs.set(true);
    }

    /// Lets the held fsyncs (and every later one) go.
    pub fn release_syncs(&self) {
        self.gates.syncs.set(false);
    }

    /// Waits (at most `timeout`) until at least one fsync is held; says whether one is.
    pub fn wait_for_held_sync(&self, timeout: std::time::Duration) -> bool {
        self.gates.syncs.wait_for_held(timeout)
    }

    /// Operation `n` fails with an I/O error and changes nothing; the ones after it work.
    pub fn fail_op(&self, n: u64) {
        lock(&self.disk).fail_at.insert(n);
    }

    /// From now on a failing write (see [`SimStorage::fail_op`]) writes the first half of its bytes
    /// before it reports the error, as a disk that filled up midway does.
    pub fn partial_writes(&self) {
        lock(&self.disk).partial_writes = true;
    }

    /// Every later operation of `kind` fails (a disk that broke).
    pub fn fail_every(&self, kind: OpKind) {
        lock(&self.disk).fail_kind = Some(kind);
    }

    /// Length of the write the power cut interrupted, if one was.
    pub fn in_flight_len(&self) -> Option<usize> {
        lock(&self.disk).in_flight.as_ref().map(|w| w.bytes.len())
    }

    /// The disk after the power comes back: only durable entries and bytes, plus the first `torn`
    /// bytes of the interrupted write (if any). With `keep_unsynced`, every written byte survives
    /// instead (the process died, the machine did not).
    pub fn power_cut(&self, torn: usize, keep_unsynced: bool) -> SimStorage {
        let d = lock(&self.disk);
        let mut inodes: Vec<Inode> = d
            .inodes
            .iter()
            .map(|i| {
                let bytes = if keep_unsynced { i.written.clone() } else { i.durable.clone() };
                Inode { written: bytes.clone(), durable: bytes }
            })
            .collect();
        if let Some(w) = &d.in_flight {
            let inode = &mut inodes[w.inode];
            let end = w.offset as usize + torn.min(w.bytes.len());
            if inode.written.len() < end {
                inode.written.resize(end, 0);
            }
            inode.written[w.offset as usize..end].copy_from_slice(&w.bytes[..end - w.offset as usize]);
            inode.durable = inode.written.clone();
        }
        let names = if keep_unsynced { d.names.clone() } else { d.durable_names.clone() };
        let disk = Disk { inodes, durable_names: names.clone(), names, dirs: d.dirs.clone(), ..Disk::default() };
        SimStorage { disk: Arc::new(Mutex::new(disk)), gates: Arc::default() }
    }

    /// The current (written) bytes of a file, for tests that damage or inspect it.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        let d = lock(&self.disk);
        d.names.get(path).map(|&i| d.inodes[i].written.clone())
    }

    /// Replaces a file's bytes, durably (a test damaging the disk).
    pub fn put_file(&self, path: &Path, bytes: Vec<u8>) {
        let mut d = lock(&self.disk);
        let inode = match d.names.get(path) {
            Some(&i) => i,
            None => {
                d.inodes.push(Inode::default());
                d.inodes.len() - 1
            }
        };
        d.names.insert(path.to_path_buf(), inode);
        d.durable_names.insert(path.to_path_buf(), inode);
        d.inodes[inode] = Inode { written: bytes.clone(), durable: bytes };
    }

    /// Removes a file, durably (a test losing a file).
    pub fn delete_file(&self, path: &Path) {
        let mut d = lock(&self.disk);
        d.names.remove(path);
        d.durable_names.remove(path);
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.gates.reads.pass();
        let d = lock(&self.disk);
        let data = &d.inodes[self.inode].written;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only"));
        }
        let mut d = lock(&self.disk);
        let mut buf = buf;
        let mut failed = None;
        if let Err(e) = d.begin(OpKind::Write) {
            let powered_off = d.power_off_at.is_some_and(|at| d.ops >= at);
            if powered_off {
                if d.in_flight.is_none() {
                    d.in_flight = Some(InFlight { inode: self.inode, offset, bytes: buf.to_vec() });
                }
                return Err(e);
            }
            if !d.partial_writes {
                return Err(e);
            }
            buf = &buf[..buf.len() / 2];
            failed = Some(e);
        }
        let data = &mut d.inodes[self.inode].written;
        let end = offset as usize + buf.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(buf);
        failed.map_or(Ok(()), Err)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut d = lock(&self.disk);
        d.begin(OpKind::SetLen)?;
        d.inodes[self.inode].written.resize(len as usize, 0);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(lock(&self.disk).inodes[self.inode].written.len() as u64)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.gates.syncs.pass();
        let mut d = lock(&self.disk);
        d.begin(OpKind::Sync)?;
        let inode = &mut d.inodes[self.inode];
        inode.durable = inode.written.clone();
        Ok(())
    }
    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}

impl Storage for SimStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut d = lock(&self.disk);
        let inode = match (mode, d.names.get(path).copied()) {
            (OpenMode::Create, _) => {
                let parent = path.parent().unwrap_or(Path::new(""));
                if !d.dirs.contains(parent) {
                    return Err(not_found(parent));
                }
                d.begin(OpKind::Create)?;
                d.inodes.push(Inode::default());
                let i = d.inodes.len() - 1;
                d.names.insert(path.to_path_buf(), i);
                i
            }
            (_, Some(i)) => i,
            (_, None) => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            disk: self.disk.clone(),
            gates: self.gates.clone(),
            inode,
            writable: mode != OpenMode::Read,
        }))
    }
    fn exists(&self, path: &Path) -> bool {
        let d = lock(&self.disk);
        d.names.contains_key(path) || d.dirs.contains(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut d = lock(&self.disk);
        for a in dir.ancestors() {
            d.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let d = lock(&self.disk);
        if !d.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(d.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut d = lock(&self.disk);
        let inode = *d.names.get(from).ok_or_else(|| not_found(from))?;
        d.begin(OpKind::Rename)?;
        d.names.remove(from);
        d.names.insert(to.to_path_buf(), inode);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut d = lock(&self.disk);
        d.begin(OpKind::SyncDir)?;
        let Disk { names, durable_names, .. } = &mut *d;
        durable_names.retain(|p, _| p.parent() != Some(dir));
        for (p, &i) in names.iter() {
            if p.parent() == Some(dir) {
                durable_names.insert(p.clone(), i);
            }
        }
        Ok(())
    }
    fn lock(&self, _dir: &Path, _holder: &str) -> Result<Box<dyn std::any::Any + Send + Sync>> {
        // One process, one simulated disk: the tests never open two writers on it at once.
        Ok(Box::new(()))
    }
}
