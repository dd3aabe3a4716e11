"""Operator settings of the sandbox, read once from the environment (`SANDBOX_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from msgspec import Meta

from config import SettingsError, parse
from sandbox.errors import InvalidLimits
from sandbox.limits import RANGES, Limits


def _int(
    env: Mapping[str, str], name: str, default: int, low: int = 0, high: int | None = None
) -> int:
    """An integer setting within [low, high]; a bad one stops the worker naming the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value: int = parse(name, raw.strip(), Annotated[int, Meta(ge=low, le=high)])
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value: float = parse(name, raw.strip(), Annotated[float, Meta(ge=low, le=high)])
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value: bool = parse(name, raw.strip(), bool)
    return value


@dataclass(frozen=True)
class SandboxSettings:
    """Where and how the sandbox runs programs; every field has a working local default."""

    slots: int = field(default_factory=lambda: os.cpu_count() or 1)
    """SANDBOX_SLOTS: runs at once in one process (an asyncio semaphore); default = cores."""
    root: Path = Path("/var/lib/sandbox")
    """SANDBOX_ROOT: parent of the per-run working directories (each a tmpfs mounted here)."""
    bwrap: str = "/usr/bin/bwrap"
    """SANDBOX_BWRAP: the bubblewrap binary (must not be setuid: we drop privileges first)."""
    uid_base: int = 60000
    """SANDBOX_UID_BASE: slot i runs programs as uid base+i, a user of its own (as isolate does),
    so runs never share the kernel's per-user counters; sandboxes sharing a kernel need disjoint
    ranges. Nothing on the host may use these uids."""
    gid_base: int = 60000
    """SANDBOX_GID_BASE: slot i's group is gid base+i."""
    cgroup_root: Path = Path("/sys/fs/cgroup")
    """SANDBOX_CGROUP_ROOT: where cgroup v1 controllers or the v2 hierarchy are mounted."""
    cgroup_parent: str = "sandbox"
    """SANDBOX_CGROUP_PARENT: cgroup (under each controller) that holds the per-step cgroups."""
    go_cache: Path = Path("/var/cache/sandbox/go-build")
    """SANDBOX_GO_CACHE: warm, read-only Go build cache (filled by devstack/runtimes.sh)."""
    use_launcher: bool = True
    """SANDBOX_USE_LAUNCHER=0: spawn with fork + preexec_fn instead of the vfork-able C shim."""
    cpus: float = 1.0
    """SANDBOX_CPUS: CPUs each step may use at once (the cgroup's CPU quota; may be fractional);
    0 sets no quota, and then one run's threads can take every core."""
    cpu_poll_ms: int = 20
    """SANDBOX_CPU_POLL_MS: how often total CPU time is checked against the limit."""
    defaults: Limits = field(default_factory=Limits)
    """Limits used where a run gives none (SANDBOX_TIME_LIMIT_MS, SANDBOX_MEMORY_MB, ...)."""
    warm_max: int = 4
    """SANDBOX_WARM_MAX: warm sandboxes (sandbox/pool.py) kept ready at most, all languages
    together; 0 turns them off. Each is a started interpreter or compiler waiting for its run."""
    warm_languages: tuple[str, ...] = ("python",)
    """SANDBOX_WARM_LANGUAGES: comma-separated languages kept warm from the start, before any
    demand ("" for none); any other language with a warm program is kept warm once it is run."""

    def ids(self, slot: int) -> tuple[int, int]:
        """The uid and gid programs of `slot` (0 ... slots-1) run as."""
        return self.uid_base + slot, self.gid_base + slot

    @property
    def warm_users(self) -> int:
        """Users of the warm sandboxes: one per set kept, plus one per slot for sets in use."""
        return self.warm_max + self.slots if self.warm_max else 0

    def warm_ids(self, index: int) -> tuple[int, int]:
        """The uid and gid of warm user `index`, after the slots' (base+slots+index): every live
        sandbox, warm or not, runs as a user of its own."""
        return self.ids(self.slots + index)

    def all_ids(self) -> list[tuple[int, int]]:
        """Every user this sandbox runs programs as: the slots', then the warm ones."""
        return [self.ids(i) for i in range(self.slots + self.warm_users)]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        """Settings from `env` (default: os.environ); unset variables keep their defaults."""
        env = os.environ if env is None else env
        base = cls()
        names = ("time_limit_ms", "memory_mb", "stdout_bytes", "stderr_bytes", "pids",
                 "file_size_mb", "workdir_mb")  # fmt: skip
        given = {n: _int(env, f"SANDBOX_{n.upper()}", getattr(base.defaults, n)) for n in names}
        try:
            defaults = Limits(**given)
        except InvalidLimits as exc:
            name = str(exc.details["field"])
            low, high = RANGES[name]
            raise SettingsError(
                f"SANDBOX_{name.upper()}", given[name], f"expected an integer from {low} to {high}"
            ) from None
        return cls(
            slots=_int(env, "SANDBOX_SLOTS", base.slots, 1, 256),
            root=Path(env.get("SANDBOX_ROOT") or base.root),
            bwrap=env.get("SANDBOX_BWRAP") or base.bwrap,
            uid_base=_int(env, "SANDBOX_UID_BASE", base.uid_base),
            gid_base=_int(env, "SANDBOX_GID_BASE", base.gid_base),
            cgroup_root=Path(env.get("SANDBOX_CGROUP_ROOT") or base.cgroup_root),
            cgroup_parent=env.get("SANDBOX_CGROUP_PARENT") or base.cgroup_parent,
            go_cache=Path(env.get("SANDBOX_GO_CACHE") or base.go_cache),
            use_launcher=_flag(env, "SANDBOX_USE_LAUNCHER", base.use_launcher),
            cpus=_float(env, "SANDBOX_CPUS", base.cpus, 0.0, 256.0),
            cpu_poll_ms=_int(env, "SANDBOX_CPU_POLL_MS", base.cpu_poll_ms, 1, 1000),
            defaults=defaults,
            warm_max=_int(env, "SANDBOX_WARM_MAX", base.warm_max, 0, 64),
            warm_languages=tuple(
                name.strip()
                for name in env.get("SANDBOX_WARM_LANGUAGES", ",".join(base.warm_languages)).split(
                    ","
                )
                if name.strip()
            ),
        )
