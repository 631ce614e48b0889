//! `mltrace._native`: the compiled half of the Python package.
//!
//! It owns two things and nothing else:
//!
//! - [`Engine`]: a data directory opened in the Python process with the very store the server runs,
//!   answering requests through the very router the server puts on a socket (`mltrace_api::app`),
//!   called in process instead of over HTTP. The Python client keeps one code path above its
//!   transport, and every public function answers the same JSON, the same errors and the same
//!   status codes in both modes because the same handlers produce them.
//! - [`cli_main`]: the `mltrace` command (`serve`, the UI, every query), the CLI crate's `main`, so
//!   that `pip install` gives the whole of mltrace.
//!
//! The GIL is released for every call into the store or the CLI, so Python threads (the client's
//! batching thread among them) run while Rust works.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use mltrace_api::ingest::Ingest;
use mltrace_api::{AppState, app};
use mltrace_store::{FsyncPolicy, LogOptions, Store};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tower::ServiceExt;

create_exception!(_native, EngineError, PyRuntimeError, "The embedded store refused to open, or failed.");

/// How long `close` waits for the router's writer thread to let go of the store.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

/// What an open engine holds; `None` once closed (or abandoned by a forked child).
struct Open {
    router: Router,
    store: Arc<Store>,
    /// The throwaway directory of `set_db_uri("test")`, removed when the engine closes.
    temp: Option<tempfile::TempDir>,
    runtime: tokio::runtime::Runtime,
}

/// A data directory open in this process, answering the HTTP API's requests without a socket.
#[pyclass(frozen, module = "mltrace._native")]
struct Engine {
    open: Mutex<Option<Open>>,
    dir: PathBuf,
    recovered: Option<String>,
}

fn engine_error(what: impl std::fmt::Display) -> PyErr {
    EngineError::new_err(what.to_string())
}

impl Engine {
    fn state(&self) -> MutexGuard<'_, Option<Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn router(&self) -> PyResult<(Router, tokio::runtime::Handle)> {
        self.state()
            .as_ref()
            .map(|o| (o.router.clone(), o.runtime.handle().clone()))
            .ok_or_else(|| engine_error(format!("the embedded store at {} is closed", self.dir.display())))
    }
}

fn open_store(dir: &Path, fsync: FsyncPolicy) -> Result<(Store, Option<String>), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let opts = LogOptions {
        fsync,
        holder: format!("pid {}, a Python process with the embedded store", std::process::id()),
        ..LogOptions::default()
    };
    let (store, recovery) = Store::open(dir, opts).map_err(|e| e.to_string())?;
    let recovered = recovery.torn_tail.map(|t| {
        format!(
            "recovered from a crash: cut off {} bytes of an unfinished write at {}:{} ({})",
            t.bytes_dropped,
            t.path.display(),
            t.offset,
            t.reason
        )
    });
    Ok((store, recovered))
}

#[pymethods]
impl Engine {
    /// Opens `path` (created when missing) for writing, or a fresh temporary directory when `path`
    /// is `None`. `fsync` is the server's policy: `always`, `never` or `interval:MS`.
    #[new]
    #[pyo3(signature = (path=None, fsync="always"))]
    fn new(py: Python<'_>, path: Option<PathBuf>, fsync: &str) -> PyResult<Self> {
        let fsync = FsyncPolicy::parse(fsync).map_err(PyValueError::new_err)?;
        let temp = match path {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("mltrace-test-")
                    .tempdir()
                    .map_err(|e| engine_error(format!("cannot create a temporary data directory: {e}")))?,
            ),
        };
        let dir = match (&path, &temp) {
            (Some(p), _) => p.clone(),
            (None, Some(t)) => t.path().to_path_buf(),
            (None, None) => return Err(engine_error("no data directory")),
        };
        let opened = {
            let dir = dir.clone();
            py.detach(move || open_store(&dir, fsync))
        };
        let (store, recovered) = opened.map_err(engine_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("mltrace-embedded")
            .build()
            .map_err(|e| engine_error(format!("cannot start the runtime: {e}")))?;
        let store = Arc::new(store);
        let mut state = AppState::new(store.clone());
        // Runs are logged on the calling thread (the server's writer thread, which coalesces
        // concurrent requests, would cost two thread handoffs per run here; the client's batching
        // mode does the coalescing). Replacing it ends that thread.
        state.ingest = Ingest::inline(store.clone());
        let router = app(state);
        Ok(Engine { open: Mutex::new(Some(Open { router, store, temp, runtime })), dir, recovered })
    }

    /// The data directory.
    #[getter]
    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// What recovery cut off when the directory was opened (a torn tail after a crash), or `None`.
    #[getter]
    fn recovered(&self) -> Option<String> {
        self.recovered.clone()
    }

    /// Whether [`Engine::close`] was called.
    #[getter]
    fn closed(&self) -> bool {
        self.state().is_none()
    }

    /// Answers one API request (`target` is the path with its query string) as the server would:
    /// `(status, body bytes)`.
    #[pyo3(signature = (method, target, body=None, content_type=None))]
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        target: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> PyResult<(u16, Bound<'py, PyBytes>)> {
        let (router, runtime) = self.router()?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut req = Request::builder().method(method).uri(target).header(header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, content_type.unwrap_or("application/json"));
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .map_err(|e| PyValueError::new_err(format!("bad request {target:?}: {e}")))?;
        let answer = py.detach(|| {
            runtime.block_on(async move {
                let resp = router.oneshot(req).await.map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
                Ok::<_, String>((status, bytes))
            })
        });
        let (status, bytes) = answer.map_err(engine_error)?;
        Ok((status, PyBytes::new(py, &bytes)))
    }

    /// fsyncs everything written so far, whatever the policy: when this returns, every
    /// acknowledged write survives a power loss.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.state().as_ref().map(|o| o.store.clone());
        match store {
            Some(store) => py.detach(move || store.flush()).map_err(engine_error),
            None => Ok(()),
        }
    }

    /// Flushes, writes a checkpoint (a persistent directory reopens faster), releases the
    /// directory's lock and removes a temporary directory. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(Open { router, store, temp, runtime }) = self.state().take() else {
            return Ok(());
        };
        py.detach(move || {
            // A writer thread (if any) holds the store until its queue closes with the router.
            drop(router);
            let deadline = Instant::now() + CLOSE_WAIT;
            let mut store = store;
            let store = loop {
                match Arc::try_unwrap(store) {
                    Ok(s) => break s,
                    Err(shared) if Instant::now() < deadline => {
                        store = shared;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => return Err(engine_error("the embedded store is still in use; it closes at exit")),
                }
            };
            let result = if temp.is_none() { store.checkpoint().map(|_| ()) } else { Ok(()) };
            drop(store);
            drop(temp);
            drop(runtime);
            result.map_err(engine_error)
        })
    }

    /// For a process forked from the one that opened the store: forgets the engine without
    /// running any of its destructors. The parent still owns the directory, its lock, its log's
    /// tail and (for a throwaway store) the directory's removal; the child has none of the threads
    /// they rely on. Leaking is the only safe way out: closing would flush and checkpoint a state
    /// the parent goes on changing, and remove a throwaway directory the parent still uses.
    fn abandon(&self) {
        if let Some(open) = self.state().take() {
            std::mem::forget(open);
        }
    }
}

/// Runs the `mltrace` command with `argv` (`argv[0]` is the program name); returns its exit code.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(move || mltrace_cli::main(argv))
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
