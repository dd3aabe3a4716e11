"""The runbox command against the real engine, as a user runs it: a subprocess whose stdout is
the program's, whose exit status is the program's, with the verdict on stderr."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from runbox.cli import EXIT_COMPILE_ERROR, EXIT_TIMEOUT, EXIT_USAGE
from tests.e2e.conftest import Engine

RUNBOX = Path(sys.executable).parent / "runbox"  # the console script installed with the project


def runbox(
    engine: Engine, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUNBOX), *args],
        cwd=cwd,
        env={**os.environ, "RUNBOX_URL": engine.url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_hello_prints_the_programs_stdout_and_the_verdict(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(
        "import sys\nprint('hello')\nprint('to err', file=sys.stderr)\n"
    )
    done = runbox(engine, "run", "hello.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"  # the program's stdout and nothing else
    assert "to err" in done.stderr
    assert "COMPLETED" in done.stderr and "time " in done.stderr and "memory " in done.stderr
    assert "\x1b" not in done.stderr  # no progress line when stderr is no terminal


def test_the_exit_status_and_arguments_pass_through(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("import sys\nprint(sys.argv[1:])\nsys.exit(7)\n")
    done = runbox(engine, "run", "x.py", "--", "arg1", "--two", "3 4", cwd=tmp_path)
    assert done.returncode == 7, done.stderr
    assert done.stdout == "['arg1', '--two', '3 4']\n"
    assert "FAILED E002" in done.stderr


def test_c_with_stdin_from_a_file(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\nint main(void) { int a, b; scanf("%d %d", &a, &b);'
        ' printf("%d\\n", a + b); return 0; }\n'
    )
    (tmp_path / "input.txt").write_text("40 2\n")
    done = runbox(engine, "run", "main.c", "--stdin", "input.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"


def test_a_compile_error_has_its_own_exit_status(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("int main(void) { return missing; }\n")
    done = runbox(engine, "run", "main.c", cwd=tmp_path)
    assert done.returncode == EXIT_COMPILE_ERROR, done.stderr
    assert done.stdout == ""
    assert "missing" in done.stderr and "E001" in done.stderr  # the compiler's message


def test_a_timeout_has_its_own_exit_status(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text("import itertools\nfor _ in itertools.count():\n    pass\n")
    done = runbox(engine, "run", "spin.py", "--time-limit", "300", cwd=tmp_path)
    assert done.returncode == EXIT_TIMEOUT, done.stderr
    assert "TIMEOUT E004" in done.stderr


def test_output_is_streamed_while_the_program_runs(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\nprint('one', flush=True)\ntime.sleep(2)\nprint('two', flush=True)\n"
    )
    proc = subprocess.Popen(
        [str(RUNBOX), "run", "slow.py"],
        cwd=tmp_path,
        env={**os.environ, "RUNBOX_URL": engine.url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "one\n"
        # The first line is here while the program still sleeps: the CLI has not finished.
        assert proc.poll() is None
        assert proc.stdout.readline() == "two\n"
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_languages_and_watch(engine: Engine, tmp_path: Path) -> None:
    listed = runbox(engine, "languages", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    keys = {line.split()[0] for line in listed.stdout.splitlines()[1:]}
    assert {"python", "c"} <= keys
    (tmp_path / "hello.py").write_text("print('watched')\n")
    ran = runbox(engine, "run", "hello.py", cwd=tmp_path)
    execution_id = ran.stderr.rsplit("execution ", 1)[1].split()[0]
    # Watching a finished execution prints what it printed, and exits as it did.
    watched = runbox(engine, "--url", engine.url, "watch", execution_id, cwd=tmp_path)
    assert (watched.returncode, watched.stdout) == (0, "watched\n"), watched.stderr


def test_usage_errors(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    unknown = runbox(engine, "run", "notes.txt", cwd=tmp_path)
    assert unknown.returncode == EXIT_USAGE
    assert "--language" in unknown.stderr
    missing = runbox(engine, "run", "absent.py", cwd=tmp_path)
    assert missing.returncode == EXIT_USAGE and "absent.py" in missing.stderr
    chosen = runbox(engine, "run", "notes.txt", "--language", "bash", cwd=tmp_path)
    assert chosen.returncode == 127  # bash: "hello: command not found"


def test_an_unreachable_engine_is_an_engine_error(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"  # discard: nothing listens
    (tmp_path / "hello.py").write_text("print(1)\n")
    started = time.monotonic()
    done = subprocess.run(
        [str(RUNBOX), "--url", url, "run", "hello.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 69, done.stderr
    assert url in done.stderr
    assert time.monotonic() - started < 30


def test_a_progress_line_on_a_terminal_only(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text('#include <stdio.h>\nint main(void) { puts("built"); }\n')
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [str(RUNBOX), "run", "main.c"],
        cwd=tmp_path,
        env={**os.environ, "RUNBOX_URL": engine.url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,  # stderr is a terminal, stdout a pipe
    )
    os.close(terminal)
    shown = b""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the command has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert proc.stdout is not None
        assert proc.stdout.read() == b"built\n"  # the program's output stays clean
        assert proc.wait(30) == 0
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    text = shown.decode()
    assert "queued" in text or "compiling / running" in text, text
    assert "\r\x1b[K" in text  # each frame redrawn in place, and cleared before the verdict
    # After the last clearing: only the verdict (the terminal turns \n into \r\n).
    assert text.split("\r\x1b[K")[-1].startswith("runbox: COMPLETED"), text
