"""Connection settings: where the client logs (a server, or a store embedded in
this process), the token, retries.

Resolution order when nothing was set at run time:

1. ``MLTRACE_SERVER`` (a URL, e.g. ``http://10.0.0.5:8080``);
2. ``MLTRACE_DATA_DIR`` (a data directory, opened in this process: no server);
3. ``DB_URI`` when it is an ``http://`` or ``https://`` URL, ``file:///path`` or
   ``test`` (mltrace 0.17 used a Postgres URI here; any other URI is ignored);
4. ``DB_SERVER`` (a host name or address, mltrace 0.17 style; port 8080 unless
   given as ``host:port``);
5. ``http://127.0.0.1:8080``.

``set_address`` / ``set_db_uri`` override the environment for the process.
"""

import logging
import os
import threading
import uuid
from typing import NamedTuple, Optional, Union
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger("mltrace")

DEFAULT_PORT = 8080
DEFAULT_SERVER = f"http://127.0.0.1:{DEFAULT_PORT}"



class LocalStore(NamedTuple):
    """A store embedded in this process: a data directory (``path``), or a
    throwaway one (``path`` is ``None``; ``key`` tells one ``set_db_uri("test")``
    from the next)."""

    path: Optional[str]
    fsync: Optional[str] = None
    key: str = ""

    @property
    def uri(self) -> str:
        if self.path is None:
            return "test"
        uri = "file://" + self.path
        return uri + (f"?fsync={self.fsync}" if self.fsync else "")


Target = Union[str, LocalStore]

_lock = threading.Lock()
_explicit_server: Optional[Target] = None
_explicit_token: Optional[str] = None
_retries: Optional[int] = None
_backoff: Optional[float] = None
_timeout: Optional[float] = None


def _is_http_url(value: str) -> bool:
    v = value.strip().lower()
    return v.startswith("http://") or v.startswith("https://")


def _host_to_url(host: str, port: int = DEFAULT_PORT, scheme: str = "http") -> str:
    """Turns ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` into a URL."""
    host = host.strip().rstrip("/")
    if not host:
        raise ValueError("the server address is empty")
    if host.startswith("["):  # bracketed IPv6, maybe with a port
        end = host.find("]")
        if end < 0:
            raise ValueError(f"invalid server address {host!r}")
        rest = host[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            return f"{scheme}://{host}"
        return f"{scheme}://{host[: end + 1]}:{port}"
    if host.count(":") == 1:
        name, _, p = host.partition(":")
        if p.isdigit():
            return f"{scheme}://{name}:{p}"
        raise ValueError(f"invalid server address {host!r}")
    if host.count(":") > 1:  # bare IPv6
        return f"{scheme}://[{host}]:{port}"
    return f"{scheme}://{host}:{port}"


def normalize_url(url: str) -> str:
    """Validates an http(s) URL and strips a trailing slash."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid mltrace server URL {url!r}: expected http(s)://host[:port]")
    try:
        parts.port
    except ValueError as e:
        raise ValueError(f"invalid mltrace server URL {url!r}: {e}") from None
    return url.rstrip("/")


def is_test_uri(value: str) -> bool:
    """``"test"``, any case, spaces around: mltrace 0.17's throwaway store."""
    return value.strip().lower() == "test"


def local_store(uri: str) -> LocalStore:
    """Parses ``file:///abs/path`` (or ``file:relative/path``), with an optional
    ``?fsync=always|never|interval:MS``."""
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "file":
        raise ValueError(f"{uri!r} is not a file:// URI")
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"cannot use {uri!r}: a file:// URI names a local directory (file:///path)")
    path = unquote(parts.path)
    if not path:
        raise ValueError(f"cannot use {uri!r}: it names no directory (file:///path)")
    fsync = None
    for key, values in parse_qs(parts.query).items():
        if key != "fsync":
            raise ValueError(f"cannot use {uri!r}: unknown option {key!r} (only fsync=)")
        fsync = values[-1]
    return LocalStore(os.path.abspath(os.path.expanduser(path)), fsync)


def throwaway_store() -> LocalStore:
    """A fresh private store, removed when it is closed or the process ends."""
    return LocalStore(None, os.environ.get("MLTRACE_FSYNC") or "never", uuid.uuid4().hex)


def _from_environment() -> Target:
    env = os.environ
    server = env.get("MLTRACE_SERVER", "").strip()
    if server:
        if _is_http_url(server):
            return normalize_url(server)
        return _host_to_url(server)
    data_dir = env.get("MLTRACE_DATA_DIR", "").strip()
    if data_dir:
        return LocalStore(os.path.abspath(os.path.expanduser(data_dir)))
    db_uri = env.get("DB_URI", "").strip()
    if db_uri and _is_http_url(db_uri):
        return normalize_url(db_uri)
    if db_uri and db_uri.lower().startswith("file:"):
        return local_store(db_uri)
    if db_uri and is_test_uri(db_uri):
        return _environment_test_store()
    db_server = env.get("DB_SERVER", "").strip()
    if db_server:
        if _is_http_url(db_server):
            return normalize_url(db_server)
        return _host_to_url(db_server)
    return DEFAULT_SERVER


_env_test_store: Optional[LocalStore] = None


def _environment_test_store() -> LocalStore:
    """``DB_URI=test``: one throwaway store for the process."""
    global _env_test_store
    if _env_test_store is None:
        _env_test_store = throwaway_store()
    return _env_test_store


def target() -> Target:
    """Where requests go: a server's base URL, or a :class:`LocalStore`."""
    with _lock:
        if _explicit_server is not None:
            return _explicit_server
    return _from_environment()


def server_url() -> str:
    """The base URL of the server that requests go to (the default server's
    when the client logs into an embedded store)."""
    t = target()
    return t if isinstance(t, str) else DEFAULT_SERVER


def db_uri() -> str:
    """The URL of the server, ``file:///path`` of an embedded data directory,
    or ``test``."""
    t = target()
    return t if isinstance(t, str) else t.uri


def set_server_url(url: Optional[str]) -> None:
    """Sets (or with ``None`` clears) the server URL for this process."""
    set_target(normalize_url(url) if url is not None else None)


def set_target(value: Optional[Target]) -> None:
    """Sets (or with ``None`` clears) where requests go, for this process."""
    global _explicit_server
    with _lock:
        _explicit_server = value


def set_address(address: str) -> str:
    """mltrace 0.17's ``set_address``: ``address`` is a host (the current port is
    kept, 8080 by default), ``host:port``, or a full ``http(s)://`` URL."""
    if not isinstance(address, str):
        raise TypeError("the address must be a string")
    if _is_http_url(address):
        url = normalize_url(address)
    else:
        current = urlsplit(server_url())
        port = current.port or (443 if current.scheme == "https" else DEFAULT_PORT)
        url = _host_to_url(address, port=port, scheme=current.scheme or "http")
    set_server_url(url)
    return url


def set_db_uri(uri: str) -> str:
    """mltrace 0.17's ``set_db_uri``. ``"test"`` (any case) is a fresh
    throwaway store in this process; ``file:///path`` a data directory opened in
    this process; an ``http(s)`` URL a server; an old database URI
    (``postgresql://user:pw@host:5432/db``) is mapped to the mltrace server on
    that host, port 8080, with a warning."""
    if not isinstance(uri, str):
        raise TypeError("the URI must be a string")
    if is_test_uri(uri):
        store = throwaway_store()
        set_target(store)
        return store.uri
    if uri.strip().lower().startswith("file:"):
        store = local_store(uri)
        set_target(store)
        return store.uri
    if _is_http_url(uri):
        url = normalize_url(uri)
    else:
        host = urlsplit(uri).hostname
        if not host:
            raise ValueError(
                f"cannot use {uri!r} as the mltrace store: give an http(s):// URL, "
                "file:///path for a data directory in this process, or 'test'"
            )
        url = _host_to_url(host if ":" not in host else f"[{host}]")
        logger.warning(
            "mltrace: %r is not an http(s) URL; using the mltrace server at %s", uri, url
        )
    set_server_url(url)
    return url


def token() -> Optional[str]:
    """The bearer token (``MLTRACE_TOKEN`` unless set with ``set_token``)."""
    with _lock:
        if _explicit_token is not None:
            return _explicit_token or None
    return os.environ.get("MLTRACE_TOKEN") or None


def set_token(value: Optional[str]) -> None:
    """Sets the bearer token sent with every request (``None``: back to
    ``MLTRACE_TOKEN``; ``""``: no token)."""
    global _explicit_token
    with _lock:
        _explicit_token = value


def _env_number(name: str, default: float, cast=float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        logger.warning("mltrace: ignoring %s=%r (not a number)", name, raw)
        return default
    return value if value >= 0 else default


def retries() -> int:
    """How many times a failed request is retried (``MLTRACE_RETRIES``, default 6)."""
    if _retries is not None:
        return _retries
    return int(_env_number("MLTRACE_RETRIES", 6, int))


def backoff() -> float:
    """First retry delay in seconds, doubled each time up to 4 s
    (``MLTRACE_RETRY_BACKOFF``, default 0.25)."""
    if _backoff is not None:
        return _backoff
    return _env_number("MLTRACE_RETRY_BACKOFF", 0.25)


def timeout() -> float:
    """Socket timeout in seconds (``MLTRACE_TIMEOUT``, default 30)."""
    if _timeout is not None:
        return _timeout
    return _env_number("MLTRACE_TIMEOUT", 30.0)


def set_retries(
    count: Optional[int] = None,
    backoff_s: Optional[float] = None,
    timeout_s: Optional[float] = None,
) -> None:
    """Overrides retry count, first backoff delay and socket timeout (``None``
    leaves a setting as it is)."""
    global _retries, _backoff, _timeout
    if count is not None:
        if count < 0:
            raise ValueError("retries must be >= 0")
        _retries = int(count)
    if backoff_s is not None:
        if backoff_s < 0:
            raise ValueError("backoff must be >= 0")
        _backoff = float(backoff_s)
    if timeout_s is not None:
        if timeout_s <= 0:
            raise ValueError("timeout must be > 0")
        _timeout = float(timeout_s)


_ca_cert: Optional[str] = None


def ca_cert() -> Optional[str]:
    """A PEM file of CA certificates to trust for ``https://`` servers, besides
    the system's (``MLTRACE_CA_CERT`` unless set with ``set_ca_cert``)."""
    if _ca_cert is not None:
        return _ca_cert or None
    return os.environ.get("MLTRACE_CA_CERT") or None


def set_ca_cert(path: Optional[str]) -> None:
    """Trusts the CA certificates in ``path`` (PEM) for ``https://`` servers
    (``None``: back to ``MLTRACE_CA_CERT``; ``""``: the system's roots only)."""
    global _ca_cert
    if path:
        if not os.path.isfile(path):
            raise ValueError(f"set_ca_cert: {path} is not a file")
    _ca_cert = path


def reset() -> None:
    """Forgets every run-time setting (back to the environment)."""
    global _explicit_server, _explicit_token, _retries, _backoff, _timeout, _env_test_store, _ca_cert
    _ca_cert = None
    with _lock:
        _explicit_server = None
        _env_test_store = None
        _explicit_token = None
        _retries = None
        _backoff = None
        _timeout = None
