"""Keeps the processes of `make up` running: one that exits is restarted with backoff.

An exit we did not ask for is never a reason to stop the whole engine: the component is started
again after a delay that doubles from `first_delay_s` up to `max_delay_s` and goes back to the
first once it has stayed up `stable_after_s`. A component that keeps exiting right after it
starts (a bad setting, a port taken) would only loop: after `crash_limit` such exits within
`crash_window_s` the supervisor gives up with `CrashLoop`, naming it and the end of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.services import REPO, Process, StackError, say

LOG_TAIL_LINES = 5


class CrashLoop(StackError):
    """A component keeps exiting right after it starts; restarting it again would not help."""


@dataclass(frozen=True)
class RestartPolicy:
    """How soon to restart, and when to give up."""

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    stable_after_s: float = 30.0  # up this long: the next exit starts the backoff afresh
    crash_limit: int = 5  # this many quick exits (each before stable_after_s) ...
    crash_window_s: float = 60.0  # ... within this long: a crash loop
    poll_s: float = 0.1


@dataclass
class _Watched:
    proc: Process
    started_at: float
    delay_s: float
    restarts: int = 0
    restart_at: float | None = None  # set while waiting out the backoff
    quick_exits: deque[float] = field(default_factory=deque)
    log_offset: int = 0  # where the current run's output starts in the log


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _exit_status(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_tail(path: Path, offset: int, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines the last run wrote (from `offset`), not its predecessors' same error."""
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(offset, log.tell() - 8192))
            text = log.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


class Supervisor:
    """The processes of one stack in start order: restarted when they exit, stopped in reverse."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        announce: Callable[[str], None] = say,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.announce = announce
        self.clock = clock
        self._watched: list[_Watched] = []

    @property
    def names(self) -> list[str]:
        return [w.proc.name for w in self._watched]

    @property
    def restarts(self) -> dict[str, int]:
        return {w.proc.name: w.restarts for w in self._watched}

    def adopt(self, proc: Process) -> None:
        """Watch a process that is already running (the services, started and waited for)."""
        self._watched.append(_Watched(proc, self.clock(), self.policy.first_delay_s))

    def start(self, proc: Process) -> None:
        offset = _log_size(proc.log_path)
        proc.start()
        self.adopt(proc)
        self._watched[-1].log_offset = offset

    def check(self) -> None:
        """Restart what has exited and whose delay is over; raise CrashLoop for a crash loop."""
        for watched in self._watched:
            now = self.clock()
            if watched.restart_at is not None:
                if now >= watched.restart_at:
                    self._restart(watched, now)
                continue
            code = watched.proc.returncode
            uptime = now - watched.started_at
            if code is None:
                if uptime >= self.policy.stable_after_s:
                    watched.delay_s = self.policy.first_delay_s
                    watched.quick_exits.clear()
                continue
            self._exited(watched, code, uptime, now)

    def _exited(self, watched: _Watched, code: int | None, uptime: float, now: float) -> None:
        proc = watched.proc
        # What it leaves behind (PostgreSQL backends, a sandbox) would hold ports or shared
        # memory and make the restart fail.
        proc.kill_group()
        if uptime >= self.policy.stable_after_s:
            watched.delay_s = self.policy.first_delay_s
            watched.quick_exits.clear()
        else:
            watched.quick_exits.append(now)
            while watched.quick_exits[0] < now - self.policy.crash_window_s:
                watched.quick_exits.popleft()
        if len(watched.quick_exits) >= self.policy.crash_limit:
            tail = "".join(f"\n    {line}" for line in _log_tail(proc.log_path, watched.log_offset))
            raise CrashLoop(
                f"{proc.name} keeps exiting right after it starts ({len(watched.quick_exits)} "
                f"times within {self.policy.crash_window_s:.0f}s; the last one "
                f"{_exit_status(code)}); not restarting it. "
                f"See {_shown(proc.log_path)}" + (f", which ends:{tail}" if tail else "")
            )
        watched.restarts += 1
        watched.restart_at = now + watched.delay_s
        self.announce(
            f"{proc.name} {_exit_status(code)} after {uptime:.1f}s; restarting it in "
            f"{watched.delay_s:g}s (restart {watched.restarts}; log: {_shown(proc.log_path)})"
        )
        watched.delay_s = min(watched.delay_s * 2, self.policy.max_delay_s)

    def _restart(self, watched: _Watched, now: float) -> None:
        watched.restart_at = None
        watched.started_at = now
        watched.log_offset = _log_size(watched.proc.log_path)
        try:
            watched.proc.start()
        except OSError as exc:
            self.announce(f"{watched.proc.name} could not be started: {exc}")
            self._exited(watched, None, 0.0, now)

    async def watch(self, stop: asyncio.Event) -> None:
        """Check every `poll_s` until `stop` is set; raises CrashLoop."""
        while not stop.is_set():
            self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.policy.poll_s)

    def summary(self) -> str:
        restarted = [f"{w.proc.name} {w.restarts}" for w in self._watched if w.restarts]
        return "restarts: " + (", ".join(restarted) if restarted else "none")

    def stop(self) -> None:
        """Stop every process, last started first; one waiting to be restarted stays stopped."""
        for watched in reversed(self._watched):
            watched.restart_at = None
            watched.proc.stop()
