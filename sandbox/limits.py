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


@dataclass(frozen=True)
class Limits:
    """What one run may use; the run step and the compile step each have their own time/memory."""

    time_limit_ms: int = 5000
    """CPU time of all processes together, and wall time unless `wall_time_limit_ms` is set."""
    wall_time_limit_ms: int | None = None
    """Wall-clock limit of the run step; defaults to `time_limit_ms`."""
    memory_mb: int = 256
    """Memory (RSS + page cache + tmpfs) of all processes together; the JVM gets it as its heap."""
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
    compile_time_limit_ms: int = 30_000
    """Wall and CPU time of the compile step."""
    compile_memory_mb: int = 1024
    """Memory of the compile step."""

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
        return self.wall_time_limit_ms or self.time_limit_ms

    def with_changes(self, **changes: Any) -> Limits:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)
