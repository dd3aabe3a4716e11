"""Per-step control groups: memory, pids, CPU quota and accounting, freeze-and-kill, OOM detection.

cgroup v1 (separate memory/pids/freezer/cpuacct/cpu hierarchies, as on these machines) and v2
(one unified hierarchy) behind one small interface. The child joins a step's cgroups itself,
before it drops privileges, by writing "0" to file descriptors the parent opened (see `join_fds`).

The CPU quota (`cpus` CPUs per step) needs the cpu controller. On v1 it is a hierarchy of its own
unless it is mounted together with cpuacct (cpu,cpuacct, as systemd does): here it is not, so a
step joins five hierarchies instead of four. The armed launcher joins them ahead of the step (see
armed.py); measured here, one more join cost under 0.1 ms and hello world was no slower (bash:
18 ms armed, 28 ms spawned per step, with or without the quota). `cpus=0` leaves it out.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sandbox.cgroupfs import alive, counter_from, pids_of, read, try_rmdir, wait_until, write
from sandbox.errors import CgroupError

_V1_CONTROLLERS = ("memory", "pids", "freezer", "cpuacct")
_V2_CONTROLLERS = ("memory", "pids", "cpu")
CFS_PERIOD_US = 100_000  # the kernel's default scheduling period; the quota is cpus x this
_counter = itertools.count()
# Never-used step cgroups, per hierarchy and set of controllers (with or without the cpu one).
_SPARES: dict[tuple[Path, tuple[str, ...]], list[StepCgroup]] = {}
# Cgroups holding an armed launcher (sandbox/armed.py) not yet given a step, per hierarchy.
_IDLE: dict[Path, set[Path]] = {}


@atexit.register
def _remove_spares() -> None:
    # Never used, so empty: a few rmdirs (a crash leaves them to the next start's remove_stale).
    for spares in _SPARES.values():
        while spares:
            with contextlib.suppress(OSError, CgroupError):
                spares.pop().remove(timeout=0.5)


@dataclass(frozen=True)
class CgroupStats:
    """What the kernel counted for one step, read after its last process is gone."""

    memory_peak_bytes: int | None
    oom_kills: int
    cpu_ns: int
    memory_limit_hits: int = 0
    """Charges the kernel could not make under the memory limit (each then reclaimed or OOM-killed):
    more than zero means the cgroup's usage reached its limit (see `at_memory_limit` in step.py)."""


class StepCgroup:
    """The cgroups of one step; `remove()` must be called once its processes are gone."""

    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs
        self._main = dirs["memory"]
        self.join_fds: list[int] = []
        self.open_join_fds()

    def open_join_fds(self) -> None:
        # Opened here as root; the child writes "0" (itself) before dropping privileges.
        for d in self.dirs.values():  # one per hierarchy
            self.join_fds.append(os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))

    def close_join_fds(self) -> None:
        for fd in self.join_fds:
            os.close(fd)
        self.join_fds = []

    def _procs(self) -> Path:
        return (self.dirs["freezer"] if self.version == 1 else self._main) / "cgroup.procs"

    def pids(self) -> list[int]:
        return pids_of(self._procs())

    def is_empty(self) -> bool:
        return not self.pids()

    def cpu_ns(self) -> int:
        if self.version == 1:
            return int(read(self.dirs["cpuacct"] / "cpuacct.usage"))
        return counter_from(read(self._main / "cpu.stat"), "usage_usec") * 1000

    def reset_peak(self) -> None:
        """Start the memory peak from the current usage (cgroup v1; v2's memory.peak cannot be
        reset on this kernel's interface, so there it keeps the step's whole life)."""
        if self.version == 1:
            write(self.dirs["memory"] / "memory.max_usage_in_bytes", "0")

    def kill_all(self, timeout: float = 5.0) -> bool:
        """Kill every process, forks in flight included; True once the cgroup is empty."""
        if self.version == 2 and (self._main / "cgroup.kill").exists():
            write(self._main / "cgroup.kill", "1")
            return wait_until(self.is_empty, timeout)
        # Frozen, nothing can fork between reading the list and the kills.
        freezer = (
            self.dirs["freezer"] / "freezer.state"
            if self.version == 1
            else self._main / "cgroup.freeze"
        )
        frozen, thawed = ("FROZEN", "THAWED") if self.version == 1 else ("1", "0")
        with contextlib.suppress(OSError):
            write(freezer, frozen)
            wait_until(lambda: read(freezer).strip() == frozen, 1.0)
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                write(freezer, thawed)
            if wait_until(self.is_empty, timeout / 100):
                break
        return wait_until(self.is_empty, timeout)

    def stats(self) -> CgroupStats:
        if self.version == 1:
            mem = self.dirs["memory"]
            # With swap accounting the memory+swap counter is charged first, and at equal limits
            # it is the one that fails: both count.
            hits = int(read(mem / "memory.failcnt"))
            memsw = mem / "memory.memsw.failcnt"
            if memsw.exists():
                hits += int(read(memsw))
            return CgroupStats(
                memory_peak_bytes=int(read(mem / "memory.max_usage_in_bytes")),
                oom_kills=counter_from(read(mem / "memory.oom_control"), "oom_kill"),
                cpu_ns=self.cpu_ns(),
                memory_limit_hits=hits,
            )
        peak_file = self._main / "memory.peak"
        events = read(self._main / "memory.events")
        return CgroupStats(
            memory_peak_bytes=int(read(peak_file)) if peak_file.exists() else None,
            oom_kills=counter_from(events, "oom_kill"),
            cpu_ns=self.cpu_ns(),
            memory_limit_hits=counter_from(events, "max"),
        )

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left and delete the directories (retrying while the kernel lets go)."""
        self.close_join_fds()
        if not self.is_empty():
            self.kill_all(timeout)
        for d in self.dirs.values():
            if not wait_until(partial(try_rmdir, d), timeout):
                raise CgroupError(f"cgroup {d} could not be removed")


class CgroupDriver:
    """Creates step cgroups under `<root>/<controller>/<parent>` (v1) or `<root>/<parent>` (v2)."""

    def __init__(self, version: int, root: Path, parent: str, cpus: float = 1.0) -> None:
        self.version = version
        self.root = root
        self.parent = parent
        self.cpus = cpus
        # Which of the step's directories holds the CPU quota (None: no quota).
        self.quota_in: str | None = None
        if version == 2:
            self.controllers: tuple[str, ...] = ("memory",)
            self.quota_in = "memory" if cpus > 0 else None
        else:
            self.controllers = _V1_CONTROLLERS
            if cpus > 0 and (root / "cpuacct" / "cpu.cfs_quota_us").exists():
                self.quota_in = "cpuacct"  # cpu,cpuacct mounted together: no extra hierarchy
            elif cpus > 0:
                self.controllers += ("cpu",)
                self.quota_in = "cpu"
        # Shared by every driver of this process on the same hierarchy, so idle spares are known.
        self._spares = _SPARES.setdefault((self._base(self.controllers[0]), self.controllers), [])
        self._idle = _IDLE.setdefault(self._base(self.controllers[0]), set())
        self._memsw: bool | None = None  # whether swap can be limited, found on first use

    @classmethod
    def detect(cls, root: Path, parent: str, cpus: float = 1.0) -> CgroupDriver | None:
        """The driver for this host, set up and tried once, or None when cgroups are unusable."""
        for driver in (cls(2, root, parent, cpus), cls(1, root, parent, cpus)):
            if not driver._present():
                continue
            try:
                driver._prepare()
                driver.create("probe", memory_bytes=64 << 20, pids=8).remove()
            except OSError:
                continue
            return driver
        return None

    def _present(self) -> bool:
        if self.version == 2:
            ctl = self.root / "cgroup.controllers"
            return ctl.exists() and {"memory", "pids", "cpu"} <= set(read(ctl).split())
        return all((self.root / c / "cgroup.procs").exists() for c in self.controllers)

    def _base(self, controller: str) -> Path:
        return (
            self.root / self.parent if self.version == 2 else self.root / controller / self.parent
        )

    def _prepare(self) -> None:
        if self.version == 2:
            enable = " ".join(f"+{c}" for c in _V2_CONTROLLERS)
            write(self.root / "cgroup.subtree_control", enable)
            self._base("memory").mkdir(exist_ok=True)
            write(self._base("memory") / "cgroup.subtree_control", enable)
        else:
            for c in self.controllers:
                self._base(c).mkdir(exist_ok=True)
        self.remove_stale()

    def weigh(self, slots: int) -> None:
        """Give the parent of the step cgroups the CPU weight of `slots` processes. The cpu
        controller schedules the parent as one entity: with the default weight, all runs together
        would get one process's share of a busy host, as much as each single run got before."""
        if self.quota_in is None:
            return
        if self.version == 1:
            write(self._base(self.quota_in) / "cpu.shares", str(1024 * slots))
        else:
            write(self._base("memory") / "cpu.weight", str(min(10_000, 100 * slots)))

    def create(self, purpose: str, memory_bytes: int, pids: int) -> StepCgroup:
        cg = self._make(purpose)
        try:
            self._limit(cg, memory_bytes, pids)
        except OSError:
            cg.remove()
            raise
        return cg

    def take(self, purpose: str, memory_bytes: int, pids: int) -> StepCgroup:
        """A never-used cgroup with these limits: a spare made off the latency path, if any."""
        while self._spares:
            cg = self._spares.pop()
            try:
                self._limit(cg, memory_bytes, pids)
            except OSError:
                cg.remove()
                continue
            return cg
        return self.create(purpose, memory_bytes, pids)

    def refill(self, count: int) -> None:
        """Make spares until there are `count` (each is used for one step only, then removed)."""
        while len(self._spares) < count:
            self._spares.append(self._make("step"))

    def make_idle(self) -> StepCgroup:
        """A never-used, unlimited cgroup for a launcher armed ahead of its step; idle (left out
        of `step_dirs`) until `claim`, or `drop_idle` when it is removed unused."""
        cg = self._make("armed")
        self._idle.add(cg.dirs[self.controllers[0]])
        return cg

    def claim(self, cg: StepCgroup, memory_bytes: int, pids: int) -> None:
        """Give an idle cgroup its step's limits; from now on it counts as in use."""
        self.drop_idle(cg)
        self._limit(cg, memory_bytes, pids)

    def drop_idle(self, cg: StepCgroup) -> None:
        self._idle.discard(cg.dirs[self.controllers[0]])

    def _make(self, purpose: str) -> StepCgroup:
        name = f"{os.getpid()}-{next(_counter)}-{purpose}"
        dirs: dict[str, Path] = {}
        try:
            for c in self.controllers:
                d = self._base(c) / name
                d.mkdir()
                dirs[c] = d
            return StepCgroup(self.version, dirs)
        except OSError:
            for d in dirs.values():
                try_rmdir(d)
            raise

    def _limit(self, cg: StepCgroup, memory_bytes: int, pids: int) -> None:
        mem, v1 = cg.dirs["memory"], self.version == 1
        # v1, from unlimited: the memory limit first, then memory+swap (which must stay >= it).
        write(mem / ("memory.limit_in_bytes" if v1 else "memory.max"), str(memory_bytes))
        swap = mem / ("memory.memsw.limit_in_bytes" if v1 else "memory.swap.max")
        if self._memsw is None:
            self._memsw = swap.exists()
        if self._memsw:
            write(swap, str(memory_bytes) if v1 else "0")
        # One more for the launcher, which waits for the step's processes (launcher.c reap_all).
        write((cg.dirs["pids"] if v1 else mem) / "pids.max", str(pids + 1))
        if self.quota_in is not None:
            quota = max(1000, round(self.cpus * CFS_PERIOD_US))  # the kernel's least is 1 ms
            cpu = cg.dirs[self.quota_in]
            if v1:
                write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                write(cpu / "cpu.cfs_quota_us", str(quota))
            else:
                write(cpu / "cpu.max", f"{quota} {CFS_PERIOD_US}")

    def remove_stale(self) -> None:
        """Delete step cgroups left by sandbox processes that no longer exist."""
        # The cpu hierarchy too when this driver sets no quota: an earlier process may have.
        for c in dict.fromkeys(
            (*self.controllers, "cpu") if self.version == 1 else self.controllers
        ):
            for d in self._base(c).iterdir() if self._base(c).exists() else ():
                pid = d.name.split("-", 1)[0]
                if not d.is_dir() or not pid.isdigit() or alive(int(pid)):
                    continue
                for p in pids_of(d / "cgroup.procs"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
                wait_until(partial(try_rmdir, d), 2.0)

    def step_dirs(self) -> list[Path]:
        """This process's step cgroups in use (idle spares and armed ones left out), for tests and
        health checks: other sandbox processes on the host have their own."""
        base = self._base(self.controllers[0])
        spares = {
            cg.dirs[self.controllers[0]]
            for (spare_base, _), stock in _SPARES.items()
            if spare_base == base
            for cg in stock
        } | self._idle
        mine = f"{os.getpid()}-"
        if not base.exists():
            return []
        return [d for d in base.iterdir() if d.name.startswith(mine) and d not in spares]
