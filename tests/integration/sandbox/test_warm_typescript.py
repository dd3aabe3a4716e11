"""TypeScript's warm compile program (`warm_compile` in typescript.toml), run by hand as a warm
sandbox runs it: started in an empty directory with a pipe on fd 3, then handed the program's
files and the compile command's argv (each part followed by NUL, then EOF). For every program it
must print, write and exit exactly as the cold compile command does in a directory with the same
files; handed anything else, or nothing, it exits 125 and writes nothing."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from sandbox import registry
from sandbox.prebuilt import TSC_SNAPSHOT
from sandbox.registry import Language
from tests.multifile import PROGRAMS as MULTIFILE

from .large_programs import LARGE

Files = dict[str, str]

CASES: dict[str, Files] = {
    "hello": {},  # the template
    "args": {
        "main.ts": "const args: string[] = process.argv.slice(2);\nconsole.log(args.join(','));\n"
    },
    "stdin": {
        "main.ts": "import * as fs from 'fs';\n"
        "const text: string = fs.readFileSync(0, 'utf8');\nconsole.log(text.toUpperCase());\n"
    },
    "type error": {"main.ts": "const n: number = 'not a number';\nconsole.log(n);\n"},
    "syntax error": {"main.ts": "const x = (1 + ;\n"},
    "two errors": {"main.ts": "let a: string = 1;\nfunction f(x) { return x; }\n"},
    "two files importing each other": {
        "main.ts": "import { twice } from './util';\nexport const base = 21;\n"
        "console.log(twice());\n",
        "util.ts": "import { base } from './main';\nexport function twice(): number "
        "{ return base * 2; }\n",
    },
    "an error in the imported file": {
        "main.ts": "import { f } from './util';\nconsole.log(f());\n",
        "util.ts": "export function f(): number { return 'one'; }\n",
    },
    "a missing import": {"main.ts": "import { f } from './nowhere';\nconsole.log(f());\n"},
    "exit 3": {"main.ts": "console.log('leaving');\nprocess.exit(3);\n"},
    "uncaught throw": {"main.ts": "function boom(): never { throw new Error('boom'); }\nboom();\n"},
    "dom lib": {
        "main.ts": '/// <reference lib="dom" />\nconst e: Element | null = null;\nconsole.log(e);\n'
    },
    "three files": {"main.ts": MULTIFILE["typescript"].source, **MULTIFILE["typescript"].files},
    "large": {"main.ts": LARGE["typescript"]},
    "no main.ts": {"other.ts": "export const x = 1;\n"},
}
# tsc's errors, E001 either way.
FAILING = {"type error", "syntax error", "two errors", "an error in the imported file",
           "a missing import", "no main.ts"}  # fmt: skip


def _typescript() -> Language:
    if not TSC_SNAPSHOT.is_file():
        pytest.fail(f"no {TSC_SNAPSHOT}: run devstack/runtimes.sh first")
    lang = registry().get("typescript")
    assert lang is not None and lang.compile is not None and lang.warm_compile is not None
    return lang


def _files(lang: Language, case: str) -> Files:
    return CASES[case] or {"main.ts": lang.template_code}


def _write(directory: Path, files: Files) -> None:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)


def _contents(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _blocked_on_fd_3(pid: int) -> bool:
    """The process sleeps in read(3, ...): /proc/PID/syscall starts with read's number, 0."""
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()[:2] == ["0", "0x3"]
    except OSError:
        return False


class Warm:
    """The warm program, started in `directory` with the read end of the control pipe as its
    fd 3 and the write end of the ready pipe as its fd 4, as the pool starts it."""

    def __init__(self, lang: Language, directory: Path) -> None:
        assert lang.warm_compile is not None
        first_read, self.write_end = os.pipe()
        self.ready_end, first_ready = os.pipe()
        # Above 4 first, so that placing one at 3 or 4 never closes the other.
        read_end = fcntl.fcntl(first_read, fcntl.F_DUPFD_CLOEXEC, 10)
        ready_w = fcntl.fcntl(first_ready, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(first_read)
        os.close(first_ready)

        def place() -> None:  # dup2 leaves them inheritable; pass_fds keeps them open
            os.dup2(read_end, 3)
            os.dup2(ready_w, 4)

        self.proc = subprocess.Popen(
            lang.command(lang.warm_compile, lang.default_memory_mb),
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(3, 4),
            preexec_fn=place,
        )
        os.close(read_end)
        os.close(ready_w)

    def wait_ready(self) -> float:
        """Seconds until it said ready on fd 4 and blocks reading fd 3 (its warm-up done)."""
        start = time.monotonic()
        readable, _, _ = select.select([self.ready_end], [], [], 120)
        said = os.read(self.ready_end, 1) if readable else b""
        os.close(self.ready_end)
        assert said == b"R", f"the warm program did not say ready: {self.proc.poll()}"
        while not _blocked_on_fd_3(self.proc.pid):
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() - start < 120, "the warm program never blocked on fd 3"
            time.sleep(0.005)
        return time.monotonic() - start

    def hand_over(self, message: bytes) -> tuple[int, bytes, bytes]:
        if message:
            os.write(self.write_end, message)
        os.close(self.write_end)
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err


def _message(argv: list[str]) -> bytes:
    return b"".join(part.encode() + b"\0" for part in argv)


def _cold(lang: Language, directory: Path) -> tuple[int, bytes, bytes]:
    assert lang.compile is not None
    argv = lang.command(lang.compile, lang.default_memory_mb)
    done = subprocess.run(argv, cwd=directory, capture_output=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_the_warm_compile_says_and_writes_what_the_cold_one_does(tmp_path: Path, case: str) -> None:
    lang = _typescript()
    assert lang.compile is not None
    files = _files(lang, case)
    warm_dir, cold_dir = tmp_path / "warm", tmp_path / "cold"
    warm_dir.mkdir()
    cold_dir.mkdir()
    warm = Warm(lang, warm_dir)
    warm.wait_ready()
    assert _contents(warm_dir) == {}, "the warm-up wrote into the work dir"
    _write(warm_dir, files)
    theirs = warm.hand_over(_message(lang.command(lang.compile, lang.default_memory_mb)))
    _write(cold_dir, files)
    ours = _cold(lang, cold_dir)
    assert theirs == ours
    assert _contents(warm_dir) == _contents(cold_dir)
    if case in FAILING:
        assert ours[0] != 0 and b"error TS" in ours[1], ours
    else:
        assert ours == (0, b"", b""), ours
        assert "main.js" in _contents(cold_dir)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"/bin/sh\0-c\0echo hi\0tsc\0main.ts\0", id="another command"),
        pytest.param(None, id="the command with one more argument"),
        pytest.param(None, id="the command without its last NUL"),
    ],
)
def test_anything_but_the_compile_command_exits_125_writing_nothing(
    tmp_path: Path, message: bytes | None, request: pytest.FixtureRequest
) -> None:
    lang = _typescript()
    assert lang.compile is not None
    command = _message(lang.command(lang.compile, lang.default_memory_mb))
    if message is None:
        more = "more" in request.node.callspec.id
        message = command + b"--noEmit\0" if more else command[:-1]
    files = {"main.ts": lang.template_code}
    _write(tmp_path, files)
    warm = Warm(lang, tmp_path)
    assert warm.hand_over(message) == (125, b"", b"")
    assert _contents(tmp_path) == {name: text.encode() for name, text in files.items()}
