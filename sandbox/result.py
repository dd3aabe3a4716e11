"""The outcome of one run: status, error code, output and measurements."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Terminal state of a run."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"


class ErrorCode(StrEnum):
    """Why a run did not complete (see docs/architecture.md; E006 belongs to the safety agent)."""

    COMPILE = "E001"
    RUNTIME = "E002"
    MEMORY = "E003"
    TIME = "E004"
    SYSTEM = "E005"


@dataclass(frozen=True)
class Result:
    """Everything a client learns about a finished run."""

    status: Status
    error_code: ErrorCode | None
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    compile_output: str
    stdout_truncated: bool
    stderr_truncated: bool
    execution_time_ms: int | None
    compile_time_ms: int | None
    cpu_time_ms: int | None
    memory_peak_kb: int | None
    # Of the run step's processes, from the kernel (see sandbox.spawn.Usage); None if unknown.
    read_bytes: int | None = None
    written_bytes: int | None = None
    voluntary_context_switches: int | None = None
    involuntary_context_switches: int | None = None
    enforced: tuple[str, ...] = ()
    # The outputs (stdout, stderr, compile_output) whose bytes were not all UTF-8: their text
    # shows U+FFFD for the bytes that were not.
    invalid_utf8: tuple[str, ...] = ()
    # The run step was handed to a warm sandbox (sandbox/pool.py): its times count from the
    # hand-over, not from the interpreter's start.
    warm_start: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums as their strings, `enforced` as a list)."""
        data = asdict(self)
        data["status"] = self.status.value
        data["error_code"] = self.error_code.value if self.error_code else None
        data["enforced"] = list(self.enforced)
        data["invalid_utf8"] = list(self.invalid_utf8)
        return data
