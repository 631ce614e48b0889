"""Package version."""

__version__ = "0.18.0"
