"""The seccomp program's shape and the bubblewrap command line (no bubblewrap run here)."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from sandbox import bwrap
from sandbox.seccomp import build_filter


@pytest.mark.parametrize(("machine", "arch"), [("x86_64", 0xC000003E), ("aarch64", 0xC00000B7)])
def test_filter_checks_the_architecture_first(machine: str, arch: int) -> None:
    program = build_filter(machine)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert insns[0] == (0x20, 0, 0, 4)  # load arch
    assert insns[1][0] == 0x15 and insns[1][3] == arch
    assert insns[2] == (0x06, 0, 0, 0x80000000)  # kill on mismatch
    # every jump lands inside the program
    for pc, (code, jt, jf, _k) in enumerate(insns):
        if code & 0x07 == 0x05:
            assert pc + 1 + max(jt, jf) < len(insns)


def _run(program: bytes, nr: int, arch: int, *args: int) -> int:
    """What the filter returns for one syscall: a small classic-BPF interpreter for the
    instructions the assembler emits (load word, jeq, jge, jset, ret)."""
    # struct seccomp_data: nr, arch, instruction pointer, six arguments.
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args, *[0] * (6 - len(args)))
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x06:
            return int(k)
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        pc += 1


EPERM, ENOSYS = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
ALLOW, KILL = 0x7FFF0000, 0x80000000
# (personality, mount, read, highest number the filter knows) per architecture.
NUMBERS = {"x86_64": (135, 165, 0, 462), "aarch64": (92, 40, 63, 462)}


@pytest.mark.parametrize(("machine", "arch"), [("x86_64", 0xC000003E), ("aarch64", 0xC00000B7)])
def test_filter_refuses_unknown_numbers_and_unsafe_personalities(machine: str, arch: int) -> None:
    program = build_filter(machine)
    personality, mount, read, last = NUMBERS[machine]
    assert _run(program, read, arch) == ALLOW
    assert _run(program, read, 0x40000003) == KILL  # i386 or any other architecture
    assert _run(program, mount, arch) == EPERM
    assert _run(program, last, arch) == ALLOW
    for unknown in (last + 1, 999, 0x3FFFFFFF):
        assert _run(program, unknown, arch) == ENOSYS, unknown
    # Docker's default profile: only these personalities (query, Linux, with the harmless flags).
    for persona in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert _run(program, personality, arch, persona) == ALLOW, hex(persona)
    for persona in (0x0040000, 0x0400000, 0x1_0000_0000 | 0x0040000, 0x0200000):
        assert _run(program, personality, arch, persona) == EPERM, hex(persona)
    if machine == "x86_64":
        assert _run(program, 154, arch) == EPERM  # modify_ldt
        assert _run(program, 0x40000000, arch) == EPERM  # x32


def test_command_line_isolates_everything(tmp_path: Path) -> None:
    argv = bwrap.command_line(bwrap="/usr/bin/bwrap", etc_dir=tmp_path, box=tmp_path / "box",
                              command=["./main"], tmp_bytes=1 << 20, mounts=["/opt/x"],
                              env={"A": "1"})  # fmt: skip
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                 "--new-session", "--clearenv"):  # fmt: skip
        assert flag in argv
    assert argv[argv.index("--seccomp") + 1] == bwrap.SECCOMP_FD
    assert argv[-2:] == ["--", "./main"]
    assert argv[argv.index("/opt/x") - 1 :][:3] == ["--ro-bind-try", "/opt/x", "/opt/x"]
    # Root and /dev are made read-only after everything is mounted.
    assert argv.index("--remount-ro") > argv.index("/box")
    assert "--setenv" in argv and "A" in argv


def test_status_fd_is_asked_for(tmp_path: Path) -> None:
    argv = bwrap.command_line(bwrap="/usr/bin/bwrap", etc_dir=tmp_path, box=tmp_path / "box",
                              command=["./main"], tmp_bytes=1 << 20)  # fmt: skip
    assert argv[argv.index("--json-status-fd") + 1] == bwrap.STATUS_FD


def test_dev_is_built_without_a_devpts(tmp_path: Path) -> None:
    argv = bwrap.command_line(bwrap="/usr/bin/bwrap", etc_dir=tmp_path, box=tmp_path / "box",
                              command=["./main"], tmp_bytes=1 << 20)  # fmt: skip
    # bwrap's --dev always mounts a devpts (and /dev/ptmx into it).
    assert "--dev" not in argv and not [a for a in argv if "pts" in a or "ptmx" in a]
    assert "/dev" in [argv[i + 1] for i, arg in enumerate(argv) if arg == "--tmpfs"]


def test_stand_in_accounts_name_every_slot_user(tmp_path: Path) -> None:
    ids = [(60000, 61000), (60001, 61001)]
    etc = bwrap.etc_dir(tmp_path, ids)
    bwrap.write_etc(etc, ids)
    passwd = (etc / "passwd").read_text().splitlines()
    assert "sandbox1:x:60001:61001:slot 1:/box:/usr/sbin/nologin" in passwd
    assert "sandbox0:x:61000:" in (etc / "group").read_text()
    # Other slot counts or bases get a directory of their own: never rewritten under a run.
    assert bwrap.etc_dir(tmp_path, ids[:1]) != etc
    assert bwrap.etc_dir(tmp_path, list(ids)) == etc
