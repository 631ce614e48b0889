"""The transport: requests to the HTTP API, sent to a server (one keep-alive
connection per thread, retries with exponential backoff) or answered in process
by the embedded store (``_embedded``), JSON in and out either way.

Every request the client makes is safe to repeat: reads are reads, writes are
either idempotent by nature (set notes, register a component, flag) or carry an
``idempotency_key`` (log a run), so a request whose answer was lost is simply
sent again.
"""

import atexit
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

from . import _batch, _config, _embedded
from ._version import __version__
from .errors import ConnectionError, NotFoundError, ServerError

logger = logging.getLogger("mltrace")

_RETRY_STATUSES = {429, 502, 503, 504}
_MAX_DELAY = 4.0

_local = threading.local()

# Every open pooled connection, with the thread that owns it. A connection left in a thread-local
# when its thread ends would be closed by the garbage collector, with a ResourceWarning; keeping it
# here instead lets the next caller (or exit) close it properly.
_open: Dict[int, Tuple[threading.Thread, http.client.HTTPConnection]] = {}
_open_lock = threading.Lock()


def _reap_finished_threads() -> None:
    with _open_lock:
        done = [k for k, (t, _) in _open.items() if not t.is_alive()]
        conns = [_open.pop(k)[1] for k in done]
    for c in conns:
        _quiet_close(c)


def _quiet_close(conn: http.client.HTTPConnection) -> None:
    try:
        conn.close()
    except Exception:  # pragma: no cover - closing never matters
        pass


def _ssl_context() -> ssl.SSLContext:
    """The system's trusted roots plus ``MLTRACE_CA_CERT`` / ``set_ca_cert()``."""
    ctx = ssl.create_default_context()
    extra = _config.ca_cert()
    if extra:
        ctx.load_verify_locations(cafile=extra)
    return ctx


# One encoder for every request: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _connection(base: str) -> Tuple[http.client.HTTPConnection, bool]:
    """The thread's pooled connection to ``base``; ``True`` when it is reused."""
    conn = getattr(_local, "conn", None)
    if conn is not None and getattr(_local, "base", None) == base:
        return conn, True
    close()
    _reap_finished_threads()
    parts = urlsplit(base)
    port = parts.port
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, port or 443, timeout=_config.timeout(), context=_ssl_context())
    else:
        conn = http.client.HTTPConnection(host, port or 80, timeout=_config.timeout())
    _local.conn = conn
    _local.base = base
    with _open_lock:
        _open[threading.get_ident()] = (threading.current_thread(), conn)
    return conn, False


def close() -> None:
    """Closes this thread's pooled connection (a new one opens on demand)."""
    conn = getattr(_local, "conn", None)
    _local.conn = None
    _local.base = None
    with _open_lock:
        _open.pop(threading.get_ident(), None)
    if conn is not None:
        _quiet_close(conn)


@atexit.register
def close_all() -> None:
    """Closes every pooled connection of every thread (at exit)."""
    with _open_lock:
        conns = [c for _, c in _open.values()]
        _open.clear()
    for c in conns:
        _quiet_close(c)


def quote_segment(name: str) -> str:
    """Percent-encodes a component or tag name as one URL path segment."""
    return quote(name, safe="")


Params = Optional[Dict[str, Any]]


def _query(params: Params) -> str:
    if not params:
        return ""
    pairs = []
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        pairs.append((k, str(v)))
    return ("?" + urlencode(pairs)) if pairs else ""


def _error_from(status: int, body: bytes, server: str, method: str, path: str) -> ServerError:
    code, message, field = "", "", None
    try:
        data = json.loads(body.decode("utf-8"))
        err = data.get("error", {}) if isinstance(data, dict) else {}
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            message = str(err.get("message") or "")
            field = err.get("field")
    except (ValueError, UnicodeDecodeError):
        message = body.decode("utf-8", "replace").strip()[:500]
    if not code:
        code = {400: "invalid_argument", 401: "unauthorized", 403: "forbidden",
                404: "not_found", 409: "conflict", 413: "payload_too_large",
                415: "unsupported_media_type", 503: "unavailable"}.get(status, "error")
    if not message:
        message = http.client.responses.get(status, "error")
    cls = NotFoundError if status == 404 else ServerError
    return cls(status, code, message, server, method, path, field)


def _answer(status: int, data: bytes, server: str, method: str, path: str, raw: bool) -> Any:
    if status >= 400:
        raise _error_from(status, data, server, method, path)
    if raw:
        return data
    if not data:
        return None
    try:
        return json.loads(data)  # bytes: UTF-8 is detected
    except (ValueError, UnicodeDecodeError) as e:
        raise ServerError(status, "bad_response",
                          f"the answer is not JSON: {data[:200]!r}", server, method, path) from e


def request(
    method: str,
    path: str,
    params: Params = None,
    body: Any = None,
    retries: Optional[int] = None,
    raw: bool = False,
) -> Any:
    """Sends one request to the configured server (or the embedded store) and
    returns the decoded JSON answer (``None`` for an empty body; the bytes with
    ``raw``).

    Runs queued by the batching mode are sent first, so that every read sees
    them and every write lands after them, as without batching.

    Connection failures, timeouts and answers 429/502/503/504 are retried
    (``retries`` times, default from the settings) with exponential backoff; a
    request that failed on a reused keep-alive connection is retried at once on
    a fresh one. Raises :class:`mltrace.ConnectionError` naming the server when
    it stays unreachable, :class:`mltrace.ServerError` for an error answer.
    """
    _batch.flush_before_request()
    payload: Optional[bytes] = None
    if body is not None:
        payload = _ENCODER.encode(body).encode("utf-8")
    where = _config.target()
    if isinstance(where, _config.LocalStore):
        status, data = _embedded.request(where, method, path + _query(params), payload)
        return _answer(status, data, where.uri, method, path, raw)
    return _send(where, method, path, params, payload, retries, raw)


# The seq of this process's last write to each server: reads pass it as ``min_seq``, so that a
# pipeline reads its own writes on any node of a cluster.
_last_write_seq: Dict[str, int] = {}


def _send(base: str, method: str, path: str, params: Params, payload: Optional[bytes],
          retries: Optional[int], raw: bool) -> Any:
    prefix = urlsplit(base).path.rstrip("/")
    target = prefix + path + _query(params)
    seen = _last_write_seq.get(base, 0)
    if method == "GET" and seen > 0:
        target += ("&" if "?" in target else "?") + f"min_seq={seen}"
    headers = {
        "Accept": "application/json",
        "User-Agent": f"mltrace-python/{__version__}",
    }
    if payload is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    tok = _config.token()
    if tok:
        headers["Authorization"] = f"Bearer {tok}"

    max_retries = _config.retries() if retries is None else retries
    delay = _config.backoff()
    attempt = 0
    while True:
        conn, reused = _connection(base)
        try:
            conn.request(method, target, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            if method != "GET" and status < 400:
                seq = resp.getheader("Mltrace-Seq")
                if seq is not None and seq.isdigit():
                    _last_write_seq[base] = max(_last_write_seq.get(base, 0), int(seq))
            if resp.will_close:
                close()
        except (OSError, http.client.HTTPException) as e:
            # ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
            # socket.timeout, socket.gaierror, RemoteDisconnected, IncompleteRead...
            close()
            if reused and attempt == 0 and not isinstance(e, socket.timeout):
                # A kept-alive connection the server had closed: retry at once.
                attempt += 1
                continue
            if attempt >= max_retries:
                raise ConnectionError(
                    f"cannot reach the mltrace server at {base} ({method} {path}): "
                    f"{type(e).__name__}: {e}. Is `mltrace serve` running there? "
                    "Set MLTRACE_SERVER (or DB_SERVER) or call mltrace.set_address().",
                    base,
                ) from e
            if attempt == 0 or (reused and attempt == 1):
                # Said once, at the first failure: a pipeline must not sit silent for the whole
                # backoff (seconds) before the error. A WARNING reaches stderr even when the
                # application configured no logging.
                logger.warning(
                    "mltrace: cannot reach the server at %s (%s: %s); retrying %d times "
                    "over about %.0fs before giving up",
                    base, type(e).__name__, e, max_retries - attempt, _total_wait(delay, max_retries - attempt),
                )
            else:
                logger.info("mltrace: %s %s failed (%s); retrying in %.2fs", method, path, e, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY) if delay > 0 else 0
            attempt += 1
            continue

        if status in _RETRY_STATUSES and attempt < max_retries:
            logger.info("mltrace: %s %s answered %d; retrying in %.2fs", method, path, status, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY) if delay > 0 else 0
            attempt += 1
            continue
        return _answer(status, data, base, method, path, raw)


def _total_wait(delay: float, tries: int) -> float:
    total = 0.0
    for _ in range(tries):
        total += delay
        delay = min(delay * 2, _MAX_DELAY) if delay > 0 else 0
    return total


def get(path: str, params: Params = None) -> Any:
    """``GET`` shortcut."""
    return request("GET", path, params=params)


def post(path: str, body: Any, params: Params = None) -> Any:
    """``POST`` shortcut."""
    return request("POST", path, params=params, body=body)


def put(path: str, body: Any) -> Any:
    """``PUT`` shortcut."""
    return request("PUT", path, body=body)
