"""In-process transport: the store embedded in this process.

The extension (``mltrace._native``) opens a data directory with the very store
the server runs and answers API requests with the very router the server puts on
a socket, without the socket. So this module only hands it the request the HTTP
transport would have sent and gets back the status and body the server would
have answered: both modes share every line of the client above the transport.

One store is open at a time: when the settings point elsewhere, the open one is
closed (its lock released, a throwaway directory removed). Whatever is open is
closed at exit, after the batching queue is flushed.
"""

import atexit
import logging
import os
import threading
from typing import Dict, Optional, Tuple

from . import _config
from .errors import ConnectionError

logger = logging.getLogger("mltrace")

_lock = threading.RLock()
_open: Optional[Tuple[_config.LocalStore, object]] = None
# Stores a forked child inherited from its parent: (store, parent pid).
_parents: Dict[_config.LocalStore, int] = {}


_module = None


def _native():
    global _module
    if _module is not None:
        return _module
    try:
        from . import _native as native
    except ImportError as e:  # a source checkout that was never built
        raise ImportError(
            "the embedded store needs mltrace's compiled extension (mltrace._native), which this "
            "installation lacks: install the package with `pip install ./clients/python` (it "
            "builds with Rust) or from a wheel, or log to a server instead "
            "(MLTRACE_SERVER, set_address)"
        ) from e
    _module = native
    return native


def label(store: _config.LocalStore) -> str:
    """How errors name an embedded store."""
    if store.path is None:
        return "the throwaway store of set_db_uri('test')"
    return f"the data directory {store.path} (embedded)"


def _fsync(store: _config.LocalStore) -> str:
    return store.fsync or os.environ.get("MLTRACE_FSYNC") or "always"


def engine(store: _config.LocalStore):
    """The open engine for ``store``, opening it (and closing another) when needed."""
    global _open
    with _lock:
        if _open is not None and _open[0] == store:
            return _open[1]
        if store.path is None and store in _parents:
            raise ConnectionError(
                f"{label(store)} belongs to the parent process (pid {_parents[store]}) this one "
                "was forked from: log from the parent, or have both log to a data directory "
                "through a server (mltrace serve)", store.uri)
        native = _native()
        try:
            close()
        except native.EngineError as e:  # e.g. its directory was deleted under it
            logger.warning("mltrace: closing the previous embedded store: %s", e)
        try:
            eng = native.Engine(store.path, _fsync(store))
        except native.EngineError as e:
            # Locked by another writer (the message names the holder), unreadable, corrupt.
            raise ConnectionError(f"cannot open {label(store)}: {e}", store.uri) from None
        except ValueError as e:
            raise ValueError(f"cannot open {label(store)}: {e}") from None
        if eng.recovered:
            logger.warning("mltrace: %s: %s", label(store), eng.recovered)
        _open = (store, eng)
        return eng


def current():
    """The open engine, or ``None``."""
    with _lock:
        return _open[1] if _open is not None else None


def open_path() -> Optional[str]:
    """The data directory of the open engine (``None``: none, or a throwaway)."""
    with _lock:
        return _open[0].path if _open is not None else None


def request(store: _config.LocalStore, method: str, target: str,
            payload: Optional[bytes], content_type: Optional[str] = None) -> Tuple[int, bytes]:
    """``(status, body)`` of one API request answered in process."""
    eng = engine(store)
    native = _native()
    try:
        return eng.request(method, target, payload, content_type)
    except native.EngineError as e:
        raise ConnectionError(f"{label(store)} failed: {e}", store.uri) from None


def flush() -> None:
    """fsyncs the open store (everything acknowledged survives a power loss)."""
    eng = current()
    if eng is not None:
        eng.flush()


def close() -> None:
    """Closes the open store: flushed, checkpointed, lock released (a
    throwaway directory is removed). The next request opens it again."""
    global _open
    with _lock:
        if _open is None:
            return
        _store, eng = _open
        _open = None
        eng.close()


def _after_fork_in_child() -> None:
    """A forked child must never touch the parent's open store (the same log file
    written by two processes with two states would be corrupt): it is abandoned
    without closing, and opening it again meets the parent's lock (a data
    directory) or a clear error (a throwaway store)."""
    global _lock, _open
    _lock = threading.RLock()
    if _open is not None:
        store, eng = _open
        _open = None
        _parents[store] = os.getppid()
        eng.abandon()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_at_exit() -> None:
    try:
        from . import _batch

        _batch.flush_at_exit()
    finally:
        close()


atexit.register(_close_at_exit)
