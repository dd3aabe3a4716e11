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


async def test_runs_as_a_slot_user_without_capabilities(sandbox: Sandbox) -> None:
    src = (
        "import os\nprint(os.getuid(), os.geteuid(), os.getgid())\n"
        "s = open('/proc/self/status').read()\n"
        "print([l.split()[1] for l in s.splitlines() if l.startswith(('CapEff', 'CapBnd',"
        " 'NoNewPrivs', 'Seccomp:'))])\n"
    )
    result = await sandbox.run("python", src, limits=QUICK)
    ids, caps = result.stdout.splitlines()
    uid, euid, gid = map(int, ids.split())
    base = sandbox.settings.uid_base
    assert uid == euid and base <= uid < base + sandbox.slots
    assert gid - sandbox.settings.gid_base == uid - base
    assert caps == "['0000000000000000', '0000000000000000', '1', '2']"


PTY_PROBE = """
import os
attempts = {
    "openpty": os.openpty,
    "ptmx": lambda: os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY),
    "pts": lambda: os.listdir("/dev/pts"),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "OPENED")
    except OSError as e:
        print(name, "failed")
"""
C_PTY_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (fd < 0) { printf("failed %d\n", errno); return 0; }
    printf("OPENED %s\n", ptsname(fd));
    return 0;
}
"""


async def test_no_pseudo_terminal_can_be_opened(sandbox: Sandbox) -> None:
    # One run holding ptys exhausted the host's pty pool: a sandbox has no devpts at all.
    result = await sandbox.run("python", PTY_PROBE, limits=QUICK)
    assert result.status is Status.COMPLETED, result
    assert result.stdout == "openpty failed\nptmx failed\npts failed\n"
    result = await sandbox.run("c", C_PTY_PROBE, limits=QUICK)
    assert result.status is Status.COMPLETED, result
    assert result.stdout.startswith("failed"), result.stdout


async def test_the_usual_devices_still_work(sandbox: Sandbox) -> None:
    src = (
        "echo gone > /dev/null && head -c 5 /dev/zero | wc -c && head -c 7 /dev/urandom | wc -c\n"
        "head -c 3 /dev/random | wc -c; echo x > /dev/full || echo full refused\n"
        "ls /dev/fd/ | head -1; readlink /dev/stdin /dev/stdout /dev/stderr; test -t 0 || echo no tty\n"
    )
    result = await sandbox.run("bash", src, limits=QUICK)
    assert result.stdout == (
        "5\n7\n3\nfull refused\n0\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\nno tty\n"
    ), result


INOTIFY_HOG = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
held = []
while libc.inotify_init1(0) >= 0:
    held.append(1)
print(os.getuid(), os.getgid(), "held", len(held), flush=True)
time.sleep(2)
"""
INOTIFY_USER = """
import ctypes, grp, os, pwd
libc = ctypes.CDLL(None, use_errno=True)
got = sum(1 for _ in range(8) if libc.inotify_init1(0) >= 0)
print(os.getuid(), os.getgid(), "got", got)
print(pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name, pwd.getpwuid(os.getuid()).pw_dir)
"""


async def test_runs_at_once_have_their_own_user_and_per_user_counters(sandbox: Sandbox) -> None:
    # The kernel counts some resources per user (inotify instances, processes, ...): with one
    # shared user, a run holding them all would starve every other run.
    full = asyncio.Event()

    def on_output(_stream: str, _data: bytes) -> None:
        full.set()

    limits = Limits(time_limit_ms=3000, memory_mb=128)
    hog = asyncio.ensure_future(sandbox.run("python", INOTIFY_HOG, limits=limits,
                                            on_output=on_output))  # fmt: skip
    await asyncio.wait_for(full.wait(), timeout=10)
    other = await sandbox.run("python", INOTIFY_USER, limits=QUICK)
    hogged = await hog
    assert hogged.status is Status.COMPLETED, hogged
    hog_uid, hog_gid, _, held = hogged.stdout.split()
    assert int(held) > 8
    assert other.status is Status.COMPLETED, other
    ids, names = other.stdout.splitlines()
    uid, gid, _, got = ids.split()
    assert uid != hog_uid and gid != hog_gid
    s = sandbox.settings
    for u, g in ((uid, gid), (hog_uid, hog_gid)):
        assert s.uid_base <= int(u) < s.uid_base + s.slots
        assert int(g) - s.gid_base == int(u) - s.uid_base
    assert got == "8"
    # The stand-in /etc/passwd and /etc/group know every slot's user.
    assert names == f"sandbox{int(uid) - s.uid_base} sandbox{int(uid) - s.uid_base} /box"


# x86_64 numbers: modify_ldt 154, personality 135, setxattrat 463 (Linux 6.13: newer than the
# filter's table, so refused as unknown although this kernel has it), 999 (no such syscall).
C_SYSCALL_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *name, long ret) {
    printf("%s %s\n", name, ret >= 0 ? "OK" : strerrorname_np(errno));
}
int main(void) {
    static char ldt[64];
    report("modify_ldt_read", syscall(154, 0, ldt, sizeof ldt));
    report("modify_ldt_write", syscall(154, 1, ldt, 16));
    report("personality_no_aslr", personality(ADDR_NO_RANDOMIZE));
    report("personality_read_implies_exec", personality(READ_IMPLIES_EXEC));
    report("personality_query", personality(0xffffffff));
    report("personality_linux", personality(PER_LINUX));
    report("personality_high_bits_no_aslr", syscall(135, 0x100000000L | ADDR_NO_RANDOMIZE));
    report("setxattrat", syscall(463, -1, 0, 0, 0, 0, 0));
    report("nr_999", syscall(999, 0, 0, 0, 0, 0, 0));
    report("nr_x32_read", syscall(0x40000000 | 0, 0, 0, 0));
    return 0;
}
"""


async def test_syscalls_outside_the_table_and_legacy_ones_are_refused(sandbox: Sandbox) -> None:
    result = await sandbox.run("c", C_SYSCALL_PROBE, limits=QUICK)
    assert result.status is Status.COMPLETED, result
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines == {
        "modify_ldt_read": "EPERM",
        "modify_ldt_write": "EPERM",
        "personality_no_aslr": "EPERM",
        "personality_read_implies_exec": "EPERM",
        "personality_query": "OK",
        "personality_linux": "OK",
        # The kernel reads only the low 32 bits, so the filter must too.
        "personality_high_bits_no_aslr": "EPERM",
        "setxattrat": "ENOSYS",
        "nr_999": "ENOSYS",
        "nr_x32_read": "EPERM",
    }, lines
