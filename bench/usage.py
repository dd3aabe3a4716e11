"""What each service uses: memory (section 5; PSS of its whole process tree, so PostgreSQL's
shared buffers are not counted once per backend), idle and the peak under load, and CPU time
(user + system of the tree, children that exited included), to see what a run costs where."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from bench.stack import parents, tree

TICKS = os.sysconf("SC_CLK_TCK")


def pss_kb(pid: int) -> int:
    """Proportional set size of one process in KiB (RSS if smaps_rollup is unreadable)."""
    for name, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            for line in Path(name).read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1])
        except OSError:
            continue
    return 0


SANDBOX = "sandbox"  # what the processors' child processes used: launchers, bwrap, the programs


def cpu_s(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of a process, and of its waited-for children unless told not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11 : 15 if children else 13]) / TICKS


def cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far per service (whole process tree). A processors worker's child
    processes are the sandbox's (each run's launcher, bwrap and program): counted apart, as
    `sandbox`, since the services' figure is meant without the programs."""
    table = parents()
    out = {}
    for name, roots in pids.items():
        if not roots:
            continue
        total = sum(tree_cpu_s(root, table) for root in roots)
        out[name] = total
        if name.startswith("processors"):
            out[name] = sum(cpu_s(pid, children=False) for pid in roots)
            out[SANDBOX] = out.get(SANDBOX, 0.0) + total - out[name]
    return out


def tree_cpu_s(root: int, table: dict[int, int]) -> float:
    """CPU seconds of a process and everything under it (PostgreSQL's backends, for one)."""
    return sum(cpu_s(pid) for pid in tree(root, table))


def tree_mb(root: int, table: dict[int, int]) -> float:
    return round(sum(pss_kb(pid) for pid in tree(root, table)) / 1024, 1)


def snapshot(pids: dict[str, list[int]]) -> dict[str, float]:
    table = parents()
    return {
        name: round(sum(tree_mb(p, table) for p in roots), 1)
        for name, roots in pids.items()
        if roots
    }


class PeakSampler:
    """Samples every `interval` s while active; keeps the peak per service."""

    def __init__(self, pids: Callable[[], dict[str, list[int]]], interval: float = 1.0) -> None:
        self.pids = pids
        self.interval = interval
        self.peak: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            sample = await asyncio.to_thread(snapshot, self.pids())
            for name, mb in sample.items():
                self.peak[name] = max(self.peak.get(name, 0.0), mb)
            await asyncio.sleep(self.interval)

    @property
    def active(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return dict(self.peak)


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


class CpuWindow:
    """CPU seconds per service and of the whole machine between `start()` and `stop()`."""

    def __init__(self, pids: Callable[[], dict[str, list[int]]]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self._machine: tuple[float, float] = (0.0, 0.0)
        self._own = 0.0
        self._after: dict[str, float] = {}
        self._machine_after: tuple[float, float] = (0.0, 0.0)
        self._own_after = 0.0
        self._closed = False

    @staticmethod
    def _self_s() -> float:
        t = os.times()
        return t.user + t.system

    def start(self) -> None:
        self._before = cpu_snapshot(self.pids())
        self._machine = machine_cpu_s()
        self._own = self._self_s()

    def close(self) -> None:
        self._after = cpu_snapshot(self.pids())
        self._machine_after = machine_cpu_s()
        self._own_after = self._self_s()
        self._closed = True

    def stop(self, runs: int) -> dict[str, float]:
        """CPU milliseconds per run by service, `bench client`, `other` processes, and busy %."""
        if not self._closed:
            self.close()
        after = self._after
        busy, total = self._machine_after
        busy -= self._machine[0]
        per = {name: after[name] - self._before.get(name, 0.0) for name in after}
        per["bench client"] = self._own_after - self._own
        per["other processes"] = max(0.0, busy - sum(per.values()))
        out = {name: round(s * 1000 / max(runs, 1), 2) for name, s in per.items()}
        out["machine busy %"] = round(100 * busy / max(total - self._machine[1], 1e-9), 1)
        return out
