"""Turns the measured outcome of the compile and run steps into a Result (pure, no I/O)."""

from __future__ import annotations

import re

from sandbox.registry import Language
from sandbox.result import ErrorCode, Result, Status
from sandbox.step import StepOutcome

COMPILE_TIMEOUT_NOTE = "\n[compilation stopped: time limit exceeded]"
COMPILE_MEMORY_NOTE = "\n[compilation stopped: memory limit exceeded]"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _ok(step: StepOutcome) -> bool:
    return step.exit_code == 0 and step.signal is None and step.stopped is None


def _search(regex: str | None, text: str) -> bool:
    return bool(regex) and re.search(regex, text, re.MULTILINE) is not None  # type: ignore[arg-type]


def system_error(message: str, enforced: tuple[str, ...] = (), compile_output: str = "") -> Result:
    """A run the infrastructure failed (E005): the caller may retry it."""
    return Result(
        status=Status.FAILED, error_code=ErrorCode.SYSTEM, exit_code=None, signal=None,
        stdout="", stderr=message, compile_output=compile_output, stdout_truncated=False,
        stderr_truncated=False, execution_time_ms=None, compile_time_ms=None, cpu_time_ms=None,
        memory_peak_kb=None, enforced=enforced,
    )  # fmt: skip


def compile_failed(step: StepOutcome) -> bool:
    return not _ok(step)


def classify(
    language: Language,
    compiled: StepOutcome | None,
    ran: StepOutcome | None,
    enforced: tuple[str, ...] = (),
) -> Result:
    """The Result of a run: a failed compile stops there (E001); otherwise the run step decides."""
    compile_output = _text(compiled.stdout) if compiled else ""
    compile_ms = compiled.wall_ms if compiled else None
    if compiled is not None and compiled.setup_failed:
        return system_error(compile_output.strip(), enforced)
    if compiled is not None and compile_failed(compiled):
        if compiled.stopped is not None:
            compile_output += COMPILE_TIMEOUT_NOTE
        elif compiled.oom_killed:
            compile_output += COMPILE_MEMORY_NOTE
        return Result(
            status=Status.FAILED, error_code=ErrorCode.COMPILE, exit_code=compiled.exit_code,
            signal=compiled.signal, stdout="", stderr="", compile_output=compile_output,
            stdout_truncated=False, stderr_truncated=False, execution_time_ms=None,
            compile_time_ms=compile_ms, cpu_time_ms=None, memory_peak_kb=None, enforced=enforced,
        )  # fmt: skip
    if ran is None:
        return system_error("the program did not run", enforced, compile_output)
    stderr = _text(ran.stderr)
    if ran.setup_failed:
        return system_error(stderr.strip(), enforced, compile_output)
    status, code = Status.FAILED, ErrorCode.RUNTIME
    if ran.oom_killed or (not _ok(ran) and _search(language.out_of_memory_regex, stderr)):
        code = ErrorCode.MEMORY
    elif ran.stopped is not None:
        status, code = Status.TIMEOUT, ErrorCode.TIME
    elif _ok(ran):
        status, code = Status.COMPLETED, None  # type: ignore[assignment]
    elif _search(language.syntax_error_regex, stderr):
        # Interpreters report syntax errors when they start: that is the compile step they have.
        code = ErrorCode.COMPILE
        compile_output = stderr
    return Result(
        status=status, error_code=code, exit_code=ran.exit_code, signal=ran.signal,
        stdout=_text(ran.stdout), stderr=stderr, compile_output=compile_output,
        stdout_truncated=ran.stdout_truncated, stderr_truncated=ran.stderr_truncated,
        execution_time_ms=ran.wall_ms, compile_time_ms=compile_ms, cpu_time_ms=ran.cpu_ms,
        memory_peak_kb=ran.memory_peak_kb, enforced=enforced,
    )  # fmt: skip
