"""Launchers armed ahead of their step: already in a fresh cgroup set, waiting for the command.

On cgroup v1 each write of a pid into `cgroup.procs` waits for an RCU grace period (5-10 ms per
hierarchy here, four hierarchies per step), which made the cgroup join most of a step's startup.
So after each step (and at start) the sandbox spawns launchers (`launcher.c --armed`) that join a
never-used cgroup set at once and then block on a control socket. A step takes a ready one, sets
its cgroup's limits and sends one go message (the slot's uid and gid, rlimits, bwrap's argv,
stdin as a descriptor); the launcher sets the rlimits, drops to the slot's user and execs bwrap,
exactly as when spawned per step. Its output pipes, seccomp filter and status pipe were made at arm time.

Spawning happens on the event loop thread, after the previous result went out: the kernel ties
PR_SET_PDEATHSIG to the forking *thread*, so a launcher forked from a pool thread would die with
that thread (or outlive the worker's main thread). The slow join runs in the launcher itself.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
from collections.abc import Callable, Sequence

from sandbox.bwrap import ARGS_FD, SECCOMP_FD, STATUS_FD, options_data
from sandbox.cgroups import CgroupDriver, StepCgroup
from sandbox.errors import CgroupError
from sandbox.seccomp import filter_fd
from sandbox.spawn import Capture, Child

_ARMORIES: set[Armory] = set()  # strong: every armory is closed at exit, even if dropped


@atexit.register
def _disarm_all() -> None:
    for armory in list(_ARMORIES):  # a crash instead: EOF on the control socket ends them
        armory.close()


def _off_3_4(fd: int) -> int:
    """`fd`, moved above 4 if it is 3 or 4: a launcher keeps the numbers of what it is passed,
    and a warm sandbox's command gets its control and ready pipes as fds 3 and 4 (launcher.c)."""
    if fd not in (3, 4):
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


def said_ready(read_one: Callable[[], bytes]) -> bool | None:
    """A non-blocking read of the one byte ("R") a process sends once it waits: True when read,
    False when nothing is there yet, None when the other end is gone or said something else."""
    try:
        got = read_one()
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True if got == b"R" else None


class Armed:
    """One launcher blocked on its control socket, inside its own (idle) step cgroup set."""

    def __init__(self, launcher: str, cgroups: CgroupDriver) -> None:
        self.cg: StepCgroup = cgroups.make_idle()
        self._cgroups = cgroups
        self.ready = False
        fds: list[int] = []  # ours to close in any case once the launcher has its copies
        try:
            self._ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            fds.append(_off_3_4(theirs.detach()))
            self._seccomp = _off_3_4(filter_fd())
            fds.append(self._seccomp)
            # bwrap's options, written at go time (bwrap reads them from offset 0 on exec).
            self._args = _off_3_4(os.memfd_create("bwrap-args", os.MFD_CLOEXEC))
            self.status_r, status_w = os.pipe2(os.O_CLOEXEC)
            status_w = _off_3_4(status_w)
            fds.append(status_w)
            self._status_w = status_w
            self.out_r, out_w = os.pipe2(os.O_CLOEXEC)
            fds.append(out_w)
            self.err_r, err_w = os.pipe2(os.O_CLOEXEC)
            fds.append(err_w)
            self.cg.join_fds[:] = [_off_3_4(fd) for fd in self.cg.join_fds]
            joins = ",".join(map(str, self.cg.join_fds))
            self.popen = subprocess.Popen(
                [launcher, "--armed", joins, str(fds[0])],
                stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, close_fds=True,
                pass_fds=(fds[0], self._seccomp, status_w, self._args, *self.cg.join_fds),
                env={},
            )  # fmt: skip
        except BaseException:
            self._close_ours()
            self._remove_cgroup()
            raise
        finally:
            for fd in fds:
                os.close(fd)
            self.cg.close_join_fds()

    def poll(self) -> bool | None:
        """True once joined and waiting, False while still joining, None if it is gone."""
        if not self.ready:
            said = said_ready(lambda: self._ctl.recv(1, socket.MSG_DONTWAIT))
            if not said:
                return said
            self.ready = True
        return True if self.popen.poll() is None else None

    def go(self, argv: Sequence[str], options: Sequence[str], rlimits: tuple[tuple[int, int], ...],
           stdin: int, captures: Sequence[Capture], uid: int, gid: int) -> Child:  # fmt: skip
        """Start the step as `uid`/`gid` (the launcher must be ready); `options` are what bwrap
        reads from ARGS_FD. One capture means stderr into stdout. Raises OSError if the launcher
        is gone, and then owns nothing any more but the cgroup."""
        self.send(argv, options, rlimits, stdin, len(captures) == 1, uid, gid)
        return self.child(captures)

    def send(self, argv: Sequence[str], options: Sequence[str],
             rlimits: tuple[tuple[int, int], ...], stdin: int, merge: bool, uid: int, gid: int,
             warm: tuple[int, int] | None = None) -> None:  # fmt: skip
        """The go message of `go`, without making the Child; with `warm` (a warm sandbox,
        pool.py) the command gets those two descriptors (control, ready) as fds 3 and 4."""
        fds = {SECCOMP_FD: str(self._seccomp), STATUS_FD: str(self._status_w),
               ARGS_FD: str(self._args)}  # fmt: skip
        data = options_data(options, fds)
        limits = ",".join(f"{which}={value}" for which, value in rlimits) or "-"
        flags = ("m" if merge else "-") + ("w" if warm is not None else "")
        fields = [flags, str(uid), str(gid), limits, *(fds.get(a, a) for a in argv)]
        encoded = [os.fsencode(f) for f in fields]
        if any(b"\0" in f for f in encoded):  # would shift the fields; Popen refuses it too
            raise ValueError("embedded null byte")
        payload = b"".join(f + b"\0" for f in encoded)
        message = struct.pack("=I", len(payload)) + payload
        try:
            if os.pwrite(self._args, data, 0) != len(data):  # a memfd takes it whole or fails
                raise OSError("short write of bwrap's options")
            passed = [stdin] if warm is None else [stdin, *warm]
            sent = socket.send_fds(self._ctl, [message], passed)
            if sent != len(message):
                self._ctl.sendall(message[sent:])
        except OSError:
            self.abandon()
            raise
        self._ctl.close()
        os.close(self._args)
        del self._args

    def child(self, captures: Sequence[Capture]) -> Child:
        """The started step as a Child whose output feeds `captures` (after `send`)."""
        if len(captures) == 1:
            os.close(self.err_r)
            return Child(self.popen, {self.out_r: captures[0]})
        return Child(self.popen, {self.out_r: captures[0], self.err_r: captures[1]})

    def abandon(self) -> None:
        """Kill and reap the launcher and close our ends; the cgroup stays (the caller's)."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()
        self._close_ours()

    def discard(self) -> None:
        self.abandon()
        self._remove_cgroup()

    def _close_ours(self) -> None:
        with contextlib.suppress(AttributeError):
            self._ctl.close()
        for name in ("status_r", "out_r", "err_r", "_args"):
            with contextlib.suppress(AttributeError, OSError):
                os.close(getattr(self, name))

    def _remove_cgroup(self) -> None:
        self._cgroups.drop_idle(self.cg)
        with contextlib.suppress(OSError, CgroupError):
            self.cg.remove(timeout=0.5)


class Armory:
    """Keeps `count` launchers armed for one sandbox (about two per slot: compile, then run)."""

    def __init__(self, launcher: str, cgroups: CgroupDriver, count: int) -> None:
        self._launcher, self._cgroups = launcher, cgroups
        self._count = count
        self._armed: list[Armed] = []
        self._closed = False
        self.taken = 0  # steps started through an armed launcher (for tests and health checks)
        _ARMORIES.add(self)

    def refill(self) -> None:
        """Spawn launchers until `count` are armed or arming (joining is up to each launcher)."""
        for armed in [a for a in self._armed if a.poll() is None]:
            self._armed.remove(armed)
            armed.discard()
        while not self._closed and len(self._armed) < self._count:
            self._armed.append(Armed(self._launcher, self._cgroups))

    def take(self, memory_bytes: int, pids: int) -> Armed | None:
        """A ready launcher whose cgroup now has these limits, or None (then spawn per step)."""
        for armed in list(self._armed):
            state = armed.poll()
            if state is False:
                continue
            self._armed.remove(armed)
            if state is None:
                armed.discard()
                continue
            try:
                self._cgroups.claim(armed.cg, memory_bytes, pids)
            except OSError:
                armed.discard()
                continue
            self.taken += 1
            return armed
        return None

    def ready_count(self) -> int:
        return sum(1 for a in self._armed if a.poll())

    def pids(self) -> list[int]:
        """Process ids of the launchers armed or arming (for tests and health checks)."""
        return [a.popen.pid for a in self._armed]

    def close(self) -> None:
        """Kill the idle launchers and remove their cgroups (at shutdown and at exit)."""
        self._closed = True
        _ARMORIES.discard(self)
        while self._armed:
            self._armed.pop().discard()
