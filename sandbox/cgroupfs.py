"""Small helpers for the cgroup filesystem (shared by the v1 and v2 drivers in cgroups.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def counter_from(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def pids_of(path: Path) -> list[int]:
    try:
        return [int(p) for p in read(path).split()]
    except FileNotFoundError:
        return []


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def try_rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
