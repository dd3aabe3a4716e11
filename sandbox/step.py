"""Runs one bwrap process (a compile or run step) under limits, and measures it.

The child joins the step's cgroups, sets its rlimits and drops to the sandbox user before exec;
the parent streams output with caps (the rest is read and dropped, so a flood never grows our
memory), enforces wall time and total CPU time, and on a limit freezes and kills the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sandbox.bwrap import SECCOMP_FD
from sandbox.cgroups import CgroupDriver, CgroupStats, StepCgroup
from sandbox.launcher import argv as launcher_argv
from sandbox.seccomp import filter_fd

OutputCallback = Callable[[str, bytes], Awaitable[None] | None]
_READ_CHUNK = 65536
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class Stop(StrEnum):
    """Why the parent ended a step early."""

    WALL = "wall_time"
    CPU = "cpu_time"


@dataclass(frozen=True)
class StepSpec:
    """What to run and within which limits."""

    argv: Sequence[str]
    pass_fds: tuple[int, ...]
    stdin: bytes
    wall_ms: int
    cpu_ms: int
    memory_bytes: int
    pids: int
    rlimits: tuple[tuple[int, int], ...]
    stdout_cap: int
    stderr_cap: int | None  # None: stderr goes into stdout (compile steps)
    purpose: str = "run"


@dataclass(frozen=True)
class StepOutcome:
    """What happened, as measured by the parent and the kernel."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_ms: int
    cpu_ms: int | None
    memory_peak_kb: int | None
    oom_killed: bool
    stopped: Stop | None
    setup_failed: bool


def _child_setup(join_fds: list[int], rlimits: tuple[tuple[int, int], ...], uid: int,
                 gid: int) -> Callable[[], None]:  # fmt: skip
    """Runs in the forked child before exec: as root join cgroups and set limits, then drop."""

    def setup() -> None:
        for fd in join_fds:
            os.write(fd, b"0")
        for which, value in rlimits:
            resource.setrlimit(which, (value, value))
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # After the uid change (which clears it): die if the worker dies.
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return setup


class _Capture:
    """Keeps the first `cap` bytes of a stream and counts the rest."""

    def __init__(self, name: str, cap: int, on_output: OutputCallback | None) -> None:
        self.name, self.cap, self.on_output = name, cap, on_output
        self.data = bytearray()
        self.truncated = False

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_READ_CHUNK):
            room = self.cap - len(self.data)
            if len(chunk) > room:
                self.truncated = True
                chunk = chunk[: max(room, 0)]
            if chunk:
                self.data += chunk
                if self.on_output is not None:
                    maybe = self.on_output(self.name, bytes(chunk))
                    if inspect.isawaitable(maybe):
                        await maybe


def _stdin_fd(data: bytes) -> int:
    # A memfd, not a pipe: no writer task, no deadlock if the program never reads it.
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


async def run_step(
    spec: StepSpec,
    cgroups: CgroupDriver | None,
    uid: int,
    gid: int,
    *,
    launcher: str | None = None,
    cpu_poll_ms: int = 20,
    on_output: OutputCallback | None = None,
) -> StepOutcome:
    cg: StepCgroup | None = None
    if cgroups is not None:
        cg = cgroups.create(spec.purpose, spec.memory_bytes, spec.pids)
    seccomp = filter_fd()
    stdin = _stdin_fd(spec.stdin)
    start = time.monotonic()
    try:
        argv = [str(seccomp) if arg == SECCOMP_FD else arg for arg in spec.argv]
        join_fds = cg.join_fds if cg else []
        preexec: Callable[[], None] | None = None
        if launcher is not None:
            # vfork + exec of a C shim that does what _child_setup would (see launcher.c).
            argv = launcher_argv(launcher, uid, gid, join_fds, spec.rlimits, argv)
        else:
            preexec = _child_setup(join_fds, spec.rlimits, uid, gid)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE
            if spec.stderr_cap is not None
            else asyncio.subprocess.STDOUT,
            pass_fds=(seccomp, *spec.pass_fds, *(join_fds if launcher else ())),
            preexec_fn=preexec,
            close_fds=True,
            # bwrap's init (pid 1 inside) keeps the environment bwrap got: give it nothing.
            env={},
        )
    except BaseException:
        if cg is not None:
            cg.remove()
        raise
    finally:
        os.close(seccomp)
        os.close(stdin)
        if cg is not None:
            cg.close_join_fds()
    try:
        return await _supervise(proc, spec, cg, start, cpu_poll_ms, on_output)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if cg is not None:
            # The usual case (already empty) is a few rmdirs: not worth a thread hop.
            await (asyncio.to_thread(cg.remove) if not cg.is_empty() else _now(cg.remove))


async def _supervise(proc: asyncio.subprocess.Process, spec: StepSpec, cg: StepCgroup | None,
                     start: float, cpu_poll_ms: int,
                     on_output: OutputCallback | None) -> StepOutcome:  # fmt: skip
    out = _Capture("stdout", spec.stdout_cap, on_output)
    err = _Capture("stderr", spec.stderr_cap or 0, on_output)
    assert proc.stdout is not None
    readers = [asyncio.ensure_future(out.drain(proc.stdout))]
    if proc.stderr is not None:
        readers.append(asyncio.ensure_future(err.drain(proc.stderr)))
    waiter = asyncio.ensure_future(proc.wait())
    stopped: Stop | None = None
    deadline = start + spec.wall_ms / 1000
    poll = cpu_poll_ms / 1000 if cg is not None else spec.wall_ms / 1000
    try:
        while not waiter.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped = Stop.WALL
            elif cg is not None and cg.cpu_ns() > spec.cpu_ms * 1_000_000:
                stopped = Stop.CPU
            if stopped is not None:
                await _kill(proc, cg)
                break
            await asyncio.wait([waiter], timeout=min(poll, remaining))
        await waiter
        wall_ms = int((time.monotonic() - start) * 1000)
        # Every process of the sandbox dies with its pid namespace, so the pipes close now;
        # the bound only guards against a writer we do not know about.
        _done, pending = await asyncio.wait(readers, timeout=2.0)
        if pending and cg is not None:
            await _kill(proc, cg)
            await asyncio.wait(readers, timeout=2.0)
    finally:
        for task in readers:
            task.cancel()
        waiter.cancel()
    stats = None
    if cg is not None:
        stats = cg.stats() if cg.is_empty() else await asyncio.to_thread(_final_stats, cg)
    code = proc.returncode
    exit_code: int | None = code
    sig: int | None = None
    if code is not None and code < 0:
        exit_code, sig = None, -code
    elif code is not None and 128 < code <= 128 + 64:
        # bwrap reports a child killed by signal N as exit status 128+N.
        exit_code, sig = None, code - 128
    stderr = bytes(err.data)
    return StepOutcome(
        exit_code=exit_code,
        signal=sig,
        stdout=bytes(out.data),
        stderr=stderr,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        wall_ms=wall_ms,
        cpu_ms=stats.cpu_ns // 1_000_000 if stats else None,
        memory_peak_kb=stats.memory_peak_bytes // 1024
        if stats and stats.memory_peak_bytes
        else None,
        oom_killed=bool(stats and stats.oom_kills),
        stopped=stopped,
        setup_failed=code == 1 and (stderr or bytes(out.data)).startswith(b"bwrap: "),
    )


async def _kill(proc: asyncio.subprocess.Process, cg: StepCgroup | None) -> None:
    if cg is not None:
        await asyncio.to_thread(cg.kill_all)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _now(call: Callable[[], None]) -> None:
    call()


def _final_stats(cg: StepCgroup) -> CgroupStats:
    # The cgroup's counters are final only once its last process is gone.
    if not cg.is_empty():
        cg.kill_all()
    return cg.stats()
