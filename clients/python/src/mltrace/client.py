"""The functions of the ``mltrace`` module: settings, logging, queries."""

import itertools
import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _artifacts, _batch, _config, _embedded, _git, _http, _times
from .component import DEFAULT_STALENESS_THRESHOLD, Component
from .entities import ComponentRun, IOPointer, infer_pointer_type
from .errors import NotFoundError

logger = logging.getLogger("mltrace")

TimeLike = Union[None, str, int, datetime]

# ------------------------------------------------------------ settings


def _switching() -> None:
    """Before the settings change: queued runs go where they were meant to."""
    _batch.flush_quietly()


def set_address(address: str) -> str:
    """Points the client at a server: a host (``"10.0.0.5"``: the current port,
    8080 by default, is kept), ``"host:port"``, or a URL. Returns the URL."""
    _switching()
    url = _config.set_address(address)
    _http.close()
    return url


def set_db_uri(uri: str) -> str:
    """Where runs are logged:

    - ``"test"`` (any case): a fresh private store in this process, removed at
      exit (mltrace 0.17's test store; each call starts an empty one);
    - ``"file:///path"``: a data directory opened in this process, which
      ``mltrace serve --data-dir /path`` and the CLI read later (one writing
      process at a time; ``?fsync=never|interval:MS|always``, default always);
    - ``"http://host:8080"``: a server. An old database URI is mapped to the
      mltrace server on its host, with a warning.

    Returns the URI in effect."""
    _switching()
    uri = _config.set_db_uri(uri)
    _http.close()
    return uri


def get_db_uri() -> str:
    """Where the client logs: the server's URL, ``file:///path`` or ``test``."""
    return _config.db_uri()


def get_address() -> str:
    """Same as :func:`get_db_uri`."""
    return _config.db_uri()


def set_batching(enabled: bool = True, max_batch: Optional[int] = None) -> None:
    """Batching mode (also ``MLTRACE_BATCH=1``): runs are queued and logged in
    batches (up to ``max_batch``, default 1,000) by a background thread, so a
    decorated call returns without waiting for the store. A run's ``id`` is set
    once its batch is logged; any other request waits for the queue first.
    :func:`flush` waits for everything and reports refused runs; the queue is
    flushed at exit. ``set_batching(False)`` flushes and turns it off."""
    _batch.configure(enabled, max_batch)


def flush() -> None:
    """Returns when every run logged so far is durable (queued runs logged; the
    embedded store fsynced whatever its policy). Raises
    :class:`mltrace.BatchError` for queued runs that were refused."""
    _batch.flush()
    if isinstance(_config.target(), _config.LocalStore):
        _embedded.flush()


def close() -> None:
    """Flushes and closes the embedded store (its data directory is free for
    ``mltrace serve`` or another process; a throwaway store is removed). The
    next call opens it again. Nothing to do for a server."""
    _batch.flush()
    _embedded.close()


def set_token(token: Optional[str]) -> None:
    """Sets the bearer token (default: ``MLTRACE_TOKEN``)."""
    _config.set_token(token)


def set_ca_cert(path: Optional[str]) -> None:
    """Trusts the CA certificates in ``path`` (PEM) for an ``https://`` server,
    besides the system's roots (default: ``MLTRACE_CA_CERT``)."""
    _config.set_ca_cert(path)
    _http.close()


def set_retries(count: Optional[int] = None, backoff: Optional[float] = None,
                timeout: Optional[float] = None) -> None:
    """Sets how often a failed request is retried (default 6, or
    ``MLTRACE_RETRIES``), the first backoff delay in seconds (0.25, doubling up to
    4), and the socket timeout (30 s)."""
    _config.set_retries(count, backoff, timeout)
    _http.close()


def health() -> Dict[str, Any]:
    """The server's ``/api/v1/health`` answer."""
    return _http.get("/api/v1/health")


def clean_db() -> None:
    """With ``set_db_uri("test")``: starts a fresh empty throwaway store (what
    0.17 test suites expect from it). Elsewhere not available: the event log is
    append-only and nothing is ever deleted; use a new data directory."""
    where = _config.target()
    if isinstance(where, _config.LocalStore) and where.path is None:
        set_db_uri("test")
        return
    raise NotImplementedError(
        "clean_db() is not supported: mltrace's event log is append-only. "
        "Start the server with a new --data-dir for an empty store."
    )


# ------------------------------------------------------------ save / load


def save(obj: Any, pathname: Optional[str] = None, *, path: Optional[str] = None) -> str:
    """Saves ``obj`` (joblib when installed, else pickle) and returns the path.
    Without ``pathname`` (or ``path=``) it goes under ``SAVE_DIR``. Inside a
    decorated function, the path is logged as an output of the run, with a
    content hash."""
    if pathname is None:
        pathname = path
    ctx = _artifacts.current_context()
    path, h = _artifacts.save_value(obj, path=pathname, var_name="",
                                    component=ctx.component if ctx else None)
    if ctx is not None:
        ctx.saved.append((path, h))
    return path


def load(pathname: Optional[str] = None, *, path: Optional[str] = None) -> Any:
    """Loads an object saved with :func:`save` (or joblib/pickle). Inside a
    decorated function, the path is logged as an input of the run."""
    if pathname is None:
        pathname = path
    if pathname is None:
        raise TypeError("load() needs the path of the file to load")
    obj, h = _artifacts.load_value(pathname)
    ctx = _artifacts.current_context()
    if ctx is not None:
        ctx.loaded.append((pathname, h))
    return obj


# ------------------------------------------------------------ creation


def _component_path(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError("a component name must be a string")
    return "/api/v1/components/" + _http.quote_segment(name)


def create_component(name: str, description: str = "", owner: str = "",
                     tags: Sequence[str] = ()) -> Component:
    """Registers a component: sets its description and owner and adds tags."""
    if isinstance(tags, str):
        tags = [tags]
    body = {"description": description or "", "owner": owner or "", "tags": [str(t) for t in tags]}
    return Component.from_api(_http.put(_component_path(name), body))


def tag_component(component_name: str, tags: Union[str, Sequence[str]]) -> Component:
    """Adds tags to an existing component. As in mltrace 0.17, an unknown
    component is an error (``NotFoundError``, a ``RuntimeError``) rather than
    being created by the tagging."""
    if isinstance(tags, str):
        tags = [tags]
    current = Component.from_api(_get_component_json(component_name))  # 404 if unknown
    if not tags:
        return current
    answer = _http.post(_component_path(component_name) + "/tags", {"tags": [str(t) for t in tags]})
    return Component.from_api(answer)


def create_random_ids(num_outputs: int = 1) -> List[str]:
    """``num_outputs`` random ids (uuid4 strings) to name outputs with."""
    return [str(uuid.uuid4()) for _ in range(num_outputs)]


def _threshold_seconds(staleness_threshold: Union[int, float, timedelta, None]) -> Optional[int]:
    if staleness_threshold is None:
        return None
    if isinstance(staleness_threshold, timedelta):
        return int(staleness_threshold.total_seconds())
    return int(staleness_threshold)


# Idempotency keys: a random prefix per process and a counter (a uuid4 per run
# costs more than the rest of queuing it in batching mode). The prefix is drawn
# again in a forked child.
_KEY_PREFIX = uuid.uuid4().hex
_key_counter = itertools.count(1)


def _new_key_prefix() -> None:
    global _KEY_PREFIX, _key_counter
    _KEY_PREFIX = uuid.uuid4().hex
    _key_counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_key_prefix)


def log_component_run(
    component_run: ComponentRun,
    set_dependencies_from_inputs: bool = True,
    staleness_threshold: Union[int, timedelta] = DEFAULT_STALENESS_THRESHOLD,
    idempotency_key: Optional[str] = None,
) -> ComponentRun:
    """Logs a run. Its ``id``, ``dependencies`` (run ids) and ``stale``
    messages are filled in from the server's answer, and the run is returned.

    The request carries an idempotency key (unique to the process and the run
    unless given), so retries after a network failure never log the run twice.

    In batching mode (:func:`set_batching`) the run is queued and this returns
    at once; ``id``, ``dependencies`` and ``stale`` are set when it is logged.
    """
    if not isinstance(component_run, ComponentRun):
        raise TypeError("log_component_run takes a ComponentRun")
    key = idempotency_key or f"py-{_KEY_PREFIX}-{next(_key_counter)}"
    body = component_run.to_api(
        set_dependencies_from_inputs=set_dependencies_from_inputs,
        staleness_threshold=_threshold_seconds(staleness_threshold),
        idempotency_key=key,
    )
    if _batch.enabled():
        _batch.enqueue(body, component_run)
        return component_run
    answer = _http.post("/api/v1/runs", body)
    runs = (answer or {}).get("runs") or []
    if runs:
        component_run._apply_logged(runs[0])
    if component_run.stale:
        logger.warning("mltrace: run %s of %s is stale: %s", component_run.id,
                       component_run.component_name, "; ".join(component_run.stale))
    return component_run


def register(
    component_name: Any,
    inputs: Union[Sequence[str], Callable[..., Any]] = (),
    outputs: Sequence[str] = (),
    input_vars: Sequence[str] = (),
    output_vars: Sequence[str] = (),
    input_kwargs: Optional[Dict[str, str]] = None,
    output_kwargs: Optional[Dict[str, str]] = None,
    endpoint: bool = False,
    staleness_threshold: int = DEFAULT_STALENESS_THRESHOLD,
    auto_log: bool = False,
    **user_kwargs: Any,
) -> Any:
    """Decorator logging every call as a run of ``component_name`` (mltrace
    0.17's ``register``); the arguments are those of :meth:`Component.run`.
    ``@register`` without arguments uses the function's name."""
    if callable(component_name) and not isinstance(component_name, str):
        func = component_name
        return Component(func.__name__).run()(func)
    return Component(component_name).run(
        inputs, outputs, input_vars, output_vars, input_kwargs, output_kwargs,
        endpoint, staleness_threshold, auto_log, **user_kwargs)


def get_git_hash() -> Optional[str]:
    """The commit checked out in the working directory's repository, or ``None``."""
    return _git.get_git_hash()


def get_git_tags() -> List[str]:
    """The tags of that commit (``[]`` when none)."""
    return _git.get_git_tags()


def add_notes_to_component_run(component_run_id: Union[int, str], notes: str) -> str:
    """Replaces the notes of a run; returns them."""
    if not isinstance(notes, str):
        raise TypeError("notes must be a string")
    answer = _http.put(f"/api/v1/runs/{_run_id(component_run_id)}/notes", {"notes": notes})
    return (answer or {}).get("notes", notes)


def flag_output_id(output_id: str, reason: Optional[str] = None, by: Optional[str] = None) -> bool:
    """Flags an output for review. Unknown name: ``NotFoundError`` (a
    ``RuntimeError``). Returns ``True``."""
    body: Dict[str, Any] = {"outputs": [output_id]}
    if reason is not None:
        body["reason"] = reason
    if by is not None:
        body["by"] = by
    _http.post("/api/v1/flag", body)
    return True


def unflag_output_id(output_id: str) -> bool:
    """Removes the flag of an output. Returns ``False`` (the flag's new value)."""
    _http.post("/api/v1/unflag", {"outputs": [output_id]})
    return False


def unflag_all() -> List[str]:
    """Removes every flag; returns the names that were flagged."""
    answer = _http.post("/api/v1/unflag", {"all": True})
    return list((answer or {}).get("unflagged") or [])


# ------------------------------------------------------------ queries


def _run_id(value: Union[int, str]) -> int:
    try:
        rid = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"a run id is a positive integer, not {value!r}") from None
    if rid <= 0:
        raise ValueError(f"a run id is a positive integer, not {value!r}")
    return rid


def _as_of(as_of: TimeLike) -> Optional[str]:
    return _times.time_param(as_of)


def get_history(
    component_name: str,
    limit: Optional[int] = 10,
    date_lower: TimeLike = None,
    date_upper: TimeLike = None,
    as_of: TimeLike = None,
) -> List[ComponentRun]:
    """The component's runs, newest first (``limit=None``: all), optionally
    within a start-time range (inclusive); ``[]`` for an unknown component, as
    in mltrace 0.17. Runs are summaries: no
    ``code_snapshot`` (see :func:`get_component_run_information`)."""
    params: Dict[str, Any] = {
        "since": _times.time_param(date_lower),
        "until": _times.time_param(date_upper),
        "as_of": _as_of(as_of),
    }
    try:
        return _paged(_component_path(component_name) + "/runs", params, limit)
    except NotFoundError as e:
        # mltrace 0.17 answered [] for a component that never ran (e.g. one
        # whose before-tests always failed); only an unknown component is that.
        if e.code == "not_found" and e.field == "name":
            return []
        raise


def _paged(path: str, params: Dict[str, Any], limit: Optional[int]) -> List[ComponentRun]:
    out: List[ComponentRun] = []
    before: Optional[int] = None
    while limit is None or len(out) < limit:
        page = 1000 if limit is None else min(1000, limit - len(out))
        if page <= 0:
            break
        answer = _http.get(path, {**params, "limit": page, "before": before})
        runs = (answer or {}).get("runs") or []
        out.extend(ComponentRun.from_api(r) for r in runs)
        if len(runs) < page:
            break
        before = runs[-1]["id"]
    return out


def get_recent_run_ids(limit: int = 5, last_run_id: Optional[Union[int, str]] = None,
                       as_of: TimeLike = None) -> List[int]:
    """Ids of the most recent runs (by start time), newest first; with
    ``last_run_id``, the page that follows that run."""
    params: Dict[str, Any] = {"as_of": _as_of(as_of)}
    if last_run_id is not None:
        params["before"] = _run_id(last_run_id)
    ids: List[int] = []
    before = params.pop("before", None)
    while len(ids) < limit:
        page = min(1000, limit - len(ids))
        answer = _http.get("/api/v1/runs", {**params, "limit": page, "before": before})
        runs = (answer or {}).get("runs") or []
        ids.extend(int(r["id"]) for r in runs)
        if len(runs) < page:
            break
        before = runs[-1]["id"]
    return ids


def get_recent_runs(limit: int = 20, as_of: TimeLike = None) -> List[ComponentRun]:
    """The most recent runs (summaries), newest first."""
    return _paged("/api/v1/runs", {"as_of": _as_of(as_of)}, limit)


def _get_component_json(component_name: str) -> Dict[str, Any]:
    return _http.get(_component_path(component_name))


def get_component_information(component_name: str, as_of: TimeLike = None) -> Component:
    """The component's name, description, owner and tags (plus ``run_count``,
    ``latest_run``, ``outdated``). Unknown: ``NotFoundError`` (``RuntimeError``)."""
    return Component.from_api(_http.get(_component_path(component_name), {"as_of": _as_of(as_of)}))


def get_component_run_information(component_run_id: Union[int, str],
                                  as_of: TimeLike = None) -> ComponentRun:
    """The full run, code snapshot and test results included. Unknown:
    ``NotFoundError`` (``RuntimeError``)."""
    answer = _http.get(f"/api/v1/runs/{_run_id(component_run_id)}", {"as_of": _as_of(as_of)})
    return ComponentRun.from_api(answer)


def get_components(tag: str = "", owner: str = "", as_of: TimeLike = None) -> List[Component]:
    """Components with the tag and/or owner (both empty: all)."""
    params = {"tag": tag or None, "owner": owner or None, "as_of": _as_of(as_of)}
    answer = _http.get("/api/v1/components", params)
    return [Component.from_api(c) for c in (answer or {}).get("components") or []]


def get_components_with_owner(owner: str) -> List[Component]:
    """Components with that owner (mltrace 0.16)."""
    return get_components(owner=owner)


def get_components_with_tag(tag: str) -> List[Component]:
    """Components with that tag (mltrace 0.16)."""
    return get_components(tag=tag)


def get_all_tags() -> List[str]:
    """Every tag name."""
    answer = _http.get("/api/v1/tags")
    return [t["name"] if isinstance(t, dict) else str(t) for t in (answer or {}).get("tags") or []]


def get_io_pointer(io_pointer_id: str, io_pointer_val: Any = None, create: bool = True) -> IOPointer:
    """What the server knows about an I/O name (type, flag). An unknown name
    gives a new, not yet logged pointer, or ``NotFoundError`` with
    ``create=False``."""
    try:
        answer = _http.get("/api/v1/io", {"name": io_pointer_id})
    except NotFoundError:
        if not create:
            raise
        return IOPointer(io_pointer_id, value=io_pointer_val if io_pointer_val is not None else "")
    ptr = IOPointer.from_api(answer)
    if io_pointer_val is not None:
        ptr = IOPointer(ptr.name, value=io_pointer_val, pointer_type=ptr.pointer_type, flag=ptr.flag)
    return ptr


def trace(output_id: str, max_depth: Optional[int] = None, limit: Optional[int] = None,
          as_of: TimeLike = None) -> Dict[str, Any]:
    """The API's trace of an output (``output``, ``root``, ``nodes`` with
    ``depth`` and a run summary, ``edges``, ``truncated``), as JSON."""
    return _http.get("/api/v1/trace", {"output": output_id, "max_depth": max_depth,
                                       "limit": limit, "as_of": _as_of(as_of)})


def backtrace(output_pointer: str, as_of: TimeLike = None) -> List[Tuple[int, ComponentRun]]:
    """``[(depth, ComponentRun), ...]``: the runs that produced the output, the
    producer at depth 0, each run once (pre-order). A source gives ``[]``;
    an unknown name raises ``NotFoundError`` (``RuntimeError``)."""
    if not isinstance(output_pointer, str):
        raise RuntimeError("Please specify an output id of string type.")
    answer = trace(output_pointer, as_of=as_of)
    return [(int(n["depth"]), ComponentRun.from_api(n["run"])) for n in answer.get("nodes") or []]


def web_trace(output_id: str) -> List[Dict[str, Any]]:
    """The trace as mltrace 0.17's UI tree (``id``, ``label``, ``childNodes``...)."""
    answer = trace(output_id)
    nodes = {n["run"]["id"]: n["run"] for n in answer.get("nodes") or []}
    deps: Dict[int, List[int]] = {}
    for e in answer.get("edges") or []:
        deps.setdefault(e["from"], [])
        if e["to"] not in deps[e["from"]]:
            deps[e["from"]].append(e["to"])
    icons = {"data": "database", "model": "function", "endpoint": "flow-end"}

    def build(run_id: int) -> Dict[str, Any]:
        run = nodes[run_id]
        res: Dict[str, Any] = {"id": f"componentrun_{run_id}", "label": run["component"],
                               "hasCaret": True, "isExpanded": True, "stale": run.get("stale") or [],
                               "childNodes": []}
        for out in sorted(run.get("outputs") or [], key=lambda o: o if isinstance(o, str) else o["name"]):
            name = out if isinstance(out, str) else out["name"]
            kind = infer_pointer_type(name).api_name if isinstance(out, str) else out.get("type")
            child = {"id": f"iopointer_{name}", "label": name, "hasCaret": False, "parent": res["id"]}
            if kind in icons:
                child["icon"] = icons[kind]
            res["childNodes"].append(child)
        for dep in sorted(deps.get(run_id, [])):
            if dep in nodes:
                res["childNodes"].append(build(dep))
        return res

    root = answer.get("root")
    return [build(root)] if root is not None else []


def downstream(output_id: str, max_depth: Optional[int] = None, limit: Optional[int] = None,
               as_of: TimeLike = None) -> Dict[str, Any]:
    """The API's downstream (impact) answer for an output, as JSON: the runs
    that transitively depended on it (``runs`` with ``depth``), the ``outputs``
    they wrote, ``producers``, ``edges``, ``truncated``."""
    return _http.get("/api/v1/downstream", {"output": output_id, "max_depth": max_depth,
                                            "limit": limit, "as_of": _as_of(as_of)})


def outdated(as_of: TimeLike = None) -> List[Dict[str, Any]]:
    """Components whose latest run used superseded inputs: the API's list of
    ``{"name", "latest_run", "reasons"}``."""
    answer = _http.get("/api/v1/outdated", {"as_of": _as_of(as_of)})
    return list((answer or {}).get("components") or [])


def get_flags(as_of: TimeLike = None) -> List[Dict[str, Any]]:
    """The flagged outputs: ``[{"name", "reason", "by", "at"}]``."""
    answer = _http.get("/api/v1/flags", {"as_of": _as_of(as_of)})
    return list((answer or {}).get("flags") or [])


def review_flagged_outputs(limit: int = 1000, as_of: TimeLike = None
                           ) -> Tuple[List[str], List[Tuple[ComponentRun, int]]]:
    """``(flagged_output_names, [(ComponentRun, count), ...])``: the runs common
    to the flagged outputs' traces, most common first (then newest id)."""
    answer = _http.get("/api/v1/review", {"limit": limit, "as_of": _as_of(as_of)})
    flagged = [f["name"] if isinstance(f, dict) else str(f) for f in answer.get("flagged") or []]
    runs = [(ComponentRun.from_api(r["run"]), int(r["count"])) for r in answer.get("runs") or []]
    return flagged, runs
