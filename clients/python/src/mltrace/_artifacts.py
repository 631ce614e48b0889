"""Artifacts: content hashes, ``save``/``load``, and what ``auto_log`` saves.

Objects are written with joblib when it is installed, else with pickle, under
``SAVE_DIR`` (default ``~/.mltrace``). A small index under ``SAVE_DIR/.index``
maps content hashes to the paths already saved, so a value equal to an earlier
output is linked to that output instead of being saved again, and maps paths to
the hash they were saved with, so ``load`` logs the same hash ``save`` did.
"""

import hashlib
import json
import logging
import os
import pickle
import random
import string
import sys
import threading
import time
import types
from typing import Any, Dict, List, Optional, Tuple

logger = logging.getLogger("mltrace")

ONE_MB = 1_000_000

# ---------------------------------------------------------------- hashing


def _pandas():
    return sys.modules.get("pandas")


def _numpy():
    return sys.modules.get("numpy")


def is_dataframe(value: Any) -> bool:
    """True for a pandas DataFrame (without importing pandas)."""
    pd = _pandas()
    return pd is not None and isinstance(value, pd.DataFrame)


def content_hash(value: Any) -> str:
    """A content hash ``sha256:<hex>`` of a value.

    bytes and str are hashed as they are; pandas objects through
    ``hash_pandas_object`` plus their columns and dtypes; numpy arrays through
    their dtype, shape and bytes; anything else through its pickle (or, when it
    cannot be pickled, its ``repr``).
    """
    h = hashlib.sha256()
    if isinstance(value, (bytes, bytearray, memoryview)):
        h.update(b"bytes:")
        h.update(bytes(value))
        return "sha256:" + h.hexdigest()
    if isinstance(value, str):
        h.update(b"str:")
        h.update(value.encode("utf-8", "surrogatepass"))
        return "sha256:" + h.hexdigest()
    pd = _pandas()
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        try:
            h.update(type(value).__name__.encode())
            h.update(repr(list(getattr(value, "columns", [getattr(value, "name", None)]))).encode())
            h.update(repr(value.dtypes.to_dict() if hasattr(value.dtypes, "to_dict") else value.dtypes).encode())
            h.update(pd.util.hash_pandas_object(value, index=True).values.tobytes())
            return "sha256:" + h.hexdigest()
        except Exception:  # unhashable cells (lists, dicts): fall back to pickle
            h = hashlib.sha256()
    np = _numpy()
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        h.update(b"ndarray:")
        h.update(str(value.dtype).encode())
        h.update(repr(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
        return "sha256:" + h.hexdigest()
    try:
        h.update(b"pickle:")
        h.update(pickle.dumps(value, protocol=4))
    except Exception:
        h = hashlib.sha256()
        h.update(b"repr:")
        h.update(repr(value).encode("utf-8", "replace"))
    return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------- storage


def save_dir() -> str:
    """``SAVE_DIR`` (default ``~/.mltrace``)."""
    d = os.environ.get("SAVE_DIR") or os.path.join(os.path.expanduser("~"), ".mltrace")
    return os.path.abspath(d)


def _dump(obj: Any, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}_{threading.get_ident()}"
    try:
        try:
            import joblib  # type: ignore
        except ImportError:
            with open(tmp, "wb") as f:
                pickle.dump(obj, f, protocol=4)
        else:
            joblib.dump(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: str) -> Any:
    try:
        import joblib  # type: ignore
    except ImportError:
        with open(path, "rb") as f:
            return pickle.load(f)
    return joblib.load(path)


class _Index:
    """hash -> path and path -> hash, on disk under ``SAVE_DIR/.index``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @staticmethod
    def _dir() -> str:
        return os.path.join(save_dir(), ".index")

    def _write(self, key: str, data: Dict[str, Any]) -> None:
        d = self._dir()
        os.makedirs(d, exist_ok=True)
        final = os.path.join(d, key + ".json")
        tmp = f"{final}.tmp{os.getpid()}_{threading.get_ident()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, final)

    def _read(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            with open(os.path.join(self._dir(), key + ".json"), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _hash_key(h: str) -> str:
        return "h-" + h.split(":", 1)[-1]

    @staticmethod
    def _path_key(path: str) -> str:
        return "p-" + hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogatepass")).hexdigest()

    def path_for(self, h: str) -> Optional[str]:
        """An existing saved path with content hash ``h``, preferring outputs."""
        entry = self._read(self._hash_key(h))
        if entry and os.path.exists(entry.get("path", "")):
            return entry["path"]
        return None

    def record(self, h: str, path: str, output: bool) -> None:
        with self._lock:
            try:
                current = self._read(self._hash_key(h))
                if current is None or output and not current.get("output") or not os.path.exists(current.get("path", "")):
                    self._write(self._hash_key(h), {"path": path, "output": output})
                st = os.stat(path)
                self._write(self._path_key(path), {"hash": h, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
            except OSError as e:
                logger.warning("mltrace: could not update the artifact index in %s: %s", self._dir(), e)

    def hash_for(self, path: str) -> Optional[str]:
        """The hash ``path`` was saved with, if the file is unchanged since."""
        entry = self._read(self._path_key(path))
        if not entry:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns"):
            return entry.get("hash")
        return None


index = _Index()


def _slug(name: str) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in name.strip().lower())
    return keep.strip("._") or "artifact"


def default_path(var_name: str = "", component: Optional[str] = None, h: Optional[str] = None) -> str:
    """``SAVE_DIR/<component>/<var>_<time>_<id>.mlt``."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    suffix = (h.split(":", 1)[-1][:12] if h else
              "".join(random.choice(string.ascii_lowercase) for _ in range(5)))
    fname = f"{_slug(var_name) if var_name else 'artifact'}_{stamp}_{suffix}.mlt"
    parts = [save_dir()]
    if component:
        parts.append(_slug(component))
    parts.append(fname)
    return os.path.join(*parts)


def save_value(obj: Any, path: Optional[str] = None, var_name: str = "",
               component: Optional[str] = None, h: Optional[str] = None,
               output: bool = True) -> Tuple[str, str]:
    """Writes ``obj`` and records it in the index; returns ``(path, hash)``."""
    if h is None:
        h = content_hash(obj)
    if path is None:
        path = default_path(var_name, component, h)
    _dump(obj, path)
    index.record(h, path, output)
    return path, h


def load_value(path: str) -> Tuple[Any, str]:
    """Reads ``path``; returns ``(object, hash)``."""
    obj = _load(path)
    h = index.hash_for(path) or content_hash(obj)
    return obj, h


# ---------------------------------------------------------------- active runs


class RunContext:
    """What a decorated function's ``save``/``load`` calls recorded."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.loaded: List[Tuple[str, str]] = []
        self.saved: List[Tuple[str, str]] = []


_active = threading.local()


def push_context(ctx: RunContext) -> None:
    stack = getattr(_active, "stack", None)
    if stack is None:
        stack = _active.stack = []
    stack.append(ctx)


def pop_context(ctx: RunContext) -> None:
    stack = getattr(_active, "stack", [])
    if stack and stack[-1] is ctx:
        stack.pop()
    elif ctx in stack:
        stack.remove(ctx)


def current_context() -> Optional[RunContext]:
    stack = getattr(_active, "stack", None)
    return stack[-1] if stack else None


# ---------------------------------------------------------------- auto_log


def wants_auto_log(name: str, value: Any) -> bool:
    """auto_log's rule: a name containing ``data`` or ``model``, a DataFrame, or a
    value over 1 MB. Nothing that cannot be an artifact (``None``, modules,
    functions, classes) is picked."""
    if value is None or isinstance(value, (types.ModuleType, types.FunctionType,
                                           types.BuiltinFunctionType, types.MethodType, type)):
        return False
    if name.startswith("_mltrace"):
        return False
    lower = name.lower()
    if "data" in lower or "model" in lower:
        return True
    if is_dataframe(value):
        return True
    try:
        return sys.getsizeof(value) > ONE_MB
    except Exception:
        return False


def auto_log_pointer(name: str, value: Any, component: str, output: bool) -> Optional[Tuple[str, str]]:
    """Saves ``value`` (or finds an equal saved one) and returns ``(path, hash)``;
    ``None`` when it cannot be saved (a warning says why)."""
    try:
        h = content_hash(value)
        existing = index.path_for(h)
        if existing is not None:
            if output:
                index.record(h, existing, True)
            return existing, h
        return save_value(value, var_name=name, component=component, h=h, output=output)
    except Exception as e:
        logger.warning("mltrace: auto_log could not save %r (%s): %s", name, type(value).__name__, e)
        return None
