"""Client-side entities: ``IOPointer``, ``ComponentRun``, ``Test`` (and
``Component``, re-exported from :mod:`mltrace.component`).

Attribute names are those of mltrace 0.17, so code that reads
``run.component_name``, ``run.start_timestamp``, ``run.inputs[0].name`` ... keeps
working. Times are timezone-aware UTC ``datetime`` objects.
"""

import enum
import inspect
import json
import logging
import traceback
from datetime import datetime
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _times

logger = logging.getLogger("mltrace")

__all__ = [
    "PointerTypeEnum",
    "IOPointer",
    "ComponentRun",
    "Test",
    "TestResult",
    "infer_pointer_type",
]


class PointerTypeEnum(str, enum.Enum):
    """Kind of an I/O pointer (the values of mltrace 0.17)."""

    DATA = "DATA"
    MODEL = "MODEL"
    ENDPOINT = "ENDPOINT"
    UNKNOWN = "UNKNOWN"

    @property
    def api_name(self) -> str:
        """The name the HTTP API uses (``data``, ``model``, ``endpoint``, ``unknown``)."""
        return self.value.lower()

    @classmethod
    def from_api(cls, value: Optional[str]) -> "PointerTypeEnum":
        """Maps the API's lower-case type to the enum (unknown values: ``UNKNOWN``)."""
        try:
            return cls((value or "unknown").upper())
        except ValueError:
            return cls.UNKNOWN


_DATA_EXT = {"csv", "pq", "parquet", "txt", "md", "rtf", "tsv", "xml", "pdf", "json", "jsonl", "mlt"}
_MODEL_EXT = {"h5", "hdf5", "joblib", "pkl", "pickle", "ckpt", "mlmodel", "pt", "onnx", "safetensors"}


def infer_pointer_type(name: str) -> PointerTypeEnum:
    """The type the server infers from a name (the contract's rules)."""
    lower = name.lower()
    if "data" in lower:
        return PointerTypeEnum.DATA
    if "model" in lower:
        return PointerTypeEnum.MODEL
    ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
    if ext in _DATA_EXT:
        return PointerTypeEnum.DATA
    if ext in _MODEL_EXT:
        return PointerTypeEnum.MODEL
    return PointerTypeEnum.UNKNOWN


def _coerce_type(t: Union[None, str, PointerTypeEnum]) -> Optional[PointerTypeEnum]:
    if t is None:
        return None
    if isinstance(t, PointerTypeEnum):
        return t
    if isinstance(t, str):
        return PointerTypeEnum.from_api(t)
    raise TypeError(f"pointer_type must be a PointerTypeEnum or a string, not {type(t).__name__}")


class IOPointer:
    """An input or output of a run, identified by its ``name`` (a path, URI,
    table name, id).

    ``hash`` is an optional content hash (``sha256:...``); passing a ``value``
    computes it. ``pointer_type`` is inferred from the name unless given.
    Supports ``pointer["name"]`` style access too, because some mltrace 0.17
    functions returned pointers as dictionaries.
    """

    _KEYS = ("name", "value", "pointer_type", "flag", "hash")

    def __init__(
        self,
        name: str,
        value: Any = "",
        pointer_type: Union[None, str, PointerTypeEnum] = None,
        flag: bool = False,
        hash: Optional[str] = None,
        producer: Optional[int] = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"an I/O name must be a string, not {type(name).__name__}")
        self._name = name
        self._type = _coerce_type(pointer_type)
        self._flag = bool(flag)
        self._producer = producer
        if hash is None and not (isinstance(value, str) and value == "") and value is not None:
            from ._artifacts import content_hash

            hash = content_hash(value)
        self._hash = hash
        self._value = value if value is not None else ""

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> Any:
        """The value given when the pointer was made (for pointers read from the
        server: the content hash, or ``""``)."""
        return self._value

    @property
    def pointer_type(self) -> PointerTypeEnum:
        return self._type if self._type is not None else infer_pointer_type(self._name)

    @property
    def explicit_type(self) -> bool:
        """True when the type was given rather than inferred."""
        return self._type is not None

    @property
    def flag(self) -> bool:
        return self._flag

    @property
    def hash(self) -> Optional[str]:
        return self._hash

    @property
    def producer(self) -> Optional[int]:
        """For an input of a run read from the server: the id of the run that
        produced it (``None`` for a source)."""
        return self._producer

    def to_api(self) -> Dict[str, Any]:
        """The I/O entry sent to the server."""
        d: Dict[str, Any] = {"name": self._name}
        if self._hash:
            d["hash"] = self._hash
        if self._type is not None:
            d["type"] = self._type.api_name
        return d

    @classmethod
    def from_api(cls, d: Union[str, Dict[str, Any]]) -> "IOPointer":
        """Builds a pointer from the server's JSON (an object or a bare name)."""
        if isinstance(d, str):
            return cls(d)
        h = d.get("hash")
        t = d.get("type")
        return cls(
            d["name"],
            value=h or "",
            pointer_type=PointerTypeEnum.from_api(t) if t else None,
            flag=bool(d.get("flagged", d.get("flag", False))),
            hash=h,
            producer=d.get("producer"),
        )

    def to_dictionary(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self._KEYS}

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return iter(self.to_dictionary().items())

    def __getitem__(self, key: str) -> Any:
        if key in self._KEYS or key == "producer":
            return getattr(self, key)
        raise KeyError(key)

    def keys(self) -> Tuple[str, ...]:
        return self._KEYS

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IOPointer):
            return NotImplemented
        return (self._name, self._hash) == (other._name, other._hash)

    def __hash__(self) -> int:
        return hash((self._name, self._hash))

    def __repr__(self) -> str:
        return json.dumps(
            {"name": self._name, "pointer_type": self.pointer_type.value,
             "flag": self._flag, "hash": self._hash},
            ensure_ascii=False,
        )


IOLike = Union[str, IOPointer]


class TestResult(dict):
    """One test result: ``name``, ``phase`` (``before``/``after``), ``passed``,
    ``message`` (a dict, as the API sends it)."""

    @property
    def name(self) -> str:
        return self["name"]

    @property
    def phase(self) -> str:
        return self.get("phase", "")

    @property
    def passed(self) -> bool:
        return bool(self.get("passed"))

    @property
    def message(self) -> Optional[str]:
        return self.get("message")


def _sorted_set(items: Any) -> List[Any]:
    return sorted(items, key=lambda i: i.name if isinstance(i, IOPointer) else str(i))


class ComponentRun:
    """One execution of a component.

    Build one yourself (``ComponentRun("cleaning")``, then ``set_start_timestamp``,
    ``add_input`` ..., ``log_component_run``) or get them from the query
    functions. ``dependencies`` holds component names given with
    ``set_upstream`` until the run is logged, and the ids of the runs it
    depends on once logged or read from the server.
    """

    _PROPERTIES = (
        "component_name", "notes", "start_timestamp", "end_timestamp", "inputs",
        "outputs", "git_hash", "git_tags", "code_snapshot", "id", "stale",
        "dependencies", "tests",
    )

    def __init__(
        self,
        component_name: str,
        notes: str = "",
        start_timestamp: Optional[datetime] = None,
        end_timestamp: Optional[datetime] = None,
        inputs: Sequence[IOLike] = (),
        outputs: Sequence[IOLike] = (),
        git_hash: Optional[str] = None,
        git_tags: Optional[List[str]] = None,
        code_snapshot: Union[None, str, bytes] = None,
        id: Optional[int] = None,
        stale: Optional[List[str]] = None,
        dependencies: Optional[List[Any]] = None,
        tests: Optional[List[Dict[str, Any]]] = None,
    ) -> None:
        if not isinstance(component_name, str):
            raise TypeError("component_name must be a string")
        self._component_name = component_name
        self._notes = notes if notes is not None else ""
        self._start_timestamp = _times.to_utc(start_timestamp) if start_timestamp else None
        self._end_timestamp = _times.to_utc(end_timestamp) if end_timestamp else None
        self._inputs: List[IOPointer] = []
        self._outputs: List[IOPointer] = []
        self.add_inputs(list(inputs))
        self.add_outputs(list(outputs))
        self._git_hash = git_hash
        self._git_tags = list(git_tags) if git_tags is not None else None
        if isinstance(code_snapshot, (bytes, bytearray)):
            code_snapshot = bytes(code_snapshot).decode("utf-8", "replace")
        self._code_snapshot = code_snapshot
        self._id = id
        self._stale = list(stale) if stale else []
        self._dependencies = list(dependencies) if dependencies else []
        self._upstream: List[str] = [d for d in self._dependencies if isinstance(d, str)]
        self._tests = [TestResult(t) for t in tests] if tests else []
        self.seq: Optional[int] = None
        """Log position of the run event (runs read from the server)."""
        self.duration_ms: Optional[int] = None
        """Duration in milliseconds (runs read from the server)."""
        self.owner: Optional[str] = None
        """The component's owner (full runs read from the server)."""
        self.description: Optional[str] = None
        """The component's description (full runs read from the server)."""
        self.component_tags: Optional[List[str]] = None
        """The component's tags (full runs read from the server)."""

    # ----- attributes of mltrace 0.17 -----

    @property
    def component_name(self) -> str:
        return self._component_name

    @property
    def notes(self) -> str:
        return self._notes

    @notes.setter
    def notes(self, notes: str) -> None:
        if not isinstance(notes, str):
            raise TypeError("notes field must be of type str")
        self._notes = notes

    @property
    def inputs(self) -> List[IOPointer]:
        return self._inputs

    @inputs.setter
    def inputs(self, inputs: Sequence[IOLike]) -> None:
        self._inputs = []
        self.add_inputs(list(inputs))

    @property
    def outputs(self) -> List[IOPointer]:
        return self._outputs

    @outputs.setter
    def outputs(self, outputs: Sequence[IOLike]) -> None:
        self._outputs = []
        self.add_outputs(list(outputs))

    @property
    def git_hash(self) -> Optional[str]:
        return self._git_hash

    @git_hash.setter
    def git_hash(self, new_hash: Optional[str]) -> None:
        self._git_hash = new_hash

    @property
    def git_tags(self) -> Optional[List[str]]:
        return self._git_tags

    @git_tags.setter
    def git_tags(self, new_tags: Optional[List[str]]) -> None:
        self._git_tags = list(new_tags) if new_tags is not None else None

    @property
    def code_snapshot(self) -> Optional[str]:
        return self._code_snapshot

    @code_snapshot.setter
    def code_snapshot(self, new_snapshot: Union[None, str, bytes]) -> None:
        if isinstance(new_snapshot, (bytes, bytearray)):
            new_snapshot = bytes(new_snapshot).decode("utf-8", "replace")
        self._code_snapshot = new_snapshot

    @property
    def start_timestamp(self) -> Optional[datetime]:
        return self._start_timestamp

    @property
    def end_timestamp(self) -> Optional[datetime]:
        return self._end_timestamp

    @property
    def dependencies(self) -> List[Any]:
        return self._dependencies

    @property
    def id(self) -> Optional[int]:
        return self._id

    @property
    def stale(self) -> List[str]:
        return self._stale

    @property
    def tests(self) -> List[TestResult]:
        """Results of the before/after tests logged with the run."""
        return self._tests

    @property
    def upstream(self) -> List[str]:
        """Component names given with ``set_upstream``."""
        return list(self._upstream)

    # ----- setters of mltrace 0.17 -----

    def set_start_timestamp(self, ts: Optional[datetime] = None) -> None:
        """Sets the start time (now when ``ts`` is omitted). A naive datetime is
        taken as UTC."""
        if ts is None:
            ts = _times.now()
        if not isinstance(ts, datetime):
            raise TypeError("Timestamp must be of type datetime.")
        self._start_timestamp = _times.to_utc(ts)

    def set_end_timestamp(self, ts: Optional[datetime] = None) -> None:
        """Sets the end time (now when ``ts`` is omitted). A naive datetime is
        taken as UTC."""
        if ts is None:
            ts = _times.now()
        if not isinstance(ts, datetime):
            raise TypeError("Timestamp must be of type datetime.")
        self._end_timestamp = _times.to_utc(ts)

    def _add_io(self, item: IOLike, is_input: bool,
                pointer_type: Union[None, str, PointerTypeEnum] = None) -> None:
        if isinstance(item, IOPointer):
            ptr = item
            if pointer_type is not None:
                ptr = IOPointer(item.name, pointer_type=pointer_type, flag=item.flag, hash=item.hash)
        elif isinstance(item, str):
            ptr = IOPointer(item, pointer_type=pointer_type)
        else:
            raise TypeError(
                f"an input or output must be a name (str) or an IOPointer, not {type(item).__name__}"
            )
        target = self._inputs if is_input else self._outputs
        for i, existing in enumerate(target):
            if existing.name == ptr.name:
                # Same name twice: keep the first position, upgrade with a hash or type.
                if (ptr.hash and not existing.hash) or (ptr.explicit_type and not existing.explicit_type):
                    target[i] = IOPointer(
                        ptr.name,
                        pointer_type=ptr._type or existing._type,
                        flag=existing.flag or ptr.flag,
                        hash=ptr.hash or existing.hash,
                    )
                return
        target.append(ptr)

    def add_input(self, inp: IOLike, pointer_type: Union[None, str, PointerTypeEnum] = None) -> None:
        """Adds one input (a name or an ``IOPointer``). Duplicates are dropped,
        the order of first appearance is kept."""
        self._add_io(inp, True, pointer_type)

    def add_inputs(self, inputs: Sequence[IOLike]) -> None:
        """Adds several inputs."""
        if isinstance(inputs, (str, IOPointer)):
            inputs = [inputs]
        elif isinstance(inputs, (set, frozenset)):
            inputs = _sorted_set(inputs)  # the same order in every process
        for inp in inputs:
            self._add_io(inp, True)

    def add_output(self, out: IOLike, pointer_type: Union[None, str, PointerTypeEnum] = None) -> None:
        """Adds one output (a name or an ``IOPointer``)."""
        self._add_io(out, False, pointer_type)

    def add_outputs(self, outputs: Sequence[IOLike]) -> None:
        """Adds several outputs."""
        if isinstance(outputs, (str, IOPointer)):
            outputs = [outputs]
        elif isinstance(outputs, (set, frozenset)):
            outputs = _sorted_set(outputs)  # the same order in every process
        for out in outputs:
            self._add_io(out, False)

    def set_upstream(self, dependencies: Union[str, Sequence[str]]) -> None:
        """Declares explicit dependencies by component name (Airflow style): the
        latest run of each named component becomes a dependency when the run is
        logged."""
        names = [dependencies] if isinstance(dependencies, str) else list(dependencies)
        for name in names:
            if not isinstance(name, str):
                raise TypeError("set_upstream takes component names (strings)")
            if name not in self._upstream:
                self._upstream.append(name)
            if name not in self._dependencies:
                self._dependencies.append(name)

    def add_test_result(self, name: str, phase: str, passed: bool, message: Optional[str] = None) -> None:
        """Records a test result to log with the run."""
        self._tests.append(TestResult(name=name, phase=phase, passed=bool(passed), message=message))

    # ----- conversion -----

    def to_api(
        self,
        set_dependencies_from_inputs: bool = True,
        staleness_threshold: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """The run object sent to ``POST /api/v1/runs``."""
        if self._start_timestamp is None or self._end_timestamp is None:
            missing = " and ".join(
                w for w, v in (("start", self._start_timestamp), ("end", self._end_timestamp)) if v is None
            )
            raise RuntimeError(
                f"{self._component_name} ComponentRun has no {missing} timestamp: call "
                "set_start_timestamp() and set_end_timestamp() before logging it."
            )
        body: Dict[str, Any] = {
            "component": self._component_name,
            "start": _times.format_rfc3339(self._start_timestamp),
            "end": _times.format_rfc3339(self._end_timestamp),
            "inputs": [p.to_api() for p in self._inputs],
            "outputs": [p.to_api() for p in self._outputs],
            "dependencies_from_inputs": bool(set_dependencies_from_inputs),
        }
        if self._upstream:
            body["upstream"] = list(self._upstream)
        if staleness_threshold is not None:
            body["staleness_threshold_s"] = int(staleness_threshold)
        if self._git_hash:
            body["git_hash"] = str(self._git_hash)
        if self._git_tags:
            body["git_tags"] = [str(t) for t in self._git_tags]
        if self._code_snapshot:
            body["code_snapshot"] = self._code_snapshot
        if self._notes:
            body["notes"] = self._notes
        if self._tests:
            body["tests"] = [dict(t) for t in self._tests]
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return body

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "ComponentRun":
        """Builds a run from the server's JSON (a full run or a summary)."""
        cr = cls(
            d["component"],
            notes=d.get("notes") or "",
            start_timestamp=_times.parse_rfc3339(d.get("start")),
            end_timestamp=_times.parse_rfc3339(d.get("end")),
            inputs=[IOPointer.from_api(x) for x in d.get("inputs") or []],
            outputs=[IOPointer.from_api(x) for x in d.get("outputs") or []],
            git_hash=d.get("git_hash"),
            git_tags=d.get("git_tags") or [],
            code_snapshot=d.get("code_snapshot"),
            id=d.get("id"),
            stale=d.get("stale") or [],
            dependencies=None,
            tests=d.get("tests") or [],
        )
        cr._dependencies = list(d.get("dependencies") or [])
        cr._upstream = []
        cr.seq = d.get("seq")
        cr.duration_ms = d.get("duration_ms")
        cr.owner = d.get("owner")
        cr.description = d.get("description")
        cr.component_tags = d.get("tags")
        return cr

    def _apply_logged(self, answer: Dict[str, Any]) -> None:
        self._id = answer.get("id")
        self.seq = answer.get("seq")
        self._dependencies = list(answer.get("dependencies") or [])
        self._stale = list(answer.get("stale") or [])

    @classmethod
    def _properties(cls) -> Tuple[str, ...]:
        return cls._PROPERTIES

    def to_dictionary(self) -> Dict[str, Any]:
        """The attributes as a dictionary (inputs and outputs as ``IOPointer``)."""
        return {k: getattr(self, k) for k in self._PROPERTIES}

    @classmethod
    def from_dictionary(cls, d: Dict[str, Any]) -> "ComponentRun":
        """Builds a run from a dictionary of attributes (unknown keys ignored)."""
        kwargs = {k: v for k, v in d.items() if k in cls._PROPERTIES}
        inputs = kwargs.pop("inputs", [])
        outputs = kwargs.pop("outputs", [])
        cr = cls(**kwargs)
        for x in inputs or []:
            cr.add_input(x if isinstance(x, (str, IOPointer)) else IOPointer(
                x["name"], pointer_type=x.get("pointer_type"), flag=x.get("flag", False), hash=x.get("hash")))
        for x in outputs or []:
            cr.add_output(x if isinstance(x, (str, IOPointer)) else IOPointer(
                x["name"], pointer_type=x.get("pointer_type"), flag=x.get("flag", False), hash=x.get("hash")))
        return cr

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return iter(self.to_dictionary().items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComponentRun):
            return NotImplemented
        if self._id is not None and other._id is not None:
            return self._id == other._id
        return self is other

    def __hash__(self) -> int:
        return hash(self._id) if self._id is not None else id(self)

    def __repr__(self) -> str:
        params: Dict[str, Any] = {}
        for k, v in self.to_dictionary().items():
            if isinstance(v, datetime):
                v = v.isoformat()
            elif k in ("inputs", "outputs"):
                v = [p.name for p in v]
            elif k == "tests":
                v = [dict(t) for t in v]
            params[k] = v
        return json.dumps(params, ensure_ascii=False, default=str)


class Test:
    """A reusable check run before or after a component.

    Subclass it and define methods whose names start with ``test``; their
    parameters are filled by name (before-tests: the arguments of the decorated
    call, defaults included; after-tests: the function's local variables when it
    returns). A parameter with no value keeps its default.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, name: str = "") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def getTestMethods(self) -> List[Any]:
        """The bound methods whose names start with ``test``, in definition order."""
        seen = set()
        methods = []
        for klass in type(self).__mro__:
            for attr in vars(klass):
                if attr.startswith("test") and attr not in seen:
                    seen.add(attr)
                    member = getattr(self, attr)
                    if inspect.ismethod(member):
                        methods.append(member)
        return methods

    @staticmethod
    def _bind(method: Any, values: Dict[str, Any]) -> Dict[str, Any]:
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):
            return {}
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return dict(values)
        return {
            k: v for k, v in values.items()
            if k in params and params[k].kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }

    def run_all(self, phase: str = "", **kwargs: Any) -> List[Tuple[TestResult, Optional[BaseException]]]:
        """Runs every test method and returns ``(result, exception)`` pairs
        (exception ``None`` when the test passed). Never raises for a failing test."""
        out: List[Tuple[TestResult, Optional[BaseException]]] = []
        for method in self.getTestMethods():
            name = f"{type(self).__name__}.{method.__name__}"
            try:
                method(**self._bind(method, kwargs))
            except Exception as e:  # a test fails by raising anything
                msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                out.append((TestResult(name=name, phase=phase, passed=False, message=msg), e))
                logger.debug("mltrace: test %s failed:\n%s", name, traceback.format_exc())
            else:
                out.append((TestResult(name=name, phase=phase, passed=True, message=None), None))
        return out

    def runTests(self, **kwargs: Any) -> None:
        """Runs every test method; raises the first failure (mltrace 0.17)."""
        for method in self.getTestMethods():
            method(**self._bind(method, kwargs))


def __getattr__(name: str) -> Any:
    """``from mltrace.entities import Component, components, tests`` (mltrace 0.17
    exported these here) without a circular import."""
    if name == "Component":
        from .component import Component

        return Component
    if name in ("components", "tests"):
        import importlib

        return importlib.import_module(f"mltrace.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
