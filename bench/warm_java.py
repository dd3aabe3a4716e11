"""Java's warm programs (`warm_compile`, `warm_run` in sandbox/languages/java.toml) timed against
the cold javac and java they stand in for, outside the sandbox and its pool.

`python -m bench.warm_java [--runs 10] [--rounds 0,1,3,10] [--program hello|large]` (as root: the programs run as the
sandbox's first slot user, in a fresh directory, pinned to CPU 0 as a step is to its one CPU).
A warm program is started with the control pipe on fd 3, left until it blocks reading it and its
CPU time stops growing (its JIT queue drained), then handed the cold command line; what is timed
is hand-over -> exit. The cold commands are timed start -> exit. `--rounds` are the warm-up
compiles of the warm javac to compare (java.toml's own count is what the pool uses). Prints
medians in ms; exits non-zero if a program failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: bench/ would shadow the `sandbox` package; put the repo first instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import fcntl
import os
import select
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sandbox import Limits, SandboxSettings, registry
from sandbox.bwrap import BASE_ENV
from sandbox.registry import Language

CONTROL_FD = 3
READY_FD = 4
READY_FD = 4
# What the sandbox gives a step: one CPU (see SANDBOX_CPUS) and its environment.
PIN = ("taskset", "-c", "0")
ENV = dict(BASE_ENV)


@dataclass(frozen=True)
class Outcome:
    """What a user sees of a step."""

    stdout: bytes
    stderr: bytes
    status: int


def sandbox_ids() -> tuple[int, int]:
    """The uid and gid of the sandbox's first slot, which the programs run as here."""
    return SandboxSettings.from_env().ids(0)


def make_box(parent: Path, files: Mapping[str, str]) -> Path:
    """A fresh working directory with `files`, the sandbox user's as /box is (`parent` must
    let the user through: see `boxes`)."""
    box = Path(tempfile.mkdtemp(prefix="box-", dir=parent))
    uid, gid = sandbox_ids()
    for name, text in files.items():
        (box / name).write_text(text)
        os.chown(box / name, uid, gid)
    os.chown(box, uid, gid)
    box.chmod(0o700)
    return box


def boxes() -> Path:
    """A fresh directory for `make_box`'s, root's, that the sandbox user can pass through."""
    parent = Path(tempfile.mkdtemp(prefix="warm-java-"))
    parent.chmod(0o711)
    return parent


def run_cold(argv: Sequence[str], box: Path, stdin: bytes = b"") -> Outcome:
    uid, gid = sandbox_ids()
    done = subprocess.run([*PIN, *argv], cwd=box, input=stdin, capture_output=True, env=ENV,
                          user=uid, group=gid, extra_groups=[], timeout=120, check=False)  # fmt: skip
    return Outcome(done.stdout, done.stderr, done.returncode)


class Warm:
    """A warm program started as the pool starts it: cwd `box`, stdin/stdout/stderr pipes, the
    read end of the control pipe on fd 3 and the write end of the ready pipe on fd 4 (and on no
    other descriptor)."""

    def __init__(self, argv: Sequence[str], box: Path) -> None:
        uid, gid = sandbox_ids()
        first_read_end, self._control = os.pipe()
        self._ready, first_ready_end = os.pipe()
        # Above 4 (bash moves them to 3 and 4 and closes these numbers, then becomes the program).
        read_end = fcntl.fcntl(first_read_end, fcntl.F_DUPFD_CLOEXEC, 10)
        ready_end = fcntl.fcntl(first_ready_end, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(first_read_end)
        os.close(first_ready_end)
        shell = (f'exec {CONTROL_FD}<&{read_end} {read_end}<&- {READY_FD}>&{ready_end} '
                 f'{ready_end}>&-; exec "$@"')  # fmt: skip
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", shell, "bash", *PIN, *argv], cwd=box, env=ENV, user=uid, group=gid,
            extra_groups=[], pass_fds=(read_end, ready_end), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        os.close(read_end)
        os.close(ready_end)
        self.said_ready = False

    def _blocked_on_control(self) -> bool:
        """Some thread of it is in read(3, ...) (its syscall number 0 on x86-64)."""
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                fields = (task / "syscall").read_text().split()
            except OSError:
                continue
            if fields[:2] == ["0", hex(CONTROL_FD)]:
                return True
        return False

    def _cpu_ticks(self) -> int:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def wait_ready(self, timeout_s: float = 60.0, settle: bool = False) -> None:
        """Until it blocks reading fd 3 (and with `settle`, until its CPU time stops growing:
        the JIT compiles in the background after the warm-up)."""
        deadline = time.monotonic() + timeout_s
        # The protocol's ready byte first, then the read of fd 3 itself.
        readable, _, _ = select.select([self._ready], [], [], timeout_s)
        self.said_ready = bool(readable) and os.read(self._ready, 1) == b"R"
        os.close(self._ready)
        if not self.said_ready:
            raise RuntimeError(f"warm program did not say ready (exit {self.process.poll()})")
        while not self._blocked_on_control():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"warm program not ready (exit {self.process.returncode})")
            time.sleep(0.005)
        last = -1
        while settle and (ticks := self._cpu_ticks()) != last:
            if time.monotonic() > deadline:
                raise RuntimeError("warm program still busy")
            last = ticks
            time.sleep(0.05)

    def hand_over(self, message: bytes, stdin: bytes = b"") -> tuple[Outcome, float]:
        """Write `message` on the control pipe and close it, feed `stdin`; its outcome and the
        time from the hand-over to its exit (ms)."""
        start = time.monotonic()
        os.write(self._control, message)
        os.close(self._control)
        stdout, stderr = self.process.communicate(stdin, timeout=120)
        elapsed = (time.monotonic() - start) * 1000
        return Outcome(stdout, stderr, self.process.returncode), elapsed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def message(argv: Sequence[str]) -> bytes:
    """The hand-over: each element of the cold command line followed by one NUL."""
    return b"".join(part.encode() + b"\0" for part in argv)


def commands(lang: Language, files: Sequence[str] = ("Main.java",),
             args: Sequence[str] = ()) -> dict[str, list[str]]:  # fmt: skip
    """The cold compile and run command lines and the warm programs' as the sandbox expands
    them for the language's default limits (the compile step's memory from compile_bounds)."""
    assert lang.compile and lang.warm_compile and lang.warm_run
    memory = lang.default_memory_mb
    _, compile_mb = Limits(memory_mb=memory).compile_bounds(lang.compile_floor_ms,
                                                            lang.compile_floor_mb)  # fmt: skip
    return {
        "compile": lang.command(lang.compile, memory, compile_mb, files),
        "warm_compile": lang.command(lang.warm_compile, memory, compile_mb),
        "run": [*lang.command(lang.run, memory), *args],
        "warm_run": lang.command(lang.warm_run, memory),
    }


def _with_rounds(warm_compile: list[str], rounds: int) -> list[str]:
    # The warm-up count is the argument after the main class.
    return [*warm_compile[:-1], str(rounds)]


def _main(args: argparse.Namespace) -> int:
    lang = registry().get("java")
    assert lang is not None and lang.template_code
    if args.program == "hello":
        source, expected = lang.template_code, b"Hello, world!\n"
    else:
        from tests.integration.sandbox.large_programs import LARGE

        source, expected = LARGE["java"], None
    cmds = commands(lang)
    figures: dict[str, list[float]] = {}
    failed = []
    parent = boxes()
    try:
        for _ in range(args.runs):
            box = make_box(parent, {"Main.java": source})
            start = time.monotonic()
            cold = run_cold(cmds["compile"], box)
            figures.setdefault("cold javac", []).append((time.monotonic() - start) * 1000)
            failed += [cold] if cold.status else []
            start = time.monotonic()
            cold = run_cold(cmds["run"], box)
            figures.setdefault("cold java Main", []).append((time.monotonic() - start) * 1000)
            failed += [cold] if cold.status or expected not in (None, cold.stdout) else []
            for rounds in args.rounds:
                box = make_box(parent, {"Main.java": source})
                warm = Warm(_with_rounds(cmds["warm_compile"], rounds), box)
                warm.wait_ready(settle=True)
                outcome, ms = warm.hand_over(message(cmds["compile"]))
                figures.setdefault(f"warm javac, {rounds} warm-up compiles", []).append(ms)
                failed += [outcome] if outcome.status else []
            warm = Warm(cmds["warm_run"], box)
            warm.wait_ready(settle=True)
            outcome, ms = warm.hand_over(message(cmds["run"]))
            figures.setdefault("warm java Main", []).append(ms)
            failed += [outcome] if outcome.status or expected not in (None, outcome.stdout) else []
    finally:
        shutil.rmtree(parent)
    print(f"hand-over -> exit (warm) or start -> exit (cold), ms, median of {args.runs}, CPU 0")
    for name, values in figures.items():
        print(f"  {name:<36} {statistics.median(values):7.1f}  (min {min(values):.1f})")
    for outcome in failed:
        print(f"FAILED: {outcome}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--program", choices=("hello", "large"), default="hello")
    parser.add_argument("--rounds", type=lambda s: [int(r) for r in s.split(",")], default=[3],
                        help="warm-up compiles of the warm javac to compare, e.g. 0,1,3,10")  # fmt: skip
    return _main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
