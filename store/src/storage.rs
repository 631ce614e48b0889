//! The storage seam: every byte the log and the checkpoint read or write goes through [`Storage`]
//! and [`StorageFile`], so that tests can put a simulated disk (see `sim`, test builds only) where
//! production has the real file system ([`Fs`]).
//!
//! The trait is the smallest set the log and the checkpoint need: positioned reads and writes,
//! `set_len`, file and directory syncs, listing, renaming and the writer lock. Calls are per batch
//! or per read, never per record, so the dynamic dispatch costs nothing measurable next to the
//! system call behind it.

use crate::error::{Result, StoreError};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(any(test, feature = "fault-injection"))]
pub mod sim;

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write, created empty (an existing file is truncated).
    Create,
}

/// One open file.
pub trait StorageFile: Send + Sync {
    /// Reads at `offset` into `buf`, answering how many bytes were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cuts (or extends with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Makes the file's data durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and metadata durable.
    fn sync_all(&self) -> io::Result<()>;

    /// Fills `buf` from `offset`, or fails at the end of the file.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let n = read_at_most(self, buf, offset)?;
        if n < buf.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends early"));
        }
        Ok(())
    }
}

/// Reads until `buf` is full or the file ends; answers how many bytes were read.
pub fn read_at_most<F: StorageFile + ?Sized>(file: &F, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A whole file's bytes: mapped when the storage can, else read into memory.
pub enum Bytes {
    /// A read-only map of a file nothing writes any more (a sealed segment, a checkpoint).
    Mapped(memmap2::Mmap),
    /// Bytes read into memory.
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// What a data directory lives on.
pub trait Storage: Send + Sync {
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;
    /// Reads a whole file into memory.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, OpenMode::Read)?;
        let mut buf = vec![0u8; file.size()? as usize];
        let n = read_at_most(&*file, &mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }
    /// A whole file that nothing writes any more, mapped where that is possible.
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.read(path).map(Bytes::Owned)
    }
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Renames a file, replacing any file of the new name.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes a directory's entries (files created, renamed) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the data directory's writer lock, writing `holder` into it; the lock lasts as long as
    /// the returned guard.
    fn lock(&self, dir: &Path, holder: &str) -> Result<Box<dyn std::any::Any + Send + Sync>>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fs;

impl StorageFile for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn size(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

/// The lock file of a data directory; a writer holds an exclusive lock on it and writes who it is.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

impl Storage for Fs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let file = match mode {
            OpenMode::Read => File::open(path)?,
            OpenMode::ReadWrite => OpenOptions::new().read(true).write(true).open(path)?,
            OpenMode::Create => OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?,
        };
        Ok(Arc::new(file))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        let file = File::open(path)?;
        // SAFETY: a mapped file that changes underneath is undefined behaviour, so only files that
        // nothing writes again are mapped: sealed segments (the writer only appends to the last
        // segment, one writer exists, held out by the directory lock, and truncation only touches
        // the last segment) and checkpoints (replaced by a rename, never written in place). The map
        // lives only for the scan or load at open. A process outside mltrace editing these files
        // meanwhile is outside what we can defend against, as for any database file.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(Bytes::Mapped(map))
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn lock(&self, dir: &Path, holder: &str) -> Result<Box<dyn std::any::Any + Send + Sync>> {
        use std::io::Write;
        let path = lock_path(dir);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        if f.try_lock().is_err() {
            let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() { "unknown process".into() } else { holder },
            });
        }
        File::set_len(&f, 0)
            .and_then(|_| f.write_all(holder.as_bytes()))
            .map_err(|e| StoreError::io(format!("writing {}", path.display()), e))?;
        Ok(Box::new(f))
    }
}
