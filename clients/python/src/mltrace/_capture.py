"""Running a function while keeping its local variables at return."""

import inspect
import sys
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple


def _target_code(func: Callable[..., Any]) -> Any:
    target = inspect.unwrap(func)
    return getattr(target, "__code__", None)


def call_capturing_locals(
    func: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any], code: Any = False
) -> Tuple[Dict[str, Any], Any]:
    """Calls ``func(*args, **kwargs)`` and returns ``(locals_at_return, result)``.

    A trace function is installed only until the function's own frame starts
    (identified by its code object, so other decorators in between do not
    confuse it), then the previous tracer (a debugger, coverage) is put back, so
    the function runs at full speed. The frame is read after it returns. For a
    callable with no Python frame the locals are empty. ``code`` is the code
    object to wait for (``None``: the first frame), when the caller knows it.
    """
    if code is False:  # not given: look it up (the decorator gives it, looked up once)
        code = _target_code(func)
    holder: List[FrameType] = []
    previous = sys.gettrace()

    def tracer(frame: FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if event == "call" and not holder and (code is None or frame.f_code is code):
            holder.append(frame)
            sys.settrace(previous)
        if previous is not None:
            return previous(frame, event, arg)  # type: ignore[arg-type]
        return None

    sys.settrace(tracer)
    try:
        result = func(*args, **kwargs)
    finally:
        sys.settrace(previous)
    local_vars: Dict[str, Any] = dict(holder[0].f_locals) if holder else {}
    return local_vars, result
