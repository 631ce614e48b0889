"""mltrace 0.17 kept ``PointerTypeEnum`` in ``mltrace.db``; it lives on here for
imports like ``from mltrace.db import PointerTypeEnum``. There is no database
in the client any more: everything goes through the server's HTTP API."""

from .entities import PointerTypeEnum

__all__ = ["PointerTypeEnum"]
