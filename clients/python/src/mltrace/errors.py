"""Exceptions raised by the mltrace client.

``ServerError`` derives from ``RuntimeError`` because mltrace 0.17 raised
``RuntimeError`` for "not found" answers (unknown component, unknown run, unknown
output), so existing ``except RuntimeError`` blocks keep working.
``ConnectionError`` derives from the built-in ``ConnectionError``.
"""

import builtins
from typing import Optional

__all__ = ["MltraceError", "ServerError", "NotFoundError", "ConnectionError"]


class MltraceError(Exception):
    """Base class of every error raised by the mltrace client."""


class ServerError(MltraceError, RuntimeError):
    """The server answered a request with an error (HTTP 4xx or 5xx).

    Attributes: ``status`` (HTTP status), ``code`` (e.g. ``invalid_argument``,
    ``not_found``), ``message`` (the server's message), ``field`` (the request
    field at fault, if any), ``server`` (the server's URL), ``method`` and
    ``path`` (the request).
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
        text += f", from the mltrace server at {server}: {method} {path})"
        super().__init__(text)


class NotFoundError(ServerError):
    """The server answered 404: the run, component or output does not exist."""


class ConnectionError(MltraceError, builtins.ConnectionError):  # noqa: A001
    """The mltrace server could not be reached, even after retries.

    ``server`` is the URL that was tried.
    """

    def __init__(self, message: str, server: str) -> None:
        self.server = server
        super().__init__(message)
