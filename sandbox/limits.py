"""Resource limits of one run, validated against the ranges the service accepts."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from sandbox.errors import InvalidLimits

MIB = 1024 * 1024

# (minimum, maximum) the sandbox itself can honour for each field. What a client may ask for is
# the engine's policy (config/limits.py), enforced before a run reaches the sandbox.
RANGES: dict[str, tuple[int, int]] = {
    "time_limit_ms": (1, 3_600_000),
    "wall_time_limit_ms": (1, 7_200_000),
    "memory_mb": (8, 65_536),
    "stdout_bytes": (1024, 64 * MIB),
    "stderr_bytes": (1024, 64 * MIB),
    "pids": (1, 4096),
    "file_size_mb": (1, 1024),
    "open_files": (16, 4096),
    "workdir_mb": (1, 4096),
    "compile_time_limit_ms": (100, 120_000),
    "compile_memory_mb": (32, 4096),
}

# The compile step (and the syntax check of an interpreted language) gets a multiple of the run's
# limits, at least its language's floor (`compile_floor_ms`/`compile_floor_mb` in its TOML: what a
# real program of a few hundred lines needs, measured) and at most the cap. So a 100 ms / 32 MB run
# no longer gets a 30 s / 1 GiB compile, and a larger request still gets a larger compile.
COMPILE_TIME_MULTIPLE = 4
"""Compile CPU time = 4 x the run's time limit (5 s run: 20 s compile)."""
COMPILE_MEMORY_MULTIPLE = 2
"""Compile memory = 2 x the run's memory (256 MB run: 512 MB compile)."""
COMPILE_TIME_CAP_MS = 30_000
COMPILE_MEMORY_CAP_MB = 1024

# Every step's wall-clock limit is a multiple of its CPU time limit plus a constant: a step gets
# one CPU (SANDBOX_CPUS), so CPU-bound work reaches its CPU limit first even on a host busy enough
# to give it only half a core, while a program that waits (sleep, a blocked read) is stopped
# after twice its CPU limit; the constant covers starting the sandbox and a runtime (a JVM) at the
# smallest limits.
WALL_MULTIPLE = 2
WALL_EXTRA_MS = 500


def wall_ms_for(cpu_ms: int) -> int:
    """The wall-clock limit of a step whose CPU time limit is `cpu_ms`."""
    return WALL_MULTIPLE * cpu_ms + WALL_EXTRA_MS


@dataclass(frozen=True)
class Limits:
    """What one run may use; the run step and the compile step each have their own time/memory."""

    time_limit_ms: int = 5000
    """CPU time of all processes together; the wall-clock limit is derived from it."""
    wall_time_limit_ms: int | None = None
    """Wall-clock limit of the run step; defaults to `wall_ms_for(time_limit_ms)` (2 x + 500 ms)."""
    memory_mb: int = 256
    """Memory (RSS + page cache + tmpfs) of all processes together; the JVM's heap starts at it."""
    stdout_bytes: int = MIB
    """Bytes of stdout kept; the rest is read and dropped, and `stdout_truncated` is set."""
    stderr_bytes: int = MIB
    """Bytes of stderr kept, as for stdout."""
    pids: int = 64
    """Processes and threads at once; a language may add to it (JVM, Go)."""
    file_size_mb: int = 64
    """Largest file a program may write (RLIMIT_FSIZE)."""
    open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    workdir_mb: int = 64
    """Size of the private working directory and of /tmp (each a tmpfs)."""
    compile_time_limit_ms: int | None = None
    """CPU time of the compile step; None (the default): derived, see `compile_bounds`. Set only
    by the operator (warming the Go cache), never from a request."""
    compile_memory_mb: int | None = None
    """Memory of the compile step; None (the default): derived, see `compile_bounds`."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidLimits(f"{f.name} must be an integer", field=f.name, value=value)
            low, high = RANGES[f.name]
            if not low <= value <= high:
                raise InvalidLimits(
                    f"{f.name} must be between {low} and {high}, got {value}",
                    field=f.name,
                    value=value,
                    minimum=low,
                    maximum=high,
                )

    @property
    def wall_ms(self) -> int:
        """Wall-clock limit of the run step."""
        return self.wall_time_limit_ms or wall_ms_for(self.time_limit_ms)

    def compile_bounds(self, floor_ms: int, floor_mb: int) -> tuple[int, int]:
        """CPU time (ms) and memory (MB) of the compile step: the multiples above of the run's
        limits, at least the language's floor, at most the cap (an explicit setting wins)."""
        time_ms = min(COMPILE_TIME_CAP_MS,
                      max(floor_ms, COMPILE_TIME_MULTIPLE * self.time_limit_ms))  # fmt: skip
        memory_mb = min(COMPILE_MEMORY_CAP_MB,
                        max(floor_mb, COMPILE_MEMORY_MULTIPLE * self.memory_mb))  # fmt: skip
        return (self.compile_time_limit_ms or time_ms, self.compile_memory_mb or memory_mb)

    def with_changes(self, **changes: Any) -> Limits:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)
