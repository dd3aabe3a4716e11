"""Keeps the shared, read-only Go build cache cheap to use through a per-run overlay.

Two things the go command does on every build would otherwise cost each run dearly once the cache
is older than an hour or a day (it never is in a quick benchmark, always in production):
- it bumps the mtime of every cache entry it uses that is over an hour old: through the overlay,
  that copies the whole entry (up to megabytes) into the run's tmpfs. Entries owned by root make
  that chtimes fail (EPERM, ignored by go), so nothing is copied.
- when `trim.txt` is over a day old it walks the whole cache and deletes entries it thinks
  unused. Rewriting `trim.txt` (as root, here) before it gets that old keeps that from happening.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TRIM_FILE = "trim.txt"
# go trims when trim.txt is over 24 h old; refresh well before that.
REFRESH_AFTER_S = 6 * 3600


def set_ownership(cache: Path, uid: int, gid: int) -> None:
    """Directories owned by the sandbox user (so runs can add entries in their overlay), files by
    root and read-only to others (so go's mtime bumps fail instead of copying entries up)."""
    for dirpath, dirnames, filenames in os.walk(cache):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            os.lchown(path, uid, gid)
            os.chmod(path, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.lchown(path, 0, 0)
            os.chmod(path, 0o644)
    os.chown(cache, uid, gid)
    os.chmod(cache, 0o755)


def keep_fresh(cache: Path, now: float | None = None) -> bool:
    """Rewrite `trim.txt` if it is old enough for go to trim soon; True if it was rewritten."""
    now = time.time() if now is None else now
    trim = cache / TRIM_FILE
    try:
        if 0 <= now - int(trim.read_text().strip()) < REFRESH_AFTER_S:
            return False
    except (OSError, ValueError):
        pass  # missing or unreadable: go would trim, so write it
    tmp = cache / f".{TRIM_FILE}.{os.getpid()}"
    tmp.write_text(str(int(now)))
    os.chmod(tmp, 0o644)
    # A rename, so a run that has the old file open keeps reading a whole one.
    tmp.replace(trim)
    return True
