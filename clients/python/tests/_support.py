"""Test support: the store the tests log into, in one of two modes chosen by
``MLTRACE_TEST_MODE``:

- ``server`` (default): the real ``mltrace`` server binary on a free loopback
  port with a temporary data directory; the client talks HTTP to it;
- ``embedded``: a temporary data directory opened in the test process by the
  compiled extension (``set_db_uri("file:///...")``), no server.

Every test that uses the fixture runs unchanged in both. Tests of the HTTP
transport itself (retries, tokens, unreachable servers) start their own
:class:`Server` in both modes.

The binary is ``$MLTRACE_BIN``, default ``<repo>/target/debug/mltrace``
(build it with ``cargo build --workspace``).
"""

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(CLIENT_DIR))
SRC = os.path.join(CLIENT_DIR, "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import logging  # noqa: E402

import mltrace  # noqa: E402

# Stale-run warnings are expected in tests; keep the output readable.
logging.getLogger("mltrace").setLevel(logging.ERROR)
from mltrace import _batch, _config, _embedded, _http  # noqa: E402

MODE = os.environ.get("MLTRACE_TEST_MODE", "server").strip().lower() or "server"
if MODE not in ("server", "embedded"):
    raise RuntimeError(f"MLTRACE_TEST_MODE={MODE!r}: use server or embedded")
EMBEDDED = MODE == "embedded"


def binary() -> str:
    path = os.environ.get("MLTRACE_BIN") or os.path.join(REPO, "target", "debug", "mltrace")
    if not os.path.exists(path):
        raise RuntimeError(
            f"the mltrace server binary is missing at {path}: run `cargo build --workspace` "
            "in the repository, or set MLTRACE_BIN"
        )
    return path


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: the server dies with the test process, even on SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    """One ``mltrace serve`` process on 127.0.0.1."""

    def __init__(self, extra_args: Optional[List[str]] = None, port: Optional[int] = None,
                 data_dir: Optional[str] = None) -> None:
        self.extra_args = list(extra_args or [])
        self._tmp = tempfile.mkdtemp(prefix="mltrace-pytest-")
        self.data_dir = data_dir or os.path.join(self._tmp, "data")
        self.log_path = os.path.join(self._tmp, "server.log")
        self.requested_port = port
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.token: Optional[str] = None
        self.ca_file: Optional[str] = None
        if "--token" in self.extra_args:
            self.token = self.extra_args[self.extra_args.index("--token") + 1]

    @property
    def url(self) -> str:
        scheme = "https" if "--tls-cert" in self.extra_args else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        """What ``set_db_uri`` takes to log here."""
        return self.url

    def env(self) -> Dict[str, str]:
        """The environment that points a child process here (0.17 style)."""
        return {"DB_SERVER": f"127.0.0.1:{self.port}"}

    def release(self) -> None:
        """Nothing to release: a server takes any number of clients."""

    def fetch(self, path: str) -> bytes:
        """The raw answer to ``GET path``."""
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return r.read()

    def start(self, wait: float = 20.0) -> "Server":
        last = ""
        for _attempt in range(3):
            self.port = self.requested_port or free_port()
            log = open(self.log_path, "ab")
            cmd = [binary(), "serve", "--addr", f"127.0.0.1:{self.port}",
                   "--data-dir", self.data_dir] + self.extra_args
            kwargs = {}
            if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
                # (the death signal follows the forking *thread*: main thread only)
                kwargs["preexec_fn"] = _set_pdeathsig
            env = {k: v for k, v in os.environ.items()
                   if k not in ("MLTRACE_TOKEN", "MLTRACE_READ_TOKEN", "MLTRACE_ADDR", "MLTRACE_DATA_DIR")}
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, **kwargs)
            log.close()
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self.healthy():
                    return self
                time.sleep(0.05)
            last = self.log()
            self.stop()
            if self.requested_port:
                break
        raise RuntimeError(f"mltrace serve did not become healthy; its output:\n{last}")

    def healthy(self) -> bool:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            req = urllib.request.Request(self.url + "/api/v1/health", headers=headers)
            ctx = None
            if self.url.startswith("https://"):
                import ssl

                ctx = ssl.create_default_context(cafile=self.ca_file)
            with urllib.request.urlopen(req, timeout=1, context=ctx) as r:
                return r.status == 200
        except Exception:
            return False

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


class EmbeddedStore:
    """A temporary data directory opened in the test process (no server)."""

    def __init__(self) -> None:
        self._tmp = tempfile.mkdtemp(prefix="mltrace-pytest-embedded-")
        self.data_dir = os.path.join(self._tmp, "data")
        self.token: Optional[str] = None

    @property
    def uri(self) -> str:
        # fsync off: a test directory needs no power-loss durability.
        return "file://" + self.data_dir + "?fsync=never"

    def start(self) -> "EmbeddedStore":
        return self

    def env(self) -> Dict[str, str]:
        return {"MLTRACE_DATA_DIR": self.data_dir, "MLTRACE_FSYNC": "never"}

    def release(self) -> None:
        """Closes the store in this process so that a child process (or a
        server) can open the directory; the next call opens it again."""
        _batch.flush_quietly()
        _embedded.close()

    def fetch(self, path: str) -> bytes:
        return _http.request("GET", path, raw=True)

    def serve(self) -> Server:
        """A server on this directory (after releasing it), for the UI and CLI."""
        self.release()
        return Server(data_dir=self.data_dir).start()

    def cleanup(self) -> None:
        if _embedded.open_path() == self.data_dir:
            _embedded.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


_shared_http: Optional[Server] = None


def shared_http_server() -> Server:
    """A real server in either mode, for the tests of the HTTP transport."""
    global _shared_http
    if _shared_http is None:
        _shared_http = Server().start()
        atexit.register(_shared_http.cleanup)
    return _shared_http


def new_store():
    """A fresh store of the mode under test."""
    return EmbeddedStore() if EMBEDDED else Server().start()


_shared = None


def shared_server():
    """One store for the whole test process (tests use unique names)."""
    global _shared
    if _shared is None:
        if not EMBEDDED:
            return shared_http_server()
        _shared = new_store()
        atexit.register(_shared.cleanup)
    return _shared


_ENV_KEYS = ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_TOKEN", "SAVE_DIR",
             "MLTRACE_RETRIES", "MLTRACE_RETRY_BACKOFF", "MLTRACE_TIMEOUT", "MLTRACE_DATA_DIR",
             "MLTRACE_BATCH", "MLTRACE_FSYNC")


class MltraceTestCase(unittest.TestCase):
    """Points the client at a server (the shared one unless ``server()`` is
    overridden), with a private ``SAVE_DIR`` and a clean environment."""

    def server(self):
        return shared_server()

    def setUp(self) -> None:
        self._saved_env: Dict[str, Optional[str]] = {k: os.environ.get(k) for k in _ENV_KEYS}
        for k in _ENV_KEYS:
            os.environ.pop(k, None)
        self.tmp = tempfile.mkdtemp(prefix="mltrace-pytest-case-")
        os.environ["SAVE_DIR"] = os.path.join(self.tmp, "save")
        _batch.reset()
        _config.reset()
        _http.close()
        self.srv = self.server()
        mltrace.set_db_uri(self.srv.uri)
        mltrace.set_retries(count=3, backoff=0.05, timeout=10)
        self._cwd = os.getcwd()

    def tearDown(self) -> None:
        os.chdir(self._cwd)
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _batch.reset()
        _config.reset()
        _http.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def uniq(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


class PrivateServerTestCase(MltraceTestCase):
    """Like :class:`MltraceTestCase` but with a store of the class's own
    (fresh state, e.g. for flags and review)."""

    _private = None

    @classmethod
    def setUpClass(cls) -> None:
        cls._private = new_store()

    @classmethod
    def tearDownClass(cls) -> None:
        if cls._private is not None:
            cls._private.cleanup()
            cls._private = None

    def server(self):
        assert self._private is not None
        return self._private


@contextlib.contextmanager
def chdir(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
