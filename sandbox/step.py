"""Runs one bwrap process (a compile or run step) under limits, and measures it.

The child joins the step's cgroups, sets its rlimits and drops to its slot's user before exec;
the parent streams output with caps (the rest is read and dropped, so a flood never grows our
memory), enforces wall time and total CPU time, and on a limit freezes and kills the cgroup.
Whether the user's command started at all comes from bwrap's --json-status-fd, never from what
the program printed or returned: only a step that never started can be a system error (E005).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sandbox.armed import Armed, Armory
from sandbox.bwrap import ARGS_FD, SECCOMP_FD, STATUS_FD, options_data
from sandbox.cgroups import CgroupDriver, CgroupStats, StepCgroup
from sandbox.launcher import argv as launcher_argv
from sandbox.seccomp import filter_fd
from sandbox.spawn import Capture, Child, Delivery, OutputCallback, Usage, spawn
from sandbox.stdin import PipeFeeder, StdinFeed

if TYPE_CHECKING:
    from sandbox.pool import WarmStep

__all__ = [
    "OutputCallback",
    "StepOutcome",
    "StepSpec",
    "Stop",
    "WarmStepGone",
    "run_step",
    "run_warm_step",
]
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class WarmStepGone(Exception):
    """The warm step died before it took its run, which it never saw: run the step cold."""


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
    bwrap_options: tuple[str, ...] = ()  # read by bwrap from ARGS_FD in `argv` (bwrap.via_args_fd)
    # Interactive: stdin is a pipe, `stdin` written first, then what the feed gives (stdin.py).
    stdin_feed: StdinFeed | None = None

    @property
    def command(self) -> list[str]:
        """The command bwrap runs in the sandbox (what follows `--` in `argv`)."""
        return list(self.argv[list(self.argv).index("--") + 1 :])


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
    usage: Usage | None = None  # I/O bytes and context switches of the step's processes
    warm: bool = False
    """Handed to a warm sandbox (run_warm_step): timed from the hand-over."""
    at_memory_limit: bool = False
    """The cgroup's memory usage reached its limit: the kernel had to refuse at least one charge
    (v1 memory.failcnt or memory.memsw.failcnt, v2 the `max` count of memory.events), which it
    does once usage is within one charge batch (64 pages) of the limit. Kernel counters only:
    a program cannot move them without really using that memory."""


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


def _stdin_fd(data: bytes) -> int:
    # A memfd, not a pipe: no writer task, no deadlock if the program never reads it.
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _stdin_fds(spec: StepSpec) -> tuple[int, int | None]:
    """The child's stdin, and the write end we keep when it is a pipe (an interactive run)."""
    if spec.stdin_feed is None:
        return _stdin_fd(spec.stdin), None
    return os.pipe2(os.O_CLOEXEC)


def started_exit_code(status: bytes) -> int | None:
    """The exit code bwrap reported on --json-status-fd, None if the user's command never
    started (bwrap writes it only after its setup succeeded and the command ran)."""
    for line in status.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("exit-code"), int):
                return int(record["exit-code"])
    return None


def _read_all(fd: int) -> bytes:
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    return b"".join(chunks)


async def run_step(
    spec: StepSpec,
    cgroups: CgroupDriver | None,
    uid: int,
    gid: int,
    *,
    launcher: str | None = None,
    armory: Armory | None = None,
    cpu_poll_ms: int = 20,
    on_output: OutputCallback | None = None,
    teardown: list[Callable[[], None]] | None = None,
) -> StepOutcome:
    """Run one step, through an armed launcher from `armory` if one is ready. Removing its
    (empty) cgroup is appended to `teardown` when given, so the caller can do it after returning
    the result; otherwise it is done here."""
    armed = armory.take(spec.memory_bytes, spec.pids) if armory and not spec.pass_fds else None
    if armed is not None:
        cg: StepCgroup | None = armed.cg
    else:
        cg = cgroups.take(spec.purpose, spec.memory_bytes, spec.pids) if cgroups else None
    try:
        outcome = await _spawn_and_supervise(spec, cg, armed, uid, gid, launcher, cpu_poll_ms,
                                             on_output)  # fmt: skip
    finally:
        if cg is not None:
            if teardown is not None:
                teardown.append(cg.remove)
            else:
                cg.remove()
    return outcome


async def _spawn_and_supervise(spec: StepSpec, cg: StepCgroup | None, armed: Armed | None,
                               uid: int, gid: int, launcher: str | None, cpu_poll_ms: int,
                               on_output: OutputCallback | None) -> StepOutcome:  # fmt: skip
    deliver, out, err, captures = _captures(spec, on_output)
    try:
        child, status_r, start, feed_w = _start(spec, cg, armed, uid, gid, launcher, captures)
    except BaseException:
        if deliver is not None:
            await deliver.close()
        raise
    return await _watch(spec, cg, child, status_r, start, feed_w, deliver, out, err, cpu_poll_ms)


def _captures(spec: StepSpec, on_output: OutputCallback | None
              ) -> tuple[Delivery | None, Capture, Capture, list[Capture]]:  # fmt: skip
    deliver = Delivery(on_output) if on_output is not None else None
    out = Capture("stdout", spec.stdout_cap, deliver)
    err = Capture("stderr", spec.stderr_cap or 0, deliver)
    return deliver, out, err, [out] if spec.stderr_cap is None else [out, err]


async def _watch(spec: StepSpec, cg: StepCgroup | None, child: Child, status_r: int, start: float,
                 feed_w: int | None, deliver: Delivery | None, out: Capture, err: Capture,
                 cpu_poll_ms: int, cpu_base_ns: int = 0) -> StepOutcome:  # fmt: skip
    """Supervise a started step to its end and measure it; `cpu_base_ns` is the CPU time its
    cgroup had used before the step began (a warm step's start-up: not the run's)."""
    feeder = None
    try:
        if feed_w is not None:
            assert spec.stdin_feed is not None
            feeder = PipeFeeder(feed_w, spec.stdin, spec.stdin_feed)
            feeder.start()
        stopped = await _supervise(child, spec, cg, start, cpu_poll_ms, cpu_base_ns)
        wall_ms = int((time.monotonic() - start) * 1000)
        if feeder is not None:
            await feeder.stop()
        # Every process of the sandbox dies with its pid namespace, so the pipes close now;
        # the bound only guards against a writer we do not know about.
        if not await child.output_closed(2.0) and cg is not None:
            await asyncio.to_thread(cg.kill_all)
            await child.output_closed(2.0)
    finally:
        if feeder is not None:
            await feeder.stop()
        elif feed_w is not None:
            os.close(feed_w)
        child.close()
        status = _read_all(status_r)
        os.close(status_r)
        if deliver is not None:
            await deliver.close()
    stats = None
    if cg is not None:
        stats = cg.stats() if cg.is_empty() else await asyncio.to_thread(_final_stats, cg)
        stats = dataclasses.replace(stats, cpu_ns=max(0, stats.cpu_ns - cpu_base_ns))
    return _outcome(child.returncode, started_exit_code(status), out, err, wall_ms, stats, stopped,
                    child.usage if child.counts_the_step else None)  # fmt: skip


async def run_warm_step(step: WarmStep, spec: StepSpec, *, cpu_poll_ms: int = 20,
                        on_output: OutputCallback | None = None,
                        teardown: list[Callable[[], None]]) -> StepOutcome:  # fmt: skip
    """Run `spec` (the cold step: its command line, stdin and limits) by handing it to a ready
    warm step of the same language and limits (pool.py): its stdin is written, its cgroup's
    CPU time and memory peak are taken from now, and its command line goes to the warm
    program's fd 3, which from then on behaves as that command. Supervised and measured as
    `run_step` does; its cgroup's removal is appended to `teardown`."""
    cg = step.armed.cg
    teardown.append(cg.remove)
    deliver, out, err, captures = _captures(spec, on_output)
    message = b"".join(os.fsencode(part) + b"\0" for part in spec.command)
    try:
        if spec.stdin and os.pwrite(step.stdin, spec.stdin, 0) != len(spec.stdin):
            raise OSError("short write of the run's stdin")
        cpu_base = cg.cpu_ns()
        cg.reset_peak()
        start = time.monotonic()
        # Blocking, but the program is waiting on the other end (it said so): a command line
        # longer than the pipe's buffer is read while it is written. Only the program holds
        # the other end (bwrap keeps no copy), so a broken pipe means it is gone and never
        # saw this run.
        _write_all(step.control, message)
        step.close_ours()
        child = step.armed.child(captures)
        os.set_blocking(step.armed.status_r, False)
    except BaseException as exc:
        step.discard()
        if deliver is not None:
            await deliver.close()
        if isinstance(exc, BrokenPipeError):
            raise WarmStepGone("the warm program was gone at the hand-over") from exc
        raise
    outcome = await _watch(spec, cg, child, step.armed.status_r, start, None, deliver, out, err,
                           cpu_poll_ms, cpu_base)  # fmt: skip
    return dataclasses.replace(outcome, warm=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _start(spec: StepSpec, cg: StepCgroup | None, armed: Armed | None, uid: int, gid: int,
           launcher: str | None,
           captures: list[Capture]) -> tuple[Child, int, float, int | None]:  # fmt: skip
    """Start the step: its child, the read end of bwrap's status pipe, the start time, and the
    write end of its stdin pipe (interactive steps only: ours to feed and close)."""
    stdin, feed_w = _stdin_fds(spec)
    try:
        return (*_start_with(spec, cg, armed, uid, gid, launcher, captures, stdin), feed_w)
    except BaseException:
        if feed_w is not None:
            os.close(feed_w)
        raise
    finally:
        os.close(stdin)  # the child has its own copy


def _start_with(spec: StepSpec, cg: StepCgroup | None, armed: Armed | None, uid: int, gid: int,
                launcher: str | None, captures: list[Capture],
                stdin: int) -> tuple[Child, int, float]:  # fmt: skip
    if armed is not None:
        start = time.monotonic()  # the step starts now: the launcher was waiting for it
        try:
            child = armed.go(spec.argv, spec.bwrap_options, spec.rlimits, stdin, captures, uid,
                             gid)  # fmt: skip
            os.set_blocking(armed.status_r, False)
            return child, armed.status_r, start
        except OSError:
            # It died while waiting: spawn one per step into the same (unused, limited) cgroups.
            if cg is not None:
                cg.open_join_fds()
    seccomp = filter_fd()
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(status_r, False)
    fds = {SECCOMP_FD: str(seccomp), STATUS_FD: str(status_w)}
    args = _stdin_fd(options_data(spec.bwrap_options, fds))  # a memfd: never blocks
    fds[ARGS_FD] = str(args)
    start = time.monotonic()
    try:
        argv = [fds.get(arg, arg) for arg in spec.argv]
        join_fds = cg.join_fds if cg else []
        preexec: Callable[[], None] | None = None
        if launcher is not None:
            # vfork + exec of a C shim that does what _child_setup would (see launcher.c).
            argv = launcher_argv(launcher, uid, gid, join_fds, spec.rlimits, argv)
        else:
            preexec = _child_setup(join_fds, spec.rlimits, uid, gid)
        child = spawn(argv, stdin=stdin, captures=captures, merge_stderr=len(captures) == 1,
                      pass_fds=(seccomp, status_w, args, *spec.pass_fds,
                                *(join_fds if launcher else ())), preexec=preexec)  # fmt: skip
        # Without the launcher nothing adopts bwrap's init: its counters would miss the program.
        child.counts_the_step = launcher is not None
    except BaseException:
        os.close(status_r)
        raise
    finally:
        for fd in (seccomp, status_w, args):
            os.close(fd)
        if cg is not None:
            cg.close_join_fds()
    return child, status_r, start


async def _supervise(child: Child, spec: StepSpec, cg: StepCgroup | None, start: float,
                     cpu_poll_ms: int, cpu_base_ns: int = 0) -> Stop | None:  # fmt: skip
    """Wait for the exit, enforcing wall and CPU time; why the step was stopped, if it was."""
    deadline = start + spec.wall_ms / 1000
    poll = cpu_poll_ms / 1000 if cg is not None else spec.wall_ms / 1000
    while True:
        remaining = deadline - time.monotonic()
        stopped: Stop | None = None
        if remaining <= 0:
            stopped = Stop.WALL
        elif cg is not None and cg.cpu_ns() - cpu_base_ns > spec.cpu_ms * 1_000_000:
            stopped = Stop.CPU
        if stopped is not None:
            if cg is not None:
                await asyncio.to_thread(cg.kill_all)
            child.kill()
            await child.wait(None)
            return stopped
        if await child.wait(min(poll, remaining)):
            return None


def _outcome(code: int | None, started: int | None, out: Capture, err: Capture, wall_ms: int,
             stats: CgroupStats | None, stopped: Stop | None,
             usage: Usage | None = None) -> StepOutcome:  # fmt: skip
    oom = bool(stats and stats.oom_kills)
    at_limit = oom or bool(stats and stats.memory_limit_hits)
    # bwrap's status when the command ran; otherwise its own (setup failure, or killed by us).
    code = started if started is not None else code
    exit_code: int | None = code
    sig: int | None = None
    if code is not None and code < 0:
        exit_code, sig = None, -code
    elif code is not None and 128 < code <= 128 + 64:
        # bwrap (its init, and its status fd) reports a child killed by signal N as 128+N, the
        # shell convention: a program that itself exits with 128+N looks the same from here.
        exit_code, sig = None, code - 128
    return StepOutcome(
        exit_code=exit_code,
        signal=sig,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        wall_ms=wall_ms,
        cpu_ms=stats.cpu_ns // 1_000_000 if stats else None,
        memory_peak_kb=stats.memory_peak_bytes // 1024
        if stats and stats.memory_peak_bytes
        else None,
        oom_killed=oom,
        stopped=stopped,
        # Only bwrap's status fd, which the program cannot write, says the command started:
        # whatever the program prints or returns, a run that started is never a setup failure.
        setup_failed=started is None and stopped is None and not oom,
        at_memory_limit=at_limit,
        usage=usage,
    )


def _final_stats(cg: StepCgroup) -> CgroupStats:
    # The cgroup's counters are final only once its last process is gone.
    if not cg.is_empty():
        cg.kill_all()
    return cg.stats()
