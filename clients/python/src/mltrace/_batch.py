"""Batching mode: runs are queued and logged in batches by a background thread.

``log_component_run`` (and so every decorated call) then returns as soon as the
run is queued; the thread sends what queued while it was busy as one
``POST /api/v1/runs`` (to the server, or to the embedded store), up to
``max_batch`` runs at a time. The run's ``id``, ``dependencies`` and ``stale``
are filled in when its batch is acknowledged.

Order is kept: every other request of the process (a query, a flag, a
registration) first waits for the queued runs, so it sees them and lands after
them, exactly as without batching. ``flush()`` returns when every queued run is
durable (for the embedded store, fsynced whatever the policy) and raises
:class:`mltrace.BatchError` for runs that were refused since the last flush. A
batch the store refuses as a whole (one bad run) is retried run by run, so only
the bad run fails. The queue is flushed at exit.
"""

import atexit
import collections
import logging
import os
import threading
from typing import Any, Deque, Dict, List, Optional, Tuple

from .errors import BatchError, MltraceError

logger = logging.getLogger("mltrace")

_cv = threading.Condition(threading.Lock())  # (a plain lock: cheaper than the default RLock)
_queue: Deque[Tuple[Dict[str, Any], Any]] = collections.deque()
_in_flight = 0
_failures: List[Tuple[Any, BaseException]] = []
_thread: Optional[threading.Thread] = None
_local = threading.local()

_enabled: Optional[bool] = None
_max_batch = 1000


def enabled() -> bool:
    """Whether runs are queued (``set_batching`` or ``MLTRACE_BATCH=1``)."""
    if _enabled is not None:
        return _enabled
    return os.environ.get("MLTRACE_BATCH", "").strip().lower() in ("1", "true", "yes", "on")


def configure(on: bool, max_batch: Optional[int] = None) -> None:
    """Turns batching on or off (off flushes first)."""
    global _enabled, _max_batch
    if max_batch is not None:
        if int(max_batch) < 1 or int(max_batch) > 10_000:
            raise ValueError("max_batch must be between 1 and 10,000 (the API's batch limit)")
        _max_batch = int(max_batch)
    if not on:
        flush()
    _enabled = bool(on)


def reset() -> None:
    """Back to the environment's setting (tests)."""
    global _enabled, _max_batch
    flush_quietly()
    _enabled = None
    _max_batch = 1000


def enqueue(body: Dict[str, Any], component_run: Any) -> None:
    """Queues one run body (as ``POST /api/v1/runs`` takes it)."""
    global _thread
    with _cv:
        _queue.append((body, component_run))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_worker, name="mltrace-batch", daemon=True)
            _thread.start()
        if len(_queue) == 1 or len(_queue) >= _max_batch:
            _cv.notify_all()


def _pending() -> bool:
    return bool(_queue) or _in_flight > 0


def _wait_idle() -> None:
    with _cv:
        while _pending():
            _cv.wait()


def flush_before_request() -> None:
    """Called by the transport before any request: queued runs go first."""
    if getattr(_local, "worker", False) or not _pending():
        return
    _wait_idle()


def flush() -> None:
    """Waits until every queued run is logged and durable; raises
    :class:`BatchError` listing the runs refused since the last flush."""
    _wait_idle()
    from . import _config, _embedded

    if isinstance(_config.target(), _config.LocalStore):
        _embedded.flush()
    with _cv:
        failed = list(_failures)
        _failures.clear()
    if failed:
        raise BatchError(failed)


def flush_quietly() -> None:
    """Flushes; refused runs are only logged (they were when refused)."""
    try:
        flush()
    except BatchError:
        pass


def flush_at_exit() -> None:
    try:
        flush()
    except BatchError as e:
        logger.error("mltrace: at exit: %s", e)
    except Exception as e:  # the interpreter is going away: say it, do not raise
        logger.error("mltrace: at exit, queued runs could not be logged: %s", e)


def _take() -> List[Tuple[Dict[str, Any], Any]]:
    global _in_flight
    with _cv:
        while not _queue:
            _cv.wait()
        n = min(len(_queue), _max_batch)
        items = [_queue.popleft() for _ in range(n)]
        _in_flight = n
        return items


def _done() -> None:
    global _in_flight
    with _cv:
        _in_flight = 0
        _cv.notify_all()


def _worker() -> None:
    _local.worker = True
    while True:
        items = _take()
        try:
            _send(items)
        except BaseException as e:  # never let the thread die with runs in flight
            _fail(items, e)
        finally:
            _done()


def _fail(items: List[Tuple[Dict[str, Any], Any]], error: BaseException) -> None:
    for body, _run in items:
        logger.error("mltrace: a queued run of %s was not logged: %s", body.get("component"), error)
    with _cv:
        _failures.extend((run, error) for _body, run in items)


def _apply(items: List[Tuple[Dict[str, Any], Any]], answer: Any) -> None:
    logged = (answer or {}).get("runs") or []
    for (_body, run), result in zip(items, logged):
        if run is not None:
            run._apply_logged(result)
            if run.stale:
                logger.warning("mltrace: run %s of %s is stale: %s", run.id,
                               run.component_name, "; ".join(run.stale))


def _send(items: List[Tuple[Dict[str, Any], Any]]) -> None:
    from . import _http
    from .errors import ServerError

    try:
        answer = _http.post("/api/v1/runs", {"runs": [body for body, _ in items]})
    except ServerError as e:
        if len(items) == 1 or e.status >= 500:
            raise
        # The batch is all or nothing: find the bad run(s) by logging each alone.
        for item in items:
            try:
                _apply([item], _http.post("/api/v1/runs", item[0]))
            except MltraceError as one:
                _fail([item], one)
        return
    _apply(items, answer)


def _after_fork_in_child() -> None:
    """Queued runs belong to the parent, which logs them; the child starts empty,
    with a fresh lock (the worker may have held the old one) and no worker."""
    global _cv, _queue, _in_flight, _thread, _failures
    _cv = threading.Condition(threading.Lock())
    _queue = collections.deque()
    _in_flight = 0
    _thread = None
    _failures = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

atexit.register(flush_at_exit)
