"""Every language over HTTP: a hello world COMPLETES, a non-zero exit FAILS, a busy loop TIMES OUT,
arguments arrive as given, and a program of three files (tests/multifile.py) builds and runs.

All runs of this module are submitted at once by one fixture (compiling Rust, Java, Go and
TypeScript is slow here, and the executors run them side by side); each test waits for its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests import multifile
from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import (
    open_session,
    run_to_end,
    submit,
    wait_result,
)

HELLO = "Hello, world!"


@dataclass(frozen=True)
class Programs:
    """Four programs in one language: prints HELLO; prints "before" then exits 3; loops forever
    (plainly: the safety rule refuses it); loops forever in a way no rule can prove (it runs,
    and the time limit ends it)."""

    hello: str
    exit_3: str
    forever: str
    hidden: str
    args: str  # prints its command-line arguments joined by |


PROGRAMS: dict[str, Programs] = {
    "python": Programs(
        'print("Hello, world!")',
        'import sys\nprint("before")\nsys.exit(3)',
        "while True:\n    pass",
        "n = 0\nwhile n >= 0:\n    n += 1",
        'import sys\nprint("|".join(sys.argv[1:]))',
    ),
    "javascript": Programs(
        'console.log("Hello, world!");',
        'console.log("before");\nprocess.exit(3);',
        "while (true) {}",
        "let n = 0;\nwhile (n >= 0) { n++; }",
        'console.log(process.argv.slice(2).join("|"));',
    ),
    "typescript": Programs(
        'const who: string = "world";\nconsole.log(`Hello, ${who}!`);',
        'const code: number = 3;\nconsole.log("before");\nprocess.exit(code);',
        "let n: number = 0;\nwhile (true) { n++; }",
        "let n: number = 0;\nwhile (n >= 0) { n++; }",
        'const args: string[] = process.argv.slice(2);\nconsole.log(args.join("|"));',
    ),
    "c": Programs(
        '#include <stdio.h>\nint main(void) { puts("Hello, world!"); return 0; }',
        '#include <stdio.h>\nint main(void) { puts("before"); return 3; }',
        "int main(void) { volatile unsigned long n = 0; for (;;) n++; }",
        "int main(void) { volatile unsigned long n = 1; while (n != 0) n |= 1; }",
        '#include <stdio.h>\nint main(int argc, char **argv) {\n  for (int i = 1; i < argc; i++) printf("%s%s", i > 1 ? "|" : "", argv[i]);\n  puts("");\n  return 0;\n}',
    ),
    "cpp": Programs(
        '#include <iostream>\nint main() { std::cout << "Hello, world!" << std::endl; }',
        '#include <iostream>\nint main() { std::cout << "before" << std::endl; return 3; }',
        "int main() { volatile unsigned long n = 0; for (;;) n++; }",
        "int main() { volatile unsigned long n = 1; while (n != 0) n |= 1; }",
        '#include <cstdio>\nint main(int argc, char **argv) {\n  for (int i = 1; i < argc; i++) std::printf("%s%s", i > 1 ? "|" : "", argv[i]);\n  std::puts("");\n}',
    ),
    "go": Programs(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, world!") }',
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\n'
        'func main() {\n\tfmt.Println("before")\n\tos.Exit(3)\n}',
        "package main\n\nfunc main() {\n\tn := 0\n\tfor {\n\t\tn++\n\t}\n}",
        "package main\n\nfunc main() {\n\tn := 1\n\tfor n != 0 {\n\t\tn |= 1\n\t}\n}",
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() { fmt.Println(strings.Join(os.Args[1:], "|")) }',
    ),
    "java": Programs(
        'public class Main { public static void main(String[] a) { System.out.println("Hello, world!"); } }',
        'public class Main { public static void main(String[] a) { System.out.println("before"); System.exit(3); } }',
        "public class Main { public static void main(String[] a) { long n = 0; while (true) { n++; } } }",
        "public class Main { public static void main(String[] a) { long n = 1; while (n != 0) { n |= 1; } } }",
        'public class Main { public static void main(String[] a) { System.out.println(String.join("|", a)); } }',
    ),
    "php": Programs(
        '<?php\necho "Hello, world!\\n";',
        '<?php\necho "before\\n";\nexit(3);',
        "<?php\nwhile (true) {}",
        "<?php\n$n = 1;\nwhile ($n != 0) { $n |= 1; }",
        '<?php\necho implode("|", array_slice($argv, 1)), "\\n";',
    ),
    "ruby": Programs(
        'puts "Hello, world!"',
        'puts "before"\nexit 3',
        "loop {}",
        "n = 1\nwhile n != 0\n  n |= 1\nend",
        'puts ARGV.join("|")',
    ),
    "rust": Programs(
        'fn main() { println!("Hello, world!"); }',
        'fn main() { println!("before"); std::process::exit(3); }',
        "fn main() { let mut n: u64 = 0; loop { n = n.wrapping_add(1); std::hint::black_box(n); } }",
        "fn main() { let mut n: u64 = 1; while n != 0 { n = std::hint::black_box(n | 1); } }",
        'fn main() {\n    let a: Vec<String> = std::env::args().skip(1).collect();\n    println!("{}", a.join("|"));\n}',
    ),
    "bash": Programs(
        'echo "Hello, world!"',
        "echo before\nexit 3",
        "while true; do :; done",
        "n=1\nwhile [ $n -ne 0 ]; do n=$((n | 1)); done",
        'IFS="|"\necho "$*"',
    ),
}
TIME_LIMIT_MS = 1000
CASES = ("hello", "exit_3", "forever", "hidden", "args", "files")
ARGS = multifile.ARGS


@pytest.fixture(scope="module")
async def submitted(engine: Engine) -> AsyncIterator[dict[tuple[str, str], str]]:
    """Every (language, case) submitted at once, each from its own session: execution ids."""
    async with httpx.AsyncClient(base_url=engine.url, timeout=30) as http:

        async def one(language: str, case: str) -> tuple[tuple[str, str], str]:
            if case == "files":
                program = multifile.PROGRAMS[language]
                session_id = await open_session(http, language, program.source, program.files)
            else:
                session_id = await open_session(http, language, getattr(PROGRAMS[language], case))
            options: dict[str, object] = {}
            if case in ("forever", "hidden"):
                options = {"time_limit_ms": TIME_LIMIT_MS}
            elif case in ("args", "files"):
                options = {"args": ARGS}
            return (language, case), await submit(http, session_id, options)

        pairs = await asyncio.gather(*(one(lang, case) for case in CASES for lang in PROGRAMS))
        yield dict(pairs)


async def test_every_language_is_covered(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/languages")).json()["languages"]
    keys = {(await client.get(f"/languages/{lang['id']}")).json()["key"] for lang in listed}
    assert keys == set(PROGRAMS)


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_hello_world_completes(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "hello"])
    assert result["status"] == "COMPLETED", result
    assert result["error_code"] is None
    assert result["exit_code"] == 0
    assert result["stdout"] == HELLO + "\n"
    assert result["stderr"] == ""
    assert result["stdout_truncated"] is False
    assert result["language"]["name"] == (await client.get(f"/languages/{language}")).json()["name"]
    assert result["attempt"] == 1
    assert result["execution_time_ms"] >= 0
    assert result["queued_at"] <= result["started_at"] <= result["finished_at"]


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_non_zero_exit_fails(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "exit_3"])
    assert result["status"] == "FAILED", result
    assert result["error_code"] == "E002"
    assert result["exit_code"] == 3
    assert result["stdout"] == "before\n"


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_arguments_reach_the_program_as_given(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "args"])
    assert (result["status"], result["stdout"]) == ("COMPLETED", "|".join(ARGS) + "\n"), result
    assert result["args"] == ARGS  # kept in the snapshot, shown with the result


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_a_program_of_three_files_builds_and_runs_with_its_arguments(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "files"])
    assert (result["status"], result["stdout"]) == ("COMPLETED", multifile.STDOUT), result
    assert result["args"] == ARGS


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_endless_loop_is_refused_before_it_runs(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "forever"])
    assert (result["status"], result["error_code"]) == ("FAILED", "E006"), result
    assert result["error_message"].startswith("infinite_loop: line "), result["error_message"]
    assert (result["started_at"], result["worker_id"], result["stdout"]) == (None, None, "")


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_a_loop_no_rule_can_see_times_out(
    client: httpx.AsyncClient, submitted: dict[tuple[str, str], str], language: str
) -> None:
    result = await wait_result(client, submitted[language, "hidden"])
    assert result["status"] == "TIMEOUT", result
    assert result["error_code"] == "E004"
    assert result["time_limit_ms"] == TIME_LIMIT_MS
    # Stopped at the limit, not long after it (wall time, with room for a loaded machine).
    assert TIME_LIMIT_MS <= result["execution_time_ms"] < TIME_LIMIT_MS + 5000


async def test_c_compile_error_is_e001(client: httpx.AsyncClient) -> None:
    result = await run_to_end(client, "c", "int main(void) { return undeclared; }")
    assert result["status"] == "FAILED"
    assert result["error_code"] == "E001"
    assert "undeclared" in result["compile_output"]
    assert result["stdout"] == ""


async def test_python_syntax_error_is_e001(client: httpx.AsyncClient) -> None:
    result = await run_to_end(client, "python", "def broken(:\n    pass")
    assert result["status"] == "FAILED"
    assert result["error_code"] == "E001"
    assert "SyntaxError" in result["compile_output"]


async def test_python_exception_is_e002_with_traceback(client: httpx.AsyncClient) -> None:
    result = await run_to_end(client, "python", "raise ValueError('boom')")
    assert result["status"] == "FAILED"
    assert result["error_code"] == "E002"
    assert result["exit_code"] == 1
    assert "ValueError: boom" in result["stderr"]


async def test_memory_hog_is_e003(client: httpx.AsyncClient) -> None:
    hog = "chunks = []\nfor _ in range(10**6):\n    chunks.append(bytearray(16 * 1024 * 1024))"
    result = await run_to_end(client, "python", hog, {"memory_mb": 64})
    assert result["status"] == "FAILED", result
    assert result["error_code"] == "E003"
    assert result["memory_mb"] == 64


async def test_stdin_reaches_the_program(client: httpx.AsyncClient) -> None:
    source = "import sys\nprint(sys.stdin.read().upper(), end='')"
    result = await run_to_end(client, "python", source, {"stdin": "ping\npong\n"})
    assert result["status"] == "COMPLETED"
    assert result["stdout"] == "PING\nPONG\n"


async def test_stderr_is_separate_from_stdout(client: httpx.AsyncClient) -> None:
    source = "import sys\nprint('out')\nprint('err', file=sys.stderr)"
    result = await run_to_end(client, "python", source)
    assert result["status"] == "COMPLETED"
    assert (result["stdout"], result["stderr"]) == ("out\n", "err\n")


async def test_stdout_over_one_mib_is_truncated_and_flagged(client: httpx.AsyncClient) -> None:
    source = "import sys\nsys.stdout.write('x' * (3 * 1024 * 1024))"
    result = await run_to_end(client, "python", source)
    assert result["stdout_truncated"] is True, {k: v for k, v in result.items() if k != "stdout"}
    assert 0 < len(result["stdout"].encode()) <= 1024 * 1024
    assert set(result["stdout"]) == {"x"}


async def test_the_largest_result_fits_in_one_event(client: httpx.AsyncClient) -> None:
    """Both streams at their cap with control bytes, which JSON escapes six times over."""
    source = (
        "import sys\nsys.stdout.write('\\x01' * (2 << 20))\nsys.stderr.write('\\x02' * (2 << 20))"
    )
    result = await run_to_end(client, "python", source)
    assert result["status"] == "COMPLETED", {
        k: v for k, v in result.items() if k not in ("stdout", "stderr")
    }
    assert (result["stdout_truncated"], result["stderr_truncated"]) == (True, True)
    assert set(result["stdout"]) == {"\x01"}
    assert set(result["stderr"]) == {"\x02"}
    assert len(result["stdout"]) == len(result["stderr"]) == 1024 * 1024


async def test_a_new_session_runs_its_template(client: httpx.AsyncClient) -> None:
    """A session created without code gets the language's template, which runs."""
    template = (await client.get("/languages/python")).json()["template_code"]
    session_id = await open_session(client, "python")
    assert (await client.get(f"/code-sessions/{session_id}")).json()["source_code"] == template
    result = await wait_result(client, await submit(client, session_id))
    assert result["status"] == "COMPLETED", result
    assert result["stdout"].strip() != ""
