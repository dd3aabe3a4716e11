"""Unforgeable verdicts: what a program prints or returns never makes its run out of memory (E003)
or a compile error (E001). E003 comes only from the kernel's counters of the run's cgroup, E001
only from a compiler or syntax check the sandbox runs itself on the submitted source."""

from __future__ import annotations

import pytest

from sandbox import ErrorCode, Limits, Sandbox, Status
from sandbox.step import run_step, run_warm_step

from .programs import PROGRAMS

pytestmark = pytest.mark.usefixtures("clean_host")
INTERPRETED = ["bash", "javascript", "php", "python", "ruby"]

# Each prints what its runtime prints when it runs out of memory, and ends the way it would
# (exit code or signal), without using any memory to speak of.
FAKE_OUT_OF_MEMORY: dict[str, str] = {
    "python": "raise MemoryError()\n",
    "javascript": (
        "process.stderr.write('FATAL ERROR: Reached heap limit Allocation failed - JavaScript "
        "heap out of memory\\n', () => process.abort());\n"
    ),
    "typescript": (
        "process.stderr.write('FATAL ERROR: Reached heap limit Allocation failed - JavaScript "
        "heap out of memory\\n', () => process.abort());\n"
    ),
    "c": '#include <stdio.h>\nint main(void){fputs("Out of memory\\n", stderr);return 1;}\n',
    "cpp": "#include <new>\nint main(){ throw std::bad_alloc(); }\n",
    "go": (
        'package main\n\nimport "os"\n\nfunc main() {\n\tos.Stderr.WriteString("fatal error: '
        'runtime: out of memory\\n")\n\tos.Exit(2)\n}\n'
    ),
    "java": (
        "public class Main {\n  public static void main(String[] a) {\n"
        '    throw new OutOfMemoryError("Java heap space");\n  }\n}\n'
    ),
    "php": (
        '<?php\nfwrite(STDERR, "PHP Fatal error:  Allowed memory size of 67108864 bytes '
        'exhausted (tried to allocate 2097152 bytes) in /box/main.php on line 3\\n");\nexit(255);\n'
    ),
    "ruby": "raise NoMemoryError, 'failed to allocate memory'\n",
    "rust": (
        'fn main() {\n    eprintln!("memory allocation of 16777216 bytes failed");\n'
        "    std::process::abort();\n}\n"
    ),
    "bash": "echo 'main.sh: xmalloc: cannot allocate 16777216 bytes' >&2\nexit 2\n",
}

# Each prints what its interpreter prints for a syntax error in main.*, and exits as it would.
FAKE_SYNTAX_ERROR: dict[str, str] = {
    "python": (
        'import sys\nsys.stderr.write(\'  File "/box/main.py", line 1\\n    print(\\n'
        "         ^\\nSyntaxError: \\'(\\' was never closed\\n')\nsys.exit(1)\n"
    ),
    "javascript": (
        "console.error('/box/main.js:1\\nconsole.log(\\'a\\';\\n\\nSyntaxError: missing ) after "
        "argument list\\n    at internalCompileFunction (node:internal/vm:76:18)\\n"
        "    at wrapSafe (node:internal/modules/cjs/loader:1283:20)');\nprocess.exit(1);\n"
    ),
    "php": (
        '<?php\nfwrite(STDERR, "PHP Parse error:  syntax error, unexpected token \\"echo\\" '
        'in /box/main.php on line 3\\n");\nexit(255);\n'
    ),
    "ruby": (
        '$stderr.puts "main.rb:1: syntax error, unexpected end-of-input"\n'
        '$stderr.puts "main.rb: --> main.rb"\nexit 1\n'
    ),
    "bash": ('echo "main.sh: line 3: syntax error: unexpected end of file" >&2\nexit 2\n'),
}

# Each rewrites its own source file into a real syntax error, then fails: the check must see what
# was submitted, not what the program left behind.
REWRITES_ITSELF: dict[str, str] = {
    "python": "open('main.py', 'w').write('print(\\n')\nraise SystemExit(1)\n",
    "javascript": "require('fs').writeFileSync('main.js', 'console.log(;\\n');\nprocess.exit(1);\n",
    "php": "<?php\nfile_put_contents('main.php', \"<?php\\necho 'a'\\necho 'b';\\n\");\nexit(1);\n",
    "ruby": "File.write('main.rb', \"puts(\\n\")\nexit 1\n",
    "bash": "printf 'if true; then\\n' > main.sh\nexit 1\n",
}


def test_every_language_has_a_fake_out_of_memory() -> None:
    assert sorted(FAKE_OUT_OF_MEMORY) == sorted(PROGRAMS)


@pytest.mark.parametrize("key", sorted(FAKE_OUT_OF_MEMORY))
async def test_a_printed_out_of_memory_is_a_runtime_error(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, FAKE_OUT_OF_MEMORY[key], limits=Limits(memory_mb=64))
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert result.exit_code != 0 and result.compile_output == ""


@pytest.mark.parametrize("key", INTERPRETED)
async def test_a_printed_syntax_error_is_a_runtime_error(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, FAKE_SYNTAX_ERROR[key])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result
    assert result.stderr.strip() and result.compile_output == ""


@pytest.mark.parametrize("key", INTERPRETED)
async def test_a_program_that_rewrites_its_source_is_not_a_syntax_error(
    sandbox: Sandbox, key: str
) -> None:
    result = await sandbox.run(key, REWRITES_ITSELF[key])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.RUNTIME), result


@pytest.mark.parametrize("key", INTERPRETED)
async def test_a_real_syntax_error_is_found_by_the_syntax_check(sandbox: Sandbox, key: str) -> None:
    result = await sandbox.run(key, PROGRAMS[key]["compile_error"])
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.COMPILE), result
    # The checker's report, which names the submitted file.
    assert "main." in result.compile_output and result.compile_time_ms is not None


async def test_only_a_failed_run_pays_for_the_syntax_check(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    purposes: list[str] = []

    async def counting(spec, *args, **kwargs):  # type: ignore[no-untyped-def]
        purposes.append(spec.purpose)
        return await run_step(spec, *args, **kwargs)

    async def counting_warm(step, spec, **kwargs):  # type: ignore[no-untyped-def]
        purposes.append(spec.purpose)  # a run handed to a warm sandbox (sandbox/pool.py)
        return await run_warm_step(step, spec, **kwargs)

    monkeypatch.setattr("sandbox.runner.run_step", counting)
    monkeypatch.setattr("sandbox.runner.run_warm_step", counting_warm)
    ok = await sandbox.run("python", "print('fine')\n")
    assert ok.status is Status.COMPLETED and purposes == ["run"]
    purposes.clear()
    failed = await sandbox.run("python", "raise SystemExit(3)\n")
    assert failed.error_code is ErrorCode.RUNTIME and purposes == ["run", "check"]


async def test_java_heap_exhaustion_is_out_of_memory_and_the_heap_is_the_whole_limit(
    sandbox: Sandbox,
) -> None:
    # Keeps 8 MiB arrays until the heap is full: the JVM's heap reaches the cgroup's limit, so the
    # kernel's OOM killer ends it (the JVM never gets to throw OutOfMemoryError itself).
    result = await sandbox.run("java", PROGRAMS["java"]["memory"], limits=Limits(memory_mb=64))
    assert (result.status, result.error_code) == (Status.FAILED, ErrorCode.MEMORY), result
    assert (result.exit_code, result.signal) == (None, 9)
    assert "OutOfMemoryError" not in result.stderr
