"""A real sandbox for the integration tests, and a check that each test leaves the host clean.

These tests need root, bubblewrap and cgroups; where they are missing the tests fail and say so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxSettings, SandboxUnavailable
from sandbox.workdir import mounted_points

TEST_ROOT = Path("/var/lib/sandbox/tests")


def _requirements_missing() -> str | None:
    if os.geteuid() != 0:
        return "the sandbox tests must run as root (the sandbox drops to its slot users itself)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed: run devstack/runtimes.sh (make up) first"
    return None


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    reason = _requirements_missing()
    if reason:
        pytest.fail(reason)
    settings = dataclasses.replace(SandboxSettings.from_env(), root=TEST_ROOT, slots=2)
    try:
        return Sandbox(settings)
    except SandboxUnavailable as exc:  # no cgroups, no tmpfs mounts, ...: it says what and why
        pytest.fail(f"the sandbox cannot start on this host: {exc}")


def _ours(pid: int, ppid: int) -> bool:
    """Started by this test process: a descendant of it, or in one of its step cgroups (named
    after its pid). Other sandboxes on a shared host may run as the same users and do not
    count."""
    with open(f"/proc/{pid}/cgroup") as f:
        if f"/{os.getpid()}-" in f.read():
            return True
    for _ in range(64):
        if ppid == os.getpid():
            return True
        if ppid <= 1:
            return False
        with open(f"/proc/{ppid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    return False


def _slot_user_pids(uids: range) -> set[int]:
    """Live processes of the slot users started by these tests. Zombies are left out: bwrap's
    exited init is reaped by the host's init, which on some hosts takes a moment; it holds
    nothing but its pid."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid not in uids:
                    continue
                with open(f"/proc/{entry}/stat") as f:
                    state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
                if state != "Z" and _ours(int(entry), int(ppid)):
                    pids.add(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return pids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "(gone)"


def _uids(sb: Sandbox) -> range:
    """Every user the sandbox runs programs as: the slots', then the warm sandboxes'."""
    return range(sb.settings.uid_base, sb.settings.uid_base + len(sb.settings.all_ids()))


def _kept_warm(sb: Sandbox) -> tuple[set[str], set[str]]:
    """Cgroup directories and work directories of the warm sandboxes kept for later runs: they
    belong to no finished run."""
    if sb.pool is None:
        return set(), set()
    return set(sb.pool.cgroup_dirs()), {str(w.path) for w in sb.pool.workdirs()}


def _in_cgroups(pid: int, dirs: set[str]) -> bool:
    """The process is in one of these cgroup directories (any hierarchy)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            paths = [
                line.split(":", 2)[2] for line in f.read().splitlines() if line.count(":") >= 2
            ]
    except OSError:
        return False
    return any(path != "/" and d.endswith(path) for path in paths for d in dirs)


async def leftovers(sb: Sandbox, before: set[int]) -> list[str]:
    """Processes, cgroups and mounts of finished runs that still exist (polled for a while, on
    the event loop: the sandbox tears a run down shortly after returning its result)."""
    deadline = time.monotonic() + 5
    while True:
        warm_cgroups, warm_dirs = _kept_warm(sb)
        found = [f"process {pid} {_cmdline(pid)}" for pid in _slot_user_pids(_uids(sb)) - before
                 if not _in_cgroups(pid, warm_cgroups)]  # fmt: skip
        assert sb.cgroups is not None
        found += [f"cgroup {d}" for d in sb.cgroups.step_dirs() if str(d) not in warm_cgroups]
        # Run directories are named after the pid that made them: other test processes on the
        # same host (and root) have their own.
        runs = str(sb.settings.root / "runs" / f"{os.getpid()}-")
        found += [f"mount {m}" for m in mounted_points()
                  if m.startswith(runs) and not any(m.startswith(w) for w in warm_dirs)]  # fmt: skip
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


@pytest.fixture
async def clean_host(sandbox: Sandbox) -> AsyncIterator[None]:
    """After the test: nothing of its runs remains, and the host can still start processes."""
    before = _slot_user_pids(_uids(sandbox))
    yield
    assert await leftovers(sandbox, before) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # noqa: ASYNC221 - one tiny probe
