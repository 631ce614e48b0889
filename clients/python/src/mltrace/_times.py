"""RFC 3339 times: what the client sends and what it parses."""

import re
from datetime import datetime, timedelta, timezone
from typing import Optional, Union

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def to_utc(ts: datetime) -> datetime:
    """A timezone-aware UTC datetime. A naive datetime is taken as UTC, as
    mltrace 0.17 (which used ``datetime.utcnow()``) did."""
    if ts.tzinfo is timezone.utc:
        return ts
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


def format_rfc3339(ts: datetime) -> str:
    """``2026-11-26T03:31:09.123Z`` (UTC, milliseconds)."""
    # isoformat is several times faster than strftime, and always pads the year
    # to four digits; a UTC time ends in "+00:00".
    return to_utc(ts).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_rfc3339(value: Optional[str]) -> Optional[datetime]:
    """Parses an RFC 3339 time into a timezone-aware UTC datetime (``None`` stays
    ``None``). Works on every Python from 3.8 (no ``fromisoformat`` quirks)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
    m = _RFC3339.match(value.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    second = int(s)
    leap = second == 60
    if leap:
        second = 59
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), second, micro, tzinfo=timezone.utc)
    if sign:
        offset = timedelta(hours=int(oh), minutes=int(om))
        dt = dt - offset if sign == "+" else dt + offset
    return dt


def time_param(value: Union[None, str, int, float, datetime]) -> Optional[str]:
    """A time for a query parameter (``since``, ``until``, ``as_of``). ``None``,
    ``datetime.min`` and ``datetime.max`` (mltrace 0.17's defaults) mean no bound;
    an ``int`` is passed as is (a sequence number or epoch milliseconds); a string
    that parses as ISO 8601 is normalized to UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.replace(tzinfo=None) in (datetime.min, datetime.max):
            return None
        return format_rfc3339(value)
    if isinstance(value, bool):
        raise TypeError("a time must be a datetime, a string or an integer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return format_rfc3339(parse_rfc3339(text))  # type: ignore[arg-type]
        except ValueError:
            pass
        try:
            return format_rfc3339(datetime.fromisoformat(text))
        except ValueError:
            return text
    raise TypeError("a time must be a datetime, a string or an integer")
