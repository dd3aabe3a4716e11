"""How step outcomes become statuses and error codes."""

from __future__ import annotations

import dataclasses

from sandbox import ErrorCode, Status, registry
from sandbox.classify import classify
from sandbox.registry import Language
from sandbox.step import StepOutcome, Stop, started_exit_code

OK = StepOutcome(exit_code=0, signal=None, stdout=b"out", stderr=b"", stdout_truncated=False,
                 stderr_truncated=False, wall_ms=10, cpu_ms=5, memory_peak_kb=100,
                 oom_killed=False, stopped=None, setup_failed=False)  # fmt: skip


def lang(key: str) -> Language:
    found = registry().get(key)
    assert found is not None
    return found


def step(**changes: object) -> StepOutcome:
    return dataclasses.replace(OK, **changes)  # type: ignore[arg-type]


def test_success() -> None:
    result = classify(lang("python"), None, OK)
    assert (result.status, result.error_code, result.stdout) == (Status.COMPLETED, None, "out")


def test_compile_failure_stops_before_running() -> None:
    result = classify(lang("c"), step(exit_code=1, stdout=b"main.c:1: error"), None)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE)
    assert result.compile_output == "main.c:1: error" and result.execution_time_ms is None


def test_compile_timeout_is_a_compile_error_with_a_note() -> None:
    result = classify(lang("c"), step(exit_code=None, signal=9, stopped=Stop.WALL), None)
    assert result.error_code is ErrorCode.COMPILE and "time limit" in result.compile_output


def test_timeout_and_memory() -> None:
    assert classify(lang("c"), OK, step(stopped=Stop.CPU, signal=9)).status is Status.TIMEOUT
    oom = classify(lang("c"), OK, step(oom_killed=True, signal=9, exit_code=None))
    assert (oom.status, oom.error_code) == (Status.FAILED, ErrorCode.MEMORY)


def test_runtime_out_of_memory_message_counts_as_memory() -> None:
    java_oom = step(exit_code=1, stderr=b'Exception in thread "main" java.lang.OutOfMemoryError')
    assert classify(lang("java"), OK, java_oom).error_code is ErrorCode.MEMORY


def test_interpreter_syntax_error_is_a_compile_error() -> None:
    syntax = b"  File \"/box/main.py\", line 1\n    print(\n         ^\nSyntaxError: '(' was never closed\n"
    result = classify(lang("python"), None, step(exit_code=1, stderr=syntax))
    assert result.error_code is ErrorCode.COMPILE and "SyntaxError" in result.compile_output
    runtime = b'Traceback (most recent call last):\n  File "/box/main.py", line 1\nSyntaxError: x\n'
    assert classify(lang("python"), None, step(exit_code=1, stderr=runtime)).error_code is (
        ErrorCode.RUNTIME
    )


def test_signal_and_exit_code_are_runtime_errors() -> None:
    assert classify(lang("c"), OK, step(exit_code=3)).error_code is ErrorCode.RUNTIME
    assert classify(lang("c"), OK, step(exit_code=None, signal=11)).error_code is ErrorCode.RUNTIME


def test_bwrap_setup_failure_is_a_system_error() -> None:
    result = classify(lang("c"), None, step(exit_code=1, stderr=b"bwrap: x", setup_failed=True))
    assert result.error_code is ErrorCode.SYSTEM


def test_to_dict_is_plain_json() -> None:
    data = classify(lang("bash"), None, OK, ("memory",)).to_dict()
    assert data["status"] == "COMPLETED" and data["error_code"] is None
    assert data["enforced"] == ["memory"]


def test_only_an_exit_code_on_the_status_fd_means_the_command_started() -> None:
    pid = b'{ "child-pid": 12, "pid-namespace": 4026532333 }\n'
    assert started_exit_code(pid) is None  # spawned, but setup failed before the command
    assert started_exit_code(pid + b'{ "exit-code": 3 }\n') == 3
    assert started_exit_code(b'{"exit-code": "1"}\ngarbage\n') is None
