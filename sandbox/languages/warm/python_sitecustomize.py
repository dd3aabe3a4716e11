"""Warm start of a Python run (sandbox/pool.py, docs/warm-sandboxes.md).

Bound read-only as the interpreter's `sitecustomize` in a warm sandbox only, started as
`python3 -u -E -s main.py` before the run exists. `site` imports it at the end of the
interpreter's start-up, before `main.py` is opened: it says ready on fd 4, waits on fd 3 for the
run's command line (its files are in /box by then), takes the program's arguments from it, and
ends by raising the ImportError `site` ignores for an absent sitecustomize, so nothing of it stays
(not in sys.modules, no frame under the program's). Python then runs main.py exactly as the cold
command does: same __main__, sys.path[0], tracebacks and exit status. It imports nothing that
start-up has not already imported.
"""

import os
import sys


def _hand_over() -> None:
    try:
        os.write(4, b"R")
        os.close(4)
        data = b""
        while chunk := os.read(3, 65536):
            data += chunk
        os.close(3)
    except OSError:
        os._exit(125)
    argv = [os.fsdecode(part) for part in data.split(b"\0")[:-1]]
    started = sys.orig_argv
    # The cold command is this very command line followed by the program's arguments.
    if not data.endswith(b"\0") or argv[: len(started)] != started:
        os._exit(125)
    sys.argv[1:] = argv[len(started) :]
    sys.orig_argv = argv


_hand_over()
del _hand_over  # the module's dict may outlive it for a moment, in a reference cycle
raise ImportError("warm start done", name="sitecustomize")
