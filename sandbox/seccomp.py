"""A seccomp BPF program, assembled once per process, handed to bwrap with `--seccomp FD`.

Hand-assembled classic BPF (no libseccomp needed): kill on a foreign architecture, ENOSYS for
syscall numbers newer than the table below knows (a kernel's new syscalls are unreviewed attack
surface; libc treats ENOSYS as "old kernel" and falls back), EPERM for syscalls that reach outside
the sandbox (ptrace, mount, namespaces, bpf, keyrings, io_uring, modify_ldt, ...), EACCES for
sockets other than AF_UNIX, EPERM for clone() with namespace flags, for the TIOCSTI/TIOCLINUX
ioctls and for personality() other than the values Docker's default profile allows, ENOSYS for
clone3 (its flags live in memory BPF cannot read; libc falls back).
"""

from __future__ import annotations

import errno
import os
import platform
import struct
from functools import cache

_LD_ABS_W = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

_OFF_NR, _OFF_ARCH = 0, 4


def _arg(index: int) -> int:
    # seccomp_data.args[i] starts at 16; little endian, so the low 32 bits come first.
    return 16 + 8 * index


_AF_UNIX = 1
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME(0x80)
_CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
_CLONE_NS_FLAGS |= 0x40000000 | 0x00000080

# personality(): query (0xffffffff), PER_LINUX, and with UNAME26 (0x20000) or PER_LINUX32 (0x8).
# Not ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and the like, which weaken the next exec's hardening.
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# The newest syscall the tables know: mseal (Linux 6.10, the same number on every architecture
# since 5.1). Raise it after reviewing what the kernel added since.
_LAST_KNOWN = 462

_DENIED = [
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "sethostname",
    "setdomainname",
    "syslog",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "lookup_dcookie",
    "kcmp",
    "vhangup",
    "fanotify_init",
    "pidfd_getfd",
]
# Denied where the architecture has them.
_DENIED_IF_PRESENT = ["modify_ldt", "iopl", "ioperm", "uselib"]

_X86_64 = dict(
    ptrace=101, process_vm_readv=310, process_vm_writev=311, mount=165, umount2=166,
    pivot_root=155, chroot=161, unshare=272, setns=308, bpf=321, keyctl=250, add_key=248,
    request_key=249, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
    open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
    mount_setattr=442, perf_event_open=298, kexec_load=246, kexec_file_load=320,
    init_module=175, finit_module=313, delete_module=176, reboot=169, swapon=167, swapoff=168,
    acct=163, sethostname=170, setdomainname=171, syslog=103, userfaultfd=323,
    open_by_handle_at=304, name_to_handle_at=303, quotactl=179, lookup_dcookie=212, kcmp=312,
    vhangup=153, fanotify_init=300, pidfd_getfd=438, clone=56, clone3=435, socket=41, ioctl=16,
    personality=135, modify_ldt=154, iopl=172, ioperm=173, uselib=134,
)  # fmt: skip
_AARCH64 = dict(
    ptrace=117, process_vm_readv=270, process_vm_writev=271, mount=40, umount2=39,
    pivot_root=41, chroot=51, unshare=97, setns=268, bpf=280, keyctl=219, add_key=217,
    request_key=218, io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
    open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
    mount_setattr=442, perf_event_open=241, kexec_load=104, kexec_file_load=294,
    init_module=105, finit_module=273, delete_module=106, reboot=142, swapon=224, swapoff=225,
    acct=89, sethostname=161, setdomainname=162, syslog=116, userfaultfd=282,
    open_by_handle_at=265, name_to_handle_at=264, quotactl=60, lookup_dcookie=18, kcmp=272,
    vhangup=58, fanotify_init=262, pidfd_getfd=438, clone=220, clone3=435, socket=198, ioctl=29,
    personality=92,
)  # fmt: skip
# (AUDIT_ARCH value, syscall table, x32 bit to refuse or 0)
_ARCHES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),
    "aarch64": (0xC00000B7, _AARCH64, 0),
}


class _Assembler:
    """Forward-jump-only BPF with symbolic labels, resolved when the program is packed."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def pack(self) -> bytes:
        out = bytearray()
        for pc, (code, jt, jf, k) in enumerate(self.code):
            out += struct.pack("<HBBI", code, self._rel(pc, jt), self._rel(pc, jf), k)
        return bytes(out)

    def _rel(self, pc: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - pc - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"BPF jump to {target} out of range")
        return offset


def build_filter(machine: str | None = None) -> bytes:
    """The filter for `machine` (default: this host) as bytes of `struct sock_filter`."""
    audit_arch, table, x32_bit = _ARCHES[machine or platform.machine()]
    a = _Assembler()
    a.op(_LD_ABS_W, _OFF_ARCH)
    a.op(_JEQ, audit_arch, jt=1)
    a.op(_RET, _RET_KILL_PROCESS)
    a.op(_LD_ABS_W, _OFF_NR)
    if x32_bit:
        a.op(_JGE, x32_bit, jt="deny")
    a.op(_JGE, _LAST_KNOWN + 1, jt="enosys")
    for name in _DENIED + [n for n in _DENIED_IF_PRESENT if n in table]:
        a.op(_JEQ, table[name], jt="deny")
    a.op(_JEQ, table["clone3"], jt="enosys")
    a.op(_JEQ, table["socket"], jt="socket")
    a.op(_JEQ, table["ioctl"], jt="ioctl")
    a.op(_JEQ, table["clone"], jt="clone")
    a.op(_JEQ, table["personality"], jt="personality")
    a.op(_RET, _RET_ALLOW)
    a.label("personality")
    # The kernel takes an unsigned int: only the low 32 bits count.
    a.op(_LD_ABS_W, _arg(0))
    for value in _PERSONALITIES:
        a.op(_JEQ, value, jt="allow")
    a.op(_RET, _RET_ERRNO | errno.EPERM)
    a.label("socket")
    a.op(_LD_ABS_W, _arg(0))
    a.op(_JEQ, _AF_UNIX, jt="allow")
    a.op(_RET, _RET_ERRNO | errno.EACCES)
    a.label("ioctl")
    # The tty layer compares only the low 32 bits of the request, so must we.
    a.op(_LD_ABS_W, _arg(1))
    a.op(_JEQ, _TIOCSTI, jt="deny")
    a.op(_JEQ, _TIOCLINUX, jt="deny")
    a.op(_RET, _RET_ALLOW)
    a.label("clone")
    a.op(_LD_ABS_W, _arg(0))
    a.op(_JSET, _CLONE_NS_FLAGS, jt="deny")
    a.label("allow")
    a.op(_RET, _RET_ALLOW)
    a.label("deny")
    a.op(_RET, _RET_ERRNO | errno.EPERM)
    a.label("enosys")
    a.op(_RET, _RET_ERRNO | errno.ENOSYS)
    return a.pack()


@cache
def compiled_filter() -> bytes:
    """This host's filter, assembled once per process."""
    return build_filter()


def filter_fd() -> int:
    """A pipe read end holding the filter; bwrap reads it to EOF and closes it (one per run)."""
    data = compiled_filter()
    read_end, write_end = os.pipe()
    try:
        # Fits the pipe buffer (a few hundred bytes), so this never blocks.
        os.write(write_end, data)
    finally:
        os.close(write_end)
    return read_end


def supported() -> bool:
    """Whether this architecture has a syscall table here."""
    return platform.machine() in _ARCHES
