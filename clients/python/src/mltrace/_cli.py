"""The ``mltrace`` command installed with the package: the real CLI, from the
extension (``mltrace serve``, ``mltrace launch``, ``mltrace trace ...``)."""

import signal
import sys
import threading
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``mltrace`` with ``argv`` (default ``sys.argv``) and exits with its code."""
    from . import _native

    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = "mltrace"
    sys.stdout.flush()
    sys.stderr.flush()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C as for the binary: `serve` shuts down gracefully (its own handler), any
        # other command dies at once; Python's handler would only raise KeyboardInterrupt
        # once the command had returned.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = _native.cli_main(args)
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # python -m mltrace._cli
    main()
