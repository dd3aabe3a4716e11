"""The limits a run may ask for: declared once, enforced by the API (422/413) and by the safety
agent (E006) for events that did not come through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from config import Settings, SettingsError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Violation:
    """Which field is out of bounds and why; `too_large` for sizes (HTTP 413), else range (422)."""

    field: str
    value: int
    message: str
    too_large: bool = False


class RunPolicy(Settings, frozen=True, kw_only=True):
    """Defaults and ranges of a run's limits, and the largest source and stdin accepted."""

    default_time_limit_ms: Annotated[
        int, Meta(ge=1, description="CPU time limit of a run that asks for none")
    ] = 5000
    min_time_limit_ms: Annotated[
        int, Meta(ge=1, description="smallest time_limit_ms a run may ask for")
    ] = 100
    max_time_limit_ms: Annotated[
        int, Meta(ge=1, le=3_600_000, description="largest time_limit_ms a run may ask for")
    ] = 60_000
    default_memory_mb: Annotated[
        int, Meta(ge=1, description="memory limit of a run that asks for none")
    ] = 256
    min_memory_mb: Annotated[
        int, Meta(ge=1, description="smallest memory_mb a run may ask for")
    ] = 32
    max_memory_mb: Annotated[
        int, Meta(ge=1, le=65_536, description="largest memory_mb a run may ask for")
    ] = 2048
    max_source_bytes: Annotated[
        int, Meta(ge=1, le=16 * MIB, description="largest source code (UTF-8 bytes); 413 beyond")
    ] = 256 * KIB
    max_args: Annotated[
        int, Meta(ge=0, le=4096, description="command-line arguments a run may pass its program")
    ] = 64
    max_args_bytes: Annotated[
        int, Meta(ge=0, le=MIB, description="their total size (UTF-8 bytes); 413 beyond")
    ] = 16 * KIB
    max_stdin_bytes: Annotated[
        int, Meta(ge=0, le=16 * MIB, description="largest stdin (UTF-8 bytes); 413 beyond")
    ] = MIB
    max_test_cases: Annotated[
        int, Meta(ge=0, le=1024, description="test cases one run may carry; 422 beyond")
    ] = 32
    max_test_cases_bytes: Annotated[
        int,
        Meta(
            ge=0,
            le=16 * MIB,
            description="their stdin and expected output together (UTF-8 bytes); 422 beyond",
        ),
    ] = MIB

    def check(self) -> None:
        for name in ("time_limit_ms", "memory_mb"):
            low, default, high = (getattr(self, f"{p}_{name}") for p in ("min", "default", "max"))
            if not low <= default <= high:
                raise SettingsError(
                    f"DEFAULT_{name.upper()}",
                    default,
                    f"expected MIN_{name.upper()} ({low}) <= it <= MAX_{name.upper()} ({high})",
                )

    def violation(
        self,
        *,
        time_limit_ms: int,
        memory_mb: int,
        source_bytes: int,
        stdin_bytes: int,
        args: list[str] | None = None,
        case_count: int = 0,
        case_bytes: int = 0,
    ) -> Violation | None:
        """The first limit the run breaks, or None. `case_count` and `case_bytes`: its test
        cases, and the UTF-8 bytes of their stdin and expected output together."""
        args = args or []
        if case_count > self.max_test_cases:
            return Violation(
                "test_cases", case_count, f"at most {self.max_test_cases} test cases per run"
            )
        if case_bytes > self.max_test_cases_bytes:
            return Violation(
                "test_cases",
                case_bytes,
                f"the test cases' stdin and expected output are {case_bytes} bytes; the limit "
                f"is {self.max_test_cases_bytes}",
            )
        if len(args) > self.max_args:
            return Violation("args", len(args), f"at most {self.max_args} arguments")
        if any("\x00" in arg for arg in args):
            return Violation("args", len(args), "an argument contains a NUL character")
        args_bytes = sum(len(arg.encode()) for arg in args)
        if args_bytes > self.max_args_bytes:
            return Violation(
                "args",
                args_bytes,
                f"the arguments are {args_bytes} bytes; the limit is {self.max_args_bytes}",
                too_large=True,
            )
        if source_bytes > self.max_source_bytes:
            return Violation(
                "source_code",
                source_bytes,
                f"source code is {source_bytes} bytes; the limit is {self.max_source_bytes}",
                too_large=True,
            )
        if stdin_bytes > self.max_stdin_bytes:
            return Violation(
                "stdin",
                stdin_bytes,
                f"stdin is {stdin_bytes} bytes; the limit is {self.max_stdin_bytes}",
                too_large=True,
            )
        if not self.min_time_limit_ms <= time_limit_ms <= self.max_time_limit_ms:
            return Violation(
                "time_limit_ms",
                time_limit_ms,
                f"time_limit_ms must be between {self.min_time_limit_ms} and {self.max_time_limit_ms}",
            )
        if not self.min_memory_mb <= memory_mb <= self.max_memory_mb:
            return Violation(
                "memory_mb",
                memory_mb,
                f"memory_mb must be between {self.min_memory_mb} and {self.max_memory_mb}",
            )
        return None
