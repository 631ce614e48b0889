"""``Component``: a pipeline stage, its metadata and tests, and the ``run``
decorator that logs every call of the function it decorates."""

import functools
import inspect
import json
import logging
import threading
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from . import _artifacts, _capture, _git, _times
from .entities import ComponentRun, IOPointer, PointerTypeEnum, Test, TestResult

logger = logging.getLogger("mltrace")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STALENESS_THRESHOLD = 60 * 60 * 24 * 30
MAX_CODE_SNAPSHOT = 1 << 20  # characters

_registered: Dict[str, Tuple[str, str, Tuple[str, ...]]] = {}
_registered_lock = threading.Lock()


def clear_registration_cache() -> None:
    """Forgets which components this process has registered (they are checked
    against the server again on their next run)."""
    with _registered_lock:
        _registered.clear()


def _is_str_list(x: Any) -> bool:
    return isinstance(x, (list, tuple, set)) and any(isinstance(i, str) for i in x)


def _test_instance(t: Any) -> Test:
    if isinstance(t, type):
        return t()
    return t


class Component:
    """A pipeline stage: ``name``, ``owner``, ``description``, ``tags``, and
    ``beforeTests`` / ``afterTests`` (``Test`` subclasses or instances).

    Subclass it as in mltrace 0.17, or use it directly::

        c = Component("cleaning", owner="plumber", description="Cleans raw data")

        @c.run(input_vars=["raw_path"], output_vars=["clean_path"])
        def clean(raw_path): ...

    Positional arguments after ``description`` are accepted both in mltrace
    0.17's order (``beforeTests, afterTests, tags``) and in the contract's
    (``tags, beforeTests, afterTests``): a list of strings is the tags.
    """

    def __init__(
        self,
        name: str = "",
        owner: str = "",
        description: str = "",
        beforeTests: Optional[Sequence[Any]] = None,
        afterTests: Optional[Sequence[Any]] = None,
        tags: Optional[Sequence[str]] = None,
        **extra: Any,
    ) -> None:
        if extra:
            raise TypeError(f"Component() got unexpected arguments: {', '.join(sorted(extra))}")
        if _is_str_list(beforeTests) and not _is_str_list(tags):
            # contract order: (name, owner, description, tags, beforeTests, afterTests)
            beforeTests, afterTests, tags = afterTests, (tags or None), beforeTests
        self._name = name
        self._owner = owner or ""
        self._description = description or ""
        self._tags = [str(t) for t in (tags or [])]
        self._beforeTests = list(beforeTests or [])
        self._afterTests = list(afterTests or [])
        self.run_count: Optional[int] = None
        """Number of runs (components read from the server)."""
        self.latest_run: Optional[ComponentRun] = None
        """The latest run (components read from the server)."""
        self.outdated: Optional[bool] = None
        """Whether the latest run used superseded inputs (read from the server)."""

    # ----- attributes -----

    @property
    def name(self) -> str:
        return self._name

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def description(self) -> str:
        return self._description

    @property
    def tags(self) -> List[str]:
        return self._tags

    @property
    def beforeTests(self) -> list:
        return self._beforeTests

    @property
    def afterTests(self) -> list:
        return self._afterTests

    def to_dictionary(self) -> Dict[str, Any]:
        return {"name": self._name, "owner": self._owner, "description": self._description,
                "tags": list(self._tags)}

    @classmethod
    def from_dictionary(cls, d: Dict[str, Any]) -> "Component":
        return cls(name=d.get("name", ""), owner=d.get("owner") or "",
                   description=d.get("description") or "", tags=list(d.get("tags") or []))

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "Component":
        """Builds a component from the server's JSON."""
        c = cls.from_dictionary(d)
        c.run_count = d.get("run_count")
        latest = d.get("latest_run")
        c.latest_run = ComponentRun.from_api(latest) if latest else None
        c.outdated = d.get("outdated")
        return c

    def __iter__(self):
        return iter(self.to_dictionary().items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Component):
            return NotImplemented
        return self.to_dictionary() == other.to_dictionary()

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return json.dumps(self.to_dictionary(), ensure_ascii=False)

    # ----- tests -----

    def _run_tests(self, tests: Sequence[Any], phase: str, values: Dict[str, Any],
                   stop_at_failure: bool) -> List[Tuple[TestResult, Optional[BaseException]]]:
        out: List[Tuple[TestResult, Optional[BaseException]]] = []
        for t in tests:
            for result, exc in _test_instance(t).run_all(phase=phase, **values):
                out.append((result, exc))
                if exc is not None and stop_at_failure:
                    return out
        return out

    def beforeRun(self, **kwargs: Any) -> None:
        """Runs the before-tests with the call's arguments; raises the first
        failure (mltrace 0.17). Override to run something else before each run."""
        for _result, exc in self._run_tests(self._beforeTests, "before", kwargs, True):
            if exc is not None:
                raise exc

    def afterRun(self, **local_vars: Any) -> None:
        """Runs the after-tests with the function's locals; raises the first
        failure. Override to run something else after each run."""
        for _result, exc in self._run_tests(self._afterTests, "after", local_vars, False):
            if exc is not None:
                raise exc

    # ----- registration -----

    def _ensure_registered(self) -> None:
        """Registers the component's metadata once per process, and only when
        the server's copy differs (so repeated runs add no events)."""
        if not (self._owner or self._description or self._tags):
            return  # the run creates the component with empty metadata
        key = (self._description, self._owner, tuple(sorted(set(self._tags))))
        with _registered_lock:
            if _registered.get(self._name) == key:
                return
        from . import client
        from .errors import NotFoundError

        try:
            current = client._get_component_json(self._name)
        except NotFoundError:
            current = None
        if (current is None or current.get("description", "") != self._description
                or current.get("owner", "") != self._owner
                or not set(self._tags) <= set(current.get("tags") or [])):
            client.create_component(self._name, self._description, self._owner, self._tags)
        with _registered_lock:
            _registered[self._name] = key

    # ----- the decorator -----

    def run(
        self,
        inputs: Union[Sequence[str], Callable[..., Any]] = (),
        outputs: Sequence[str] = (),
        input_vars: Sequence[str] = (),
        output_vars: Sequence[str] = (),
        input_kwargs: Optional[Dict[str, str]] = None,
        output_kwargs: Optional[Dict[str, str]] = None,
        endpoint: bool = False,
        staleness_threshold: int = DEFAULT_STALENESS_THRESHOLD,
        auto_log: bool = False,
        *user_args: Any,
        **user_kwargs: Any,
    ) -> Any:
        """Decorator: every call of the function is logged as a run of this
        component.

        - ``inputs`` / ``outputs``: fixed I/O names.
        - ``input_vars`` / ``output_vars``: names of the function's local
          variables whose values (at return) are I/O names; a list value adds
          every element, ``None`` is skipped, a missing variable is a
          ``ValueError``.
        - ``input_kwargs`` / ``output_kwargs``: ``{name_var: value_var}``: the
          local ``name_var`` holds the I/O name, ``value_var`` the value whose
          content hash is logged with it (lists pair up element by element).
        - ``endpoint``: outputs are endpoints.
        - ``staleness_threshold``: seconds (default 30 days).
        - ``auto_log``: save and log data/model-like arguments and locals
          (see the README).
        - ``skip_before=True`` / ``skip_after=True``: do not run the tests.
        - any other ``test_param="variable"``: fill the tests' parameter
          ``test_param`` from the function's ``variable``.

        Works with and without parentheses (``@c.run`` / ``@c.run(...)``).
        """
        if callable(inputs) and not isinstance(inputs, (list, tuple, str)):
            func = inputs
            return self.run()(func)
        if isinstance(inputs, str):
            inputs = [inputs]
        if isinstance(outputs, str):
            outputs = [outputs]
        if isinstance(input_vars, str):
            input_vars = [input_vars]
        if isinstance(output_vars, str):
            output_vars = [output_vars]
        options = _RunOptions(
            inputs=list(inputs), outputs=list(outputs),
            input_vars=list(input_vars), output_vars=list(output_vars),
            input_kwargs=dict(input_kwargs or {}), output_kwargs=dict(output_kwargs or {}),
            endpoint=bool(endpoint), staleness_threshold=staleness_threshold,
            auto_log=bool(auto_log),
            skip_before=bool(user_kwargs.pop("skip_before", False)),
            skip_after=bool(user_kwargs.pop("skip_after", False)),
            renames={k: v for k, v in user_kwargs.items() if isinstance(v, str)},
        )

        def decorator(func: F) -> F:
            return _decorate(self, func, options)

        return decorator


class _RunOptions:
    def __init__(self, **kw: Any) -> None:
        self.inputs: List[str] = kw["inputs"]
        self.outputs: List[str] = kw["outputs"]
        self.input_vars: List[str] = kw["input_vars"]
        self.output_vars: List[str] = kw["output_vars"]
        self.input_kwargs: Dict[str, str] = kw["input_kwargs"]
        self.output_kwargs: Dict[str, str] = kw["output_kwargs"]
        self.endpoint: bool = kw["endpoint"]
        self.staleness_threshold: int = kw["staleness_threshold"]
        self.auto_log: bool = kw["auto_log"]
        self.skip_before: bool = kw["skip_before"]
        self.skip_after: bool = kw["skip_after"]
        self.renames: Dict[str, str] = kw["renames"]


def _call_arguments(sig: Optional[inspect.Signature], args: Tuple[Any, ...],
                    kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's arguments by parameter name, defaults included, ``**kwargs``
    flattened in."""
    if sig is None:
        return dict(kwargs)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    values: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            extra.update(value)
        else:
            values[name] = value
    for k, v in extra.items():
        values.setdefault(k, v)
    return values


def _renamed(values: Dict[str, Any], renames: Dict[str, str]) -> Dict[str, Any]:
    """Adds ``test_param -> values[variable]`` for each rename."""
    if not renames:
        return values
    out = dict(values)
    for test_param, variable in renames.items():
        if variable in values:
            out[test_param] = values[variable]
    return out


class MissingVariableError(ValueError, RuntimeError):
    """A variable named in ``input_vars``/``output_vars``/``*_kwargs`` is not a
    local of the function. A ``ValueError`` as the contract says, and a
    ``RuntimeError`` as mltrace 0.17 raised (its test suites catch that)."""


def _names_from_var(var: str, local_vars: Dict[str, Any]) -> List[str]:
    if var not in local_vars:
        raise MissingVariableError(f"Variable {var} not in current stack frame.")
    val = local_vars[var]
    if val is None:
        logger.debug("mltrace: variable %s is None; skipped", var)
        return []
    if isinstance(val, (set, frozenset)):
        # A set's order follows string hashing, which changes from one process to
        # the next (0.17 logged it as it came); sorted, the run is the same every time.
        values = sorted(val, key=str)
    else:
        values = list(val) if isinstance(val, (list, tuple)) else [val]
    names = [str(v) for v in values if v is not None]
    if "" in names:
        # mltrace 0.17 logged the run and went on (e.g. a parameter defaulting to "").
        logger.debug("mltrace: variable %s holds an empty string; skipped", var)
        names = [n for n in names if n]
    return names


def _pointers_from_kwargs(mapping: Dict[str, str], local_vars: Dict[str, Any]) -> List[IOPointer]:
    out: List[IOPointer] = []
    for key, val in mapping.items():
        if key not in local_vars or val not in local_vars:
            raise MissingVariableError(f"Variables ({key}, {val}) not in current stack frame.")
        names = local_vars[key]
        if names is None or names == "":
            logger.debug("mltrace: variable %s is %r; skipped", key, names)
            continue
        values = local_vars[val]
        if isinstance(names, (list, tuple)):
            if not isinstance(values, (list, tuple)) or len(names) != len(values):
                raise ValueError(f'Value "{val}" does not have the same length as the key "{key}."')
            for n, v in zip(names, values):
                if n is None or str(n) == "":
                    logger.debug("mltrace: an entry of %s is %r; skipped", key, n)
                    continue
                out.append(IOPointer(str(n), hash=_artifacts.content_hash(v)))
        else:
            out.append(IOPointer(str(names), hash=_artifacts.content_hash(values)))
    return out


def _source_of(func: Callable[..., Any]) -> Optional[str]:
    try:
        src = inspect.getsource(inspect.unwrap(func))
    except (OSError, TypeError):
        return None
    if len(src) > MAX_CODE_SNAPSHOT:
        src = src[:MAX_CODE_SNAPSHOT] + "\n# ... (truncated by mltrace)\n"
    return src


def _decorate(component: Component, func: F, opt: _RunOptions) -> F:
    try:
        sig: Optional[inspect.Signature] = inspect.signature(func)
    except (TypeError, ValueError):
        sig = None
    param_names = set(sig.parameters) if sig is not None else set()
    source: List[Optional[str]] = []
    target_code = _capture._target_code(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from . import client

        start = _times.now()
        # Binding the arguments costs more than the rest of a plain call: only when
        # before-tests or auto_log read them (a bad call then fails in the function).
        needs_args = opt.auto_log or (not opt.skip_before and bool(
            component.beforeTests or type(component).beforeRun is not Component.beforeRun))
        call_values: Dict[str, Any] = {}
        if needs_args:
            try:
                call_values = _call_arguments(sig, args, kwargs)
            except TypeError:
                return func(*args, **kwargs)  # let Python report the bad call

        # Before-tests: a failure stops here; nothing is logged.
        results: List[TestResult] = []
        if not opt.skip_before:
            before_values = _renamed(call_values, opt.renames)
            if type(component).beforeRun is Component.beforeRun:
                for result, exc in component._run_tests(component.beforeTests, "before",
                                                        before_values, True):
                    if exc is not None:
                        raise exc
                    results.append(result)
            else:
                component.beforeRun(**before_values)

        # auto_log inputs are hashed (and saved) before the function can mutate them.
        input_ptrs: List[IOPointer] = []
        if opt.auto_log:
            for name, value in call_values.items():
                if _artifacts.wants_auto_log(name, value):
                    saved = _artifacts.auto_log_pointer(name, value, component.name, output=False)
                    if saved:
                        input_ptrs.append(IOPointer(saved[0], hash=saved[1]))

        ctx = _artifacts.RunContext(component.name)
        _artifacts.push_context(ctx)
        try:
            local_vars, value = _capture.call_capturing_locals(func, args, kwargs, target_code)
        finally:
            _artifacts.pop_context(ctx)
        end = _times.now()

        cr = ComponentRun(component.name)
        cr.set_start_timestamp(start)
        cr.set_end_timestamp(end)
        out_type = PointerTypeEnum.ENDPOINT if opt.endpoint else None

        for name in opt.inputs:
            cr.add_input(name)
        for var in opt.input_vars:
            for name in _names_from_var(var, local_vars):
                cr.add_input(name)
        for ptr in _pointers_from_kwargs(opt.input_kwargs, local_vars):
            cr.add_input(ptr)
        for path, h in ctx.loaded:
            cr.add_input(IOPointer(path, hash=h))
        for ptr in input_ptrs:
            cr.add_input(ptr)

        for name in opt.outputs:
            cr.add_output(name, out_type)
        for var in opt.output_vars:
            for name in _names_from_var(var, local_vars):
                cr.add_output(name, out_type)
        for ptr in _pointers_from_kwargs(opt.output_kwargs, local_vars):
            cr.add_output(ptr, out_type)
        for path, h in ctx.saved:
            cr.add_output(IOPointer(path, hash=h))
        if opt.auto_log:
            seen_ids = set()
            for name, val in local_vars.items():
                if name in param_names or name in call_values:
                    continue
                if _artifacts.wants_auto_log(name, val):
                    seen_ids.add(id(val))
                    saved = _artifacts.auto_log_pointer(name, val, component.name, output=True)
                    if saved:
                        cr.add_output(IOPointer(saved[0], hash=saved[1]))
            returned = list(enumerate(value)) if isinstance(value, tuple) else [(None, value)]
            for i, val in returned:
                if id(val) in seen_ids or any(val is v for v in call_values.values()):
                    continue
                name = "return" if i is None else f"return_{i}"
                if _artifacts.wants_auto_log(name, val):
                    saved = _artifacts.auto_log_pointer(name, val, component.name, output=True)
                    if saved:
                        cr.add_output(IOPointer(saved[0], hash=saved[1]))

        # After-tests run before logging; their results are logged, then raised.
        failures: List[BaseException] = []
        if not opt.skip_after:
            if not local_vars and not call_values:  # no Python frame: the arguments instead
                call_values = _call_arguments(sig, args, kwargs)
            after_values = _renamed(local_vars if local_vars else call_values, opt.renames)
            if type(component).afterRun is Component.afterRun:
                for result, exc in component._run_tests(component.afterTests, "after",
                                                        after_values, False):
                    results.append(result)
                    if exc is not None:
                        failures.append(exc)
            else:
                try:
                    component.afterRun(**after_values)
                except Exception as e:
                    failures.append(e)
                    results.append(TestResult(name=f"{type(component).__name__}.afterRun",
                                              phase="after", passed=False,
                                              message=f"{type(e).__name__}: {e}"))
        for r in results:
            cr.add_test_result(r.name, r.phase, r.passed, r.message)

        cr.git_hash, cr.git_tags = _git.capture()
        if not source:
            source.append(_source_of(func))  # once: the code does not change under a process
        cr.code_snapshot = source[0]

        component._ensure_registered()
        client.log_component_run(cr, set_dependencies_from_inputs=True,
                                 staleness_threshold=opt.staleness_threshold)
        if failures:
            raise failures[0]
        return value

    wrapper.__mltrace_component__ = component  # type: ignore[attr-defined]
    return typing.cast(F, wrapper)
