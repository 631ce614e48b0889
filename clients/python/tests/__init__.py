"""Tests of the Python client (``python3 -m unittest discover -s clients/python/tests``).

When discovered as a package (``-t clients/python``), the modules still import
their helpers as top-level modules (``from _support import ...``).
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
