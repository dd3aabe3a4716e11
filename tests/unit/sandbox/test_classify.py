"""How step outcomes become statuses and error codes."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox import ErrorCode, Status
from sandbox.classify import classify
from sandbox.step import StepOutcome, StepSpec, Stop, started_exit_code

OK = StepOutcome(exit_code=0, signal=None, stdout=b"out", stderr=b"", stdout_truncated=False,
                 stderr_truncated=False, wall_ms=10, cpu_ms=5, memory_peak_kb=100,
                 oom_killed=False, stopped=None, setup_failed=False)  # fmt: skip


def step(**changes: object) -> StepOutcome:
    return dataclasses.replace(OK, **changes)  # type: ignore[arg-type]


def test_success() -> None:
    result = classify(None, OK)
    assert (result.status, result.error_code, result.stdout) == (Status.COMPLETED, None, "out")


def test_compile_failure_stops_before_running() -> None:
    result = classify(step(exit_code=1, stdout=b"main.c:1: error"), None)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE)
    assert result.compile_output == "main.c:1: error" and result.execution_time_ms is None


def test_compile_timeout_is_a_compile_error_with_a_note() -> None:
    result = classify(step(exit_code=None, signal=9, stopped=Stop.WALL), None)
    assert result.error_code is ErrorCode.COMPILE and "time limit" in result.compile_output


def test_a_stopped_compile_names_the_bound_it_was_given() -> None:
    spec = StepSpec(argv=["cc"], pass_fds=(), stdin=b"", wall_ms=16_500, cpu_ms=8000,
                    memory_bytes=128 << 20, pids=64, rlimits=(), stdout_cap=1 << 20,
                    stderr_cap=None, purpose="compile")  # fmt: skip
    cpu = classify(step(exit_code=None, signal=9, stopped=Stop.CPU), None, compile_spec=spec)
    assert cpu.compile_output.endswith("[compilation stopped: time limit of 8000 ms CPU exceeded]")
    oom = step(exit_code=1, stdout=b"cc1: out of memory", at_memory_limit=True)
    memory = classify(oom, None, compile_spec=spec)
    assert memory.error_code is ErrorCode.COMPILE
    assert (
        memory.compile_output
        == "cc1: out of memory\n[compilation stopped: memory limit of 128 MB exceeded]"
    )


def test_timeout_and_memory() -> None:
    assert classify(OK, step(stopped=Stop.CPU, signal=9)).status is Status.TIMEOUT
    oom = classify(OK, step(oom_killed=True, signal=9, exit_code=None))
    assert (oom.status, oom.error_code) == (Status.FAILED, ErrorCode.MEMORY)


def test_a_printed_out_of_memory_error_is_a_runtime_error() -> None:
    java_oom = step(exit_code=1, stderr=b'Exception in thread "main" java.lang.OutOfMemoryError')
    assert classify(OK, java_oom).error_code is ErrorCode.RUNTIME


def test_a_failure_at_the_cgroup_memory_limit_is_out_of_memory() -> None:
    # The runtime gave up after the kernel refused a charge at the limit, without an OOM kill.
    at_limit = step(exit_code=1, at_memory_limit=True)
    assert classify(None, at_limit).error_code is ErrorCode.MEMORY
    # Reclaiming page cache at the limit is no failure: a successful run stays a success.
    assert classify(None, step(at_memory_limit=True)).status is Status.COMPLETED
    # Stopped on time while at the limit: the time limit is what ended it.
    stopped = step(exit_code=None, signal=9, stopped=Stop.CPU, at_memory_limit=True)
    assert classify(None, stopped).error_code is ErrorCode.TIME


SYNTAX = (
    b"  File \"/box/main.py\", line 1\n    print(\n         ^\nSyntaxError: '(' was never closed\n"
)


def test_a_printed_syntax_error_is_a_runtime_error() -> None:
    result = classify(None, step(exit_code=1, stderr=SYNTAX))
    assert result.error_code is ErrorCode.RUNTIME and result.compile_output == ""


def test_a_syntax_error_comes_from_the_failed_syntax_check() -> None:
    checked = step(exit_code=1, stdout=b'  File "main.py", line 1\nSyntaxError: never closed\n',
                   wall_ms=30)  # fmt: skip
    result = classify(None, step(exit_code=1, stderr=SYNTAX), checked=checked)
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE)
    assert result.compile_output.startswith('  File "main.py"') and result.compile_time_ms == 30
    assert result.stderr == SYNTAX.decode() and result.exit_code == 1


@pytest.mark.parametrize(
    "checked",
    [OK, step(exit_code=None, signal=9, stopped=Stop.WALL), step(exit_code=None, signal=9),
     step(exit_code=None, signal=9, oom_killed=True, at_memory_limit=True),
     step(exit_code=1, setup_failed=True)],
    ids=["passed", "stopped", "killed", "out-of-memory", "never-started"],
)  # fmt: skip
def test_a_check_that_passed_or_did_not_finish_leaves_a_runtime_error(
    checked: StepOutcome,
) -> None:
    result = classify(None, step(exit_code=1, stderr=SYNTAX), checked=checked)
    assert result.error_code is ErrorCode.RUNTIME and result.compile_output == ""


def test_signal_and_exit_code_are_runtime_errors() -> None:
    assert classify(OK, step(exit_code=3)).error_code is ErrorCode.RUNTIME
    assert classify(OK, step(exit_code=None, signal=11)).error_code is ErrorCode.RUNTIME


def test_bwrap_setup_failure_is_a_system_error() -> None:
    result = classify(None, step(exit_code=1, stderr=b"bwrap: x", setup_failed=True))
    assert result.error_code is ErrorCode.SYSTEM


def test_to_dict_is_plain_json() -> None:
    data = classify(None, OK, ("memory",)).to_dict()
    assert data["status"] == "COMPLETED" and data["error_code"] is None
    assert data["enforced"] == ["memory"]


def test_only_an_exit_code_on_the_status_fd_means_the_command_started() -> None:
    pid = b'{ "child-pid": 12, "pid-namespace": 4026532333 }\n'
    assert started_exit_code(pid) is None  # spawned, but setup failed before the command
    assert started_exit_code(pid + b'{ "exit-code": 3 }\n') == 3
    assert started_exit_code(b'{"exit-code": "1"}\ngarbage\n') is None


def test_outputs_that_are_not_utf8_are_named() -> None:
    # A program may print any bytes: the text shows U+FFFD for them, and the result says which
    # outputs held some (a Judge0 client must then ask for Base64), never guessing from U+FFFD.
    result = classify(None, step(stdout=b"ok \xfe", stderr="\ufffd".encode()))
    assert result.stdout == "ok \ufffd" and result.invalid_utf8 == ("stdout",)
    clean = classify(None, OK)
    assert clean.invalid_utf8 == ()
    failed = classify(step(exit_code=1, stdout=b"\xff"), None)
    assert failed.invalid_utf8 == ("compile_output",)
