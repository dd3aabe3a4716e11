"""Operator settings of the sandbox, read once from the environment (`SANDBOX_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.limits import Limits


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class SandboxSettings:
    """Where and how the sandbox runs programs; every field has a working local default."""

    slots: int = field(default_factory=lambda: os.cpu_count() or 1)
    """SANDBOX_SLOTS: runs at once in one process (an asyncio semaphore); default = cores."""
    root: Path = Path("/var/lib/sandbox")
    """SANDBOX_ROOT: parent of the per-run working directories (each a tmpfs mounted here)."""
    bwrap: str = "/usr/bin/bwrap"
    """SANDBOX_BWRAP: the bubblewrap binary (must not be setuid: we drop privileges first)."""
    uid: int = 65534
    """SANDBOX_UID: the unprivileged user programs run as (nobody)."""
    gid: int = 65534
    """SANDBOX_GID: its group (nogroup)."""
    cgroup_root: Path = Path("/sys/fs/cgroup")
    """SANDBOX_CGROUP_ROOT: where cgroup v1 controllers or the v2 hierarchy are mounted."""
    cgroup_parent: str = "sandbox"
    """SANDBOX_CGROUP_PARENT: cgroup (under each controller) that holds the per-step cgroups."""
    require_cgroups: bool = False
    """SANDBOX_REQUIRE_CGROUPS=1: refuse to start rather than run degraded on rlimits only."""
    go_cache: Path = Path("/var/cache/sandbox/go-build")
    """SANDBOX_GO_CACHE: warm, read-only Go build cache (filled by devstack/runtimes.sh)."""
    use_launcher: bool = True
    """SANDBOX_USE_LAUNCHER=0: spawn with fork + preexec_fn instead of the vfork-able C shim."""
    cpus: float = 1.0
    """SANDBOX_CPUS: CPUs each step may use at once (the cgroup's CPU quota; may be fractional);
    0 sets no quota, and then one run's threads can take every core."""
    cpu_poll_ms: int = 20
    """SANDBOX_CPU_POLL_MS: how often total CPU time is checked against the limit."""
    max_source_bytes: int = 256 * 1024
    """SANDBOX_MAX_SOURCE_BYTES: largest source file accepted."""
    max_stdin_bytes: int = 1024 * 1024
    """SANDBOX_MAX_STDIN_BYTES: largest stdin accepted."""
    defaults: Limits = field(default_factory=Limits)
    """Limits used where a run gives none (SANDBOX_TIME_LIMIT_MS, SANDBOX_MEMORY_MB, ...)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        """Settings from `env` (default: os.environ); unset variables keep their defaults."""
        env = os.environ if env is None else env
        base = cls()
        defaults = Limits(
            time_limit_ms=_int(env, "SANDBOX_TIME_LIMIT_MS", base.defaults.time_limit_ms),
            memory_mb=_int(env, "SANDBOX_MEMORY_MB", base.defaults.memory_mb),
            stdout_bytes=_int(env, "SANDBOX_STDOUT_BYTES", base.defaults.stdout_bytes),
            stderr_bytes=_int(env, "SANDBOX_STDERR_BYTES", base.defaults.stderr_bytes),
            pids=_int(env, "SANDBOX_PIDS", base.defaults.pids),
            file_size_mb=_int(env, "SANDBOX_FILE_SIZE_MB", base.defaults.file_size_mb),
            workdir_mb=_int(env, "SANDBOX_WORKDIR_MB", base.defaults.workdir_mb),
        )
        return cls(
            slots=_int(env, "SANDBOX_SLOTS", base.slots),
            root=Path(env.get("SANDBOX_ROOT") or base.root),
            bwrap=env.get("SANDBOX_BWRAP") or base.bwrap,
            uid=_int(env, "SANDBOX_UID", base.uid),
            gid=_int(env, "SANDBOX_GID", base.gid),
            cgroup_root=Path(env.get("SANDBOX_CGROUP_ROOT") or base.cgroup_root),
            cgroup_parent=env.get("SANDBOX_CGROUP_PARENT") or base.cgroup_parent,
            require_cgroups=env.get("SANDBOX_REQUIRE_CGROUPS", "") in ("1", "true", "yes"),
            go_cache=Path(env.get("SANDBOX_GO_CACHE") or base.go_cache),
            use_launcher=env.get("SANDBOX_USE_LAUNCHER", "1") not in ("0", "false", "no"),
            cpus=float(env.get("SANDBOX_CPUS") or base.cpus),
            cpu_poll_ms=_int(env, "SANDBOX_CPU_POLL_MS", base.cpu_poll_ms),
            max_source_bytes=_int(env, "SANDBOX_MAX_SOURCE_BYTES", base.max_source_bytes),
            max_stdin_bytes=_int(env, "SANDBOX_MAX_STDIN_BYTES", base.max_stdin_bytes),
            defaults=defaults,
        )
