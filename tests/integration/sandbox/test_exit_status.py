"""Exit statuses the program controls, and system errors (E005, retried by the engine) it must
not be able to fake: only bwrap's --json-status-fd, out of the program's reach, says it started.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sandbox import ErrorCode, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")
FAKE_SETUP_ERROR = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"


async def test_a_program_printing_a_bwrap_error_and_exiting_1_is_a_runtime_error(
    sandbox: Sandbox,
) -> None:
    result = await sandbox.run("bash", f'echo "{FAKE_SETUP_ERROR}" >&2\nexit 1\n')
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert (result.exit_code, result.signal) == (1, None)
    assert result.stderr.startswith("bwrap: ")


async def test_the_fake_error_on_stdout_or_from_a_child_is_a_runtime_error_too(
    sandbox: Sandbox,
) -> None:
    src = (
        f"import os, sys\nprint({FAKE_SETUP_ERROR!r}, flush=True)\n"
        f"if os.fork() == 0:\n    os.write(2, {FAKE_SETUP_ERROR.encode()!r})\n    os._exit(1)\n"
        "os.wait()\nsys.exit(1)\n"
    )
    result = await sandbox.run("python", src)
    assert result.stdout.startswith("bwrap: ") and result.stderr.startswith("bwrap: ")
    assert (result.error_code, result.exit_code) == (ErrorCode.RUNTIME, 1), result


async def test_a_program_that_closes_every_descriptor_still_counts_as_started(
    sandbox: Sandbox,
) -> None:
    # Nothing the program can reach is the status pipe: closing all it has changes nothing.
    src = "import os\nos.closerange(0, 1024)\nos._exit(1)\n"
    result = await sandbox.run("python", src)
    assert (result.error_code, result.exit_code) == (ErrorCode.RUNTIME, 1), result


async def test_a_real_setup_failure_is_a_system_error(sandbox: Sandbox) -> None:
    # bwrap cannot bind the stand-in /etc files: it fails before the command starts.
    broken = Sandbox(dataclasses.replace(sandbox.settings, warm_max=0))
    broken._etc = Path("/nonexistent-sandbox-etc")
    try:
        result = await broken.run("bash", "echo never\n")
    finally:
        broken.close()
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.SYSTEM), result
    assert "bwrap: " in result.stderr and result.stdout == ""


async def test_exit_codes_come_through(sandbox: Sandbox) -> None:
    for code in (0, 1, 2, 127, 128):
        result = await sandbox.run("bash", f"exit {code}\n")
        assert (result.exit_code, result.signal) == (code, None), (code, result)


async def test_a_program_killed_by_a_signal_reports_the_signal(sandbox: Sandbox) -> None:
    result = await sandbox.run("bash", "kill -INT $$\nsleep 1\n")
    # bash ignores a SIGINT it sends itself while interactive only: here it dies of it.
    assert (result.error_code, result.exit_code, result.signal) == (ErrorCode.RUNTIME, None, 2)
    segv = await sandbox.run("python", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert (segv.exit_code, segv.signal) == (None, 11)


async def test_exit_130_is_indistinguishable_from_sigint(sandbox: Sandbox) -> None:
    # Documented limit: bwrap's init and its status fd both fold "killed by signal N" into
    # 128 + N (the shell convention), so exit(130) is reported like SIGINT (see step.py).
    result = await sandbox.run("python", "import sys\nsys.exit(130)\n")
    assert (result.error_code, result.exit_code, result.signal) == (ErrorCode.RUNTIME, None, 2)
