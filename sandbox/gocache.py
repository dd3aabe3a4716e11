"""Keeps the shared, read-only Go build cache cheap to use through a per-run overlay, and safe for
root to maintain.

Two things the go command does on every build would otherwise cost each run dearly once the cache
is older than an hour or a day (it never is in a quick benchmark, always in production):
- it bumps the mtime of every cache entry it uses that is over an hour old: through the overlay,
  that copies the whole entry (up to megabytes) into the run's tmpfs. Entries owned by root make
  that chtimes fail (EPERM, ignored by go), so nothing is copied.
- when `trim.txt` is over a day old it walks the whole cache and deletes entries it thinks
  unused. Rewriting `trim.txt` (as root, here) before it gets that old keeps that from happening.

Root writes in the cache, so nothing in it may belong to a sandbox user: a user who owns a
directory root writes in can plant a link where root is about to write or chmod (the Judge0
CVE-2024-28185/28189 escapes). Everything is owned by root and read-only to others; a run gets
writable copies of the entry directories in its overlay's upper layer instead (`ENTRY_DIRS`).
Every operation here goes through directory descriptors and never follows a link.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)

TRIM_FILE = "trim.txt"
# go trims when trim.txt is over 24 h old; refresh well before that.
REFRESH_AFTER_S = 6 * 3600
# The directories go puts entries in ($GOCACHE/00 ... ff): made writable per run in its overlay.
ENTRY_DIRS = tuple(f"{i:02x}" for i in range(256))
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO someone left must not hang the walk; O_NOCTTY: nor become our terminal.
_ENTRY_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def root_only(st: os.stat_result) -> bool:
    """Whether only root can change what is in a directory with this status."""
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def is_safe(cache: Path) -> bool:
    """Whether the cache's top directory is root's alone (so root may write in it)."""
    try:
        fd = os.open(cache, _DIR_FLAGS)
    except OSError:
        return False
    try:
        return root_only(os.fstat(fd))
    finally:
        os.close(fd)


def set_ownership(cache: Path, uid: int = 0, gid: int = 0) -> None:
    """Give the whole tree to `uid` (default root): directories 0755, files 0644. Links and
    special files are deleted, never followed: a build cache has none, a planted one is hostile.
    Top-down, so each directory is taken away from its previous owner before root looks inside."""
    top = os.open(cache, _DIR_FLAGS)
    try:
        _own_dir(top, uid, gid)
    finally:
        os.close(top)


def _own_dir(dir_fd: int, uid: int, gid: int) -> None:
    os.fchown(dir_fd, uid, gid)
    os.fchmod(dir_fd, 0o755)
    for name in os.listdir(dir_fd):
        try:
            fd = os.open(name, _ENTRY_FLAGS, dir_fd=dir_fd)
        except OSError:  # a link (ELOOP), or something else we cannot open as root: remove it
            with contextlib.suppress(FileNotFoundError):
                _remove(dir_fd, name)
            continue
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                _own_dir(fd, uid, gid)
            elif stat.S_ISREG(mode):
                os.fchown(fd, uid, gid)
                os.fchmod(fd, 0o644)
            else:
                os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(fd)


def _remove(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except IsADirectoryError:
        # A directory root cannot open (never the case as root, but never follow or recurse).
        log.warning("sandbox: left unreadable directory %s in the Go cache", name)


def keep_fresh(cache: Path, now: float | None = None) -> bool:
    """Rewrite `trim.txt` if it is old enough for go to trim soon; True if it was rewritten.
    Refuses (False, with a warning) a cache whose top directory is not root's alone."""
    now = time.time() if now is None else now
    dir_fd = os.open(cache, _DIR_FLAGS)
    try:
        if not root_only(os.fstat(dir_fd)):
            log.warning("sandbox: the Go cache %s is writable by others than root: trim.txt "
                        "not refreshed (run devstack/runtimes.sh to fix its ownership)", cache)  # fmt: skip
            return False
        with contextlib.suppress(OSError, ValueError):  # missing or bad: go would trim, so write
            if 0 <= now - int(_read(dir_fd, TRIM_FILE).strip()) < REFRESH_AFTER_S:
                return False
        tmp = f".{TRIM_FILE}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)  # a leftover of ours (or a planted link: not followed)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=dir_fd)  # fmt: skip
        try:
            os.write(fd, str(int(now)).encode())
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        # A rename, so a run that has the old file open keeps reading a whole one.
        os.rename(tmp, TRIM_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    finally:
        os.close(dir_fd)


def _read(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        return os.read(fd, 64).decode()
    finally:
        os.close(fd)
