"""Turns the measured outcome of the compile, run and check steps into a Result (pure, no I/O).

Nothing the program prints or returns can make its run out of memory (E003) or a compile error
(E001): E003 comes only from the kernel's counters of the run's cgroup, E001 only from a compiler
or syntax checker the sandbox ran itself on the submitted source. So this module never reads the
program's output, and does not need to know its language.
"""

from __future__ import annotations

from sandbox.limits import MIB
from sandbox.result import ErrorCode, Result, Status
from sandbox.step import StepOutcome, StepSpec, Stop


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _not_utf8(**outputs: bytes) -> tuple[str, ...]:
    """The names of the outputs that are not UTF-8 (shown with U+FFFD by `_text`)."""
    invalid = []
    for name, data in outputs.items():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            invalid.append(name)
    return tuple(invalid)


def _ok(step: StepOutcome) -> bool:
    return step.exit_code == 0 and step.signal is None and step.stopped is None


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


def check_failed(step: StepOutcome) -> bool:
    """The syntax checker ran to its end and rejected the source. A checker stopped by its limits,
    killed, or never started says nothing about the source."""
    return (
        not step.setup_failed
        and step.stopped is None
        and step.signal is None
        and not step.at_memory_limit
        and step.exit_code not in (0, None)
    )


def _compile_note(compiled: StepOutcome, spec: StepSpec | None) -> str:
    """Why the compiler was stopped, with the bound it was given (derived from the run's limits:
    a user who sees it knows a larger request gets a larger compile)."""
    if compiled.stopped is not None:
        bound = ""
        if spec is not None:
            bound = (f" of {spec.cpu_ms} ms CPU" if compiled.stopped is Stop.CPU
                     else f" of {spec.wall_ms} ms wall-clock")  # fmt: skip
        return f"\n[compilation stopped: time limit{bound} exceeded]"
    if compiled.at_memory_limit:
        bound = f" of {spec.memory_bytes // MIB} MB" if spec is not None else ""
        return f"\n[compilation stopped: memory limit{bound} exceeded]"
    return ""


def classify(
    compiled: StepOutcome | None,
    ran: StepOutcome | None,
    enforced: tuple[str, ...] = (),
    checked: StepOutcome | None = None,
    compile_spec: StepSpec | None = None,
) -> Result:
    """The Result of a run: a failed compile stops there (E001); otherwise the run step decides,
    and a run that would be a runtime error (E002) is a syntax error (E001) instead when the
    syntax check (`checked`, run only then: see runner.py) rejected the submitted source.
    `compile_spec`, the compile step's limits, only words the note of a stopped compile."""
    compile_output = _text(compiled.stdout) if compiled else ""
    compile_ms = compiled.wall_ms if compiled else None
    if compiled is not None and compiled.setup_failed:
        return system_error(compile_output.strip(), enforced)
    if compiled is not None and compile_failed(compiled):
        compile_output += _compile_note(compiled, compile_spec)
        return Result(
            status=Status.FAILED, error_code=ErrorCode.COMPILE, exit_code=compiled.exit_code,
            signal=compiled.signal, stdout="", stderr="", compile_output=compile_output,
            stdout_truncated=False, stderr_truncated=False, execution_time_ms=None,
            compile_time_ms=compile_ms, cpu_time_ms=None, memory_peak_kb=None, enforced=enforced,
            invalid_utf8=_not_utf8(compile_output=compiled.stdout),
        )  # fmt: skip
    if ran is None:
        return system_error("the program did not run", enforced, compile_output)
    stderr = _text(ran.stderr)
    if ran.setup_failed:
        return system_error(stderr.strip(), enforced, compile_output)
    status, code = Status.FAILED, ErrorCode.RUNTIME
    if ran.oom_killed:
        code = ErrorCode.MEMORY
    elif ran.stopped is not None:
        status, code = Status.TIMEOUT, ErrorCode.TIME
    elif _ok(ran):
        status, code = Status.COMPLETED, None  # type: ignore[assignment]
    elif ran.at_memory_limit:
        # Failed after its usage reached the limit: the runtime gave up on an allocation the
        # cgroup refused (a kernel counter, not a message the program printed).
        code = ErrorCode.MEMORY
    elif checked is not None and check_failed(checked):
        code = ErrorCode.COMPILE
        compile_output = _text(checked.stdout)
        compile_ms = checked.wall_ms
    compile_bytes = compiled.stdout if compiled else b""
    if code is ErrorCode.COMPILE and checked is not None:  # the checker's output, as above
        compile_bytes = checked.stdout
    return Result(
        status=status, error_code=code, exit_code=ran.exit_code, signal=ran.signal,
        stdout=_text(ran.stdout), stderr=stderr, compile_output=compile_output,
        stdout_truncated=ran.stdout_truncated, stderr_truncated=ran.stderr_truncated,
        execution_time_ms=ran.wall_ms, compile_time_ms=compile_ms, cpu_time_ms=ran.cpu_ms,
        memory_peak_kb=ran.memory_peak_kb, enforced=enforced, warm_start=ran.warm, **_usage(ran),
        invalid_utf8=_not_utf8(stdout=ran.stdout, stderr=ran.stderr, compile_output=compile_bytes),
    )  # fmt: skip


def _usage(ran: StepOutcome) -> dict[str, int | None]:
    usage = ran.usage
    if usage is None:
        return {}
    return {
        "read_bytes": usage.read_bytes, "written_bytes": usage.written_bytes,
        "voluntary_context_switches": usage.voluntary_context_switches,
        "involuntary_context_switches": usage.involuntary_context_switches,
    }  # fmt: skip
