"""Test cases in the sandbox: compiled once, run once per case, each in a box of its own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sandbox import ErrorCode, Limits, Result, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")


@dataclass(frozen=True)
class Seen:
    index: int
    result: Result


def keep(index: int, result: Result) -> Seen:
    return Seen(index, result)


DOUBLE_C = (
    "#include <stdio.h>\n#include <stdlib.h>\n"
    'int main(void) { long n; if (scanf("%ld", &n) != 1) return 4;\n'
    "  if (n < 0) abort();\n  if (n == 0) for (volatile long i = 1; i; i++) {}\n"
    '  printf("%ld\\n", 2 * n); return 0; }\n'
)


async def test_compiled_once_then_each_case_runs_with_its_stdin(sandbox: Sandbox) -> None:
    stdins = ["21", "-1", "0", "5"]
    seen = await sandbox.run_cases("c", DOUBLE_C, stdins, keep, Limits(time_limit_ms=300))
    assert isinstance(seen, list), seen
    assert [s.index for s in seen] == [0, 1, 2, 3]
    first, crash, endless, last = (s.result for s in seen)
    assert (first.status, first.stdout, first.exit_code) == (Status.COMPLETED, "42\n", 0)
    assert (crash.error_code, crash.signal) == (ErrorCode.RUNTIME, 6)  # SIGABRT
    assert (endless.status, endless.error_code) == (Status.TIMEOUT, ErrorCode.TIME)
    assert 300 <= (endless.cpu_time_ms or 0) < 2000  # its own limit, not the run's total
    assert (last.status, last.stdout) == (Status.COMPLETED, "10\n")  # after a timeout, as fresh
    # One compile step: every case reports the same one.
    assert len({s.result.compile_time_ms for s in seen}) == 1
    assert first.compile_time_ms is not None


async def test_a_case_cannot_leave_anything_for_the_next(sandbox: Sandbox) -> None:
    """Hostile: each case looks for what the one before left in /box and /tmp, then leaves a
    file in both and rewrites its own program (a judge must not see answers carried over)."""
    source = (
        "import os, sys\n"
        "print(sorted(os.listdir('.')), sorted(os.listdir('/tmp')))\n"
        "open('left', 'w').write('x')\nopen('/tmp/left', 'w').write('x')\n"
        "open(sys.argv[0], 'w').write('print(\"rewritten\")')\n"
    )
    seen = await sandbox.run_cases("python", source, ["", "", ""], keep)
    assert isinstance(seen, list), seen
    assert [s.result.stdout for s in seen] == ["['main.py'] []\n"] * 3


async def test_a_binary_replaced_by_a_case_is_whole_for_the_next(sandbox: Sandbox) -> None:
    source = (
        "#include <stdio.h>\nint main(int argc, char **argv) {\n"
        '  if (remove(argv[0]) != 0) { puts("kept"); return 1; }\n'
        '  FILE *self = fopen(argv[0], "w");\n'
        '  if (!self || fputs("garbage", self) < 0 || fclose(self) != 0) return 2;\n'
        '  puts("replaced"); return 0; }\n'
    )
    seen = await sandbox.run_cases("c", source, ["", "", ""], keep)
    assert isinstance(seen, list), seen
    # Each case could replace the binary, and each next one still ran the compiled program.
    assert [(s.result.status, s.result.stdout) for s in seen] == [
        (Status.COMPLETED, "replaced\n")
    ] * 3, seen


async def test_a_compile_error_ends_the_run_before_any_case(sandbox: Sandbox) -> None:
    calls: list[int] = []

    def judge(index: int, result: Result) -> None:
        calls.append(index)

    ended = await sandbox.run_cases("c", "int main(void) { return nope; }", ["1", "2"], judge)
    assert isinstance(ended, Result)
    assert ended.error_code is ErrorCode.COMPILE and "nope" in ended.compile_output
    assert calls == []


async def test_a_syntax_error_ends_the_run_as_a_compile_error(sandbox: Sandbox) -> None:
    ended = await sandbox.run_cases("python", "def broken(:\n", ["1", "2"], keep)
    assert isinstance(ended, Result)
    assert ended.error_code is ErrorCode.COMPILE and "SyntaxError" in ended.compile_output


async def test_a_runtime_error_is_checked_once_and_stays_a_runtime_error(
    sandbox: Sandbox,
) -> None:
    seen = await sandbox.run_cases(
        "python", "raise SystemExit(int(input()))", ["3", "0", "5"], keep
    )
    assert isinstance(seen, list), seen
    assert [s.result.error_code for s in seen] == [ErrorCode.RUNTIME, None, ErrorCode.RUNTIME]
    assert [s.result.exit_code for s in seen] == [3, 0, 5]
