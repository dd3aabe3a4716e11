"""Hostile programs that use the kernel directly: ptrace, namespaces, mounts, kill(-1), /proc."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import Limits, Sandbox, Status

pytestmark = pytest.mark.usefixtures("clean_host")
QUICK = Limits(time_limit_ms=2000, memory_mb=128)

# Each line: name, syscall number (x86_64), arguments; the program prints name and errno name.
SYSCALL_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "ptrace_traceme": (101, 0, 0, 0, 0),
    "ptrace_attach_1": (101, 16, 1, 0, 0),
    "unshare_user": (272, 0x10000000, 0, 0, 0),
    "unshare_mount": (272, 0x00020000, 0, 0, 0),
    "unshare_net": (272, 0x40000000, 0, 0, 0),
    "setns": (308, 0, 0, 0, 0),
    "mount": (165, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0, 0),
    "keyctl": (250, 0, 0, 0, 0),
    "io_uring_setup": (425, 1, 0, 0, 0),
    "clone_newuser": (56, 0x10000000 | 17, 0, 0, 0),
    "socket_inet": (41, 2, 1, 0, 0),
    "socket_inet6": (41, 10, 1, 0, 0),
    "socket_netlink": (41, 16, 3, 0, 0),
    "ioctl_tiocsti": (16, 0, 0x5412, ctypes.addressof(ctypes.c_char(b"x")), 0),
    "ioctl_tiocsti_high_bits": (16, 0, 0x100005412, ctypes.addressof(ctypes.c_char(b"x")), 0),
}
for name, (nr, *args) in calls.items():
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    err = ctypes.get_errno()
    print(name, "OK" if ret >= 0 else errno.errorcode.get(err, err))
print("socket_unix", "OK" if libc.syscall(41, 1, 1, 0) >= 0 else "denied")
"""


async def test_dangerous_syscalls_are_refused(sandbox: Sandbox) -> None:
    result = await sandbox.run("python", SYSCALL_PROBE, limits=QUICK)
    assert result.status is Status.COMPLETED, result
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines.pop("socket_unix") == "OK"
    assert lines.pop("socket_inet") == "EACCES"
    assert lines.pop("socket_inet6") == "EACCES"
    assert lines.pop("socket_netlink") == "EACCES"
    assert lines == {name: "EPERM" for name in lines}, lines


async def test_unshare_command_fails(sandbox: Sandbox) -> None:
    src = "unshare -r id && echo ESCAPED; unshare -n true && echo ESCAPED; echo end\n"
    result = await sandbox.run("bash", src, limits=QUICK)
    assert "ESCAPED" not in result.stdout and result.stdout.endswith("end\n")


async def test_kill_minus_one_reaches_only_its_own_sandbox(sandbox: Sandbox) -> None:
    sleeper = sandbox.run("python", "import time\ntime.sleep(1.5)\nprint('survived')\n",
                          limits=QUICK)  # fmt: skip
    killer = sandbox.run("python", "import os, time\ntime.sleep(0.3)\ntry:\n    os.kill(-1, 9)\n"
                         "except ProcessLookupError:\n    print('nobody to kill')\n", limits=QUICK)  # fmt: skip
    slept, killed = await asyncio.gather(sleeper, killer)
    assert slept.status is Status.COMPLETED and slept.stdout == "survived\n"
    # Only pid 1 (bwrap's init, immune inside its namespace) and itself are in reach.
    assert killed.stdout == "nobody to kill\n"


async def test_proc_shows_only_the_sandbox(sandbox: Sandbox) -> None:
    src = (
        "import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "print(pids)\nprint(open('/proc/1/cmdline').read().split('\\0')[0])\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    pids, init = result.stdout.splitlines()
    assert pids == "[1, 2]"
    assert init.endswith("bwrap")


async def test_runs_as_nobody_without_capabilities(sandbox: Sandbox) -> None:
    src = (
        "import os\nprint(os.getuid(), os.geteuid(), os.getgid())\n"
        "s = open('/proc/self/status').read()\n"
        "print([l.split()[1] for l in s.splitlines() if l.startswith(('CapEff', 'CapBnd',"
        " 'NoNewPrivs', 'Seccomp:'))])\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    ids, caps = result.stdout.splitlines()
    assert ids == "65534 65534 65534"
    assert caps == "['0000000000000000', '0000000000000000', '1', '2']"
