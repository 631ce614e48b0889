"""Exceptions raised by the mltrace client.

``ServerError`` derives from ``RuntimeError`` because mltrace 0.17 raised
``RuntimeError`` for "not found" answers (unknown component, unknown run, unknown
output), so existing ``except RuntimeError`` blocks keep working.
``ConnectionError`` derives from the built-in ``ConnectionError``.
"""

import builtins
from typing import Optional

__all__ = ["MltraceError", "ServerError", "NotFoundError", "ConnectionError", "BatchError"]


class MltraceError(Exception):
    """Base class of every error raised by the mltrace client."""


class ServerError(MltraceError, RuntimeError):
    """The server (or the embedded store) answered a request with an error
    (HTTP 4xx or 5xx).

    Attributes: ``status`` (HTTP status), ``code`` (e.g. ``invalid_argument``,
    ``not_found``), ``message`` (the server's message), ``field`` (the request
    field at fault, if any), ``server`` (the server's URL), ``method`` and
    ``path`` (the request). ``server`` is ``file:///path`` or ``test`` for
    an embedded store.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        server: str,
        method: str = "",
        path: str = "",
        field: Optional[str] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.server = server
        self.method = method
        self.path = path
        text = f"{message} ({code}, HTTP {status}"
        if field:
            text += f", field {field}"
        text += f", from {describe(server)}: {method} {path})"
        super().__init__(text)


def describe(server: str) -> str:
    """How a message names where a request went: a server's URL, or the store
    embedded in this process (``file:///path`` or ``test``)."""
    if server == "test":
        return "the throwaway store of set_db_uri('test')"
    if server.startswith("file:"):
        return f"the embedded store at {server}"
    return f"the mltrace server at {server}"


class NotFoundError(ServerError):
    """The server answered 404: the run, component or output does not exist."""


class ConnectionError(MltraceError, builtins.ConnectionError):  # noqa: A001
    """The mltrace server could not be reached, even after retries, or the
    embedded store could not be opened (e.g. another process writes its data
    directory: the message names that process).

    ``server`` is the URL that was tried (``file:///path`` or ``test`` for an
    embedded store).
    """

    def __init__(self, message: str, server: str) -> None:
        self.server = server
        super().__init__(message)


class BatchError(MltraceError):
    """Runs queued in batching mode were refused (``mltrace.flush()`` raises it).

    ``failures`` is a list of ``(ComponentRun, exception)``.
    """

    def __init__(self, failures) -> None:
        self.failures = list(failures)
        first = self.failures[0][1] if self.failures else None
        super().__init__(f"{len(self.failures)} queued run(s) were not logged; the first: {first}")
