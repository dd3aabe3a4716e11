"""The bubblewrap command line of one step: namespaces, read-only system, tmpfs, /box, seccomp."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

# Every namespace, no new user namespaces inside, die with the outer bwrap, no controlling tty
# (TIOCSTI), no inherited environment, no capabilities.
_ISOLATION = (
    "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
    "--new-session", "--clearenv", "--cap-drop", "ALL", "--hostname", "sandbox",
)  # fmt: skip
# Symlinks that system files point through (update-alternatives, the dynamic loader's cache).
_ETC_SYSTEM = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
# Harmless stand-ins for the host's account and name files, written once by `write_etc`.
ETC_NAMES = ("passwd", "group", "hosts", "nsswitch.conf")
# An empty file bound over /proc/cmdline, which shows the host kernel's command line.
CMDLINE = "cmdline"
# Devices bound from the host into a /dev of our own (bwrap's --dev would also mount a devpts:
# a run could then hold the host's pseudo-terminals, of which the kernel has only a few thousand).
# /dev/ptmx and /dev/pts are left out altogether, so opening a pty fails plainly (ENOENT) rather
# than half-working on a stand-in. /dev/tty stays, as with --dev: with no controlling terminal
# (--new-session) opening it fails with ENXIO, which programs expect.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# Replaced by the step with the descriptor of the filter it passes to this very bwrap.
SECCOMP_FD = "{seccomp_fd}"
# Replaced by the step with a descriptor holding bwrap's options (see `via_args_fd`).
ARGS_FD = "{args_fd}"
# Replaced by the step with the write end of a pipe: bwrap writes {"exit-code": N} there only once
# the user's command was started (setup done), which the sandboxed program cannot reach or forge.
STATUS_FD = "{status_fd}"
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/box",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
}


@cache
def system_args() -> tuple[str, ...]:
    """Read-only /usr and the top-level links into it, as on this host (merged /usr or not)."""
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in _ETC_SYSTEM:
        args += ["--ro-bind-try", etc, etc]
    return tuple(args)


def etc_files(ids: Sequence[tuple[int, int]]) -> dict[str, str]:
    """The stand-in /etc files: root, one user and group per slot (`ids`: its uid and gid), and
    nobody (what files of unmapped owners, root's among them, show as inside)."""
    users = "".join(f"sandbox{i}:x:{u}:{g}:slot {i}:/box:/usr/sbin/nologin\n"
                    for i, (u, g) in enumerate(ids))  # fmt: skip
    groups = "".join(f"sandbox{i}:x:{g}:\n" for i, (_u, g) in enumerate(ids))
    return {
        "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{users}nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"root:x:0:\n{groups}nogroup:x:65534:\n",
        "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }


def etc_dir(root: Path, ids: Sequence[tuple[int, int]]) -> Path:
    """Where the stand-in files for these slot users live: named after their content, so that
    sandboxes of other settings (or versions) sharing `root` never rewrite them under each other."""
    digest = hashlib.sha256(repr(sorted(etc_files(ids).items())).encode()).hexdigest()[:12]
    return root / f"etc-{digest}"


def write_etc(directory: Path, ids: Sequence[tuple[int, int]]) -> None:
    """Write the stand-in /etc files for these slot users, and the empty stand-in for
    /proc/cmdline (the host kernel's command line), into `directory` (idempotent)."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name, content in {**etc_files(ids), CMDLINE: ""}.items():
        target = directory / name
        if not target.exists() or target.read_text() != content:
            tmp = directory / f".{name}.{os.getpid()}"
            tmp.write_text(content)
            tmp.chmod(0o644)
            tmp.replace(target)


def command_line(
    *,
    bwrap: str,
    etc_dir: Path,
    box: Path,
    command: Sequence[str],
    tmp_bytes: int,
    mounts: Sequence[str] = (),
    binds: Sequence[tuple[Path, str]] = (),
    env: Mapping[str, str] | None = None,
    ro_binds: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """argv for bwrap running `command` in /box; `mounts` are host paths bound read-only if present,
    `binds` (host path, sandbox path) writable ones, `ro_binds` (host path, sandbox path)
    read-only ones (library trees, which may land inside the emptied /usr/local)."""
    args = [bwrap, *_ISOLATION, *system_args()]
    # /usr/local holds whatever the host installed by hand: only what a language mounts of it.
    local = ["/usr/local"] if os.path.isdir("/usr/local") else []
    for path in local:
        args += ["--tmpfs", path]
    for name in ETC_NAMES:
        args += ["--ro-bind", str(etc_dir / name), f"/etc/{name}"]
    for path in mounts:
        args += ["--ro-bind-try", path, path]
    for tree, at in ro_binds:
        args += ["--ro-bind", tree, at]
    args += ["--proc", "/proc", "--ro-bind", str(etc_dir / CMDLINE), "/proc/cmdline"]
    args += ["--tmpfs", "/dev"]
    for device in DEVICES:
        args += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        args += ["--symlink", f"/proc/self/fd/{fd}", f"/dev/{name}"]
    args += ["--symlink", "/proc/self/fd", "/dev/fd"]
    args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"]
    args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--bind", str(box), "/box"]
    for host, inside in binds:
        args += ["--bind", str(host), inside]
    # bwrap's own root, /dev and /usr/local are tmpfs the user could fill: only /box, /tmp,
    # /dev/shm stay rw.
    for path in ("/dev", *local, "/"):
        args += ["--remount-ro", path]
    for key, value in {**BASE_ENV, **(env or {})}.items():
        args += ["--setenv", key, value]
    args += ["--chdir", "/box", "--seccomp", SECCOMP_FD, "--json-status-fd", STATUS_FD]
    return [*args, "--", *command]


def via_args_fd(argv: Sequence[str], command: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a `command_line` into what bwrap is started with (its path, `--args ARGS_FD` and
    the command) and the options it reads from that descriptor: bwrap's argv is what the
    sandbox's pid 1 shows in /proc/1/cmdline, and the options name host paths."""
    cut = len(argv) - len(command) - 1
    if argv[cut] != "--" or list(argv[cut + 1 :]) != list(command):
        raise ValueError("not a bwrap command line ending with this command")
    return [argv[0], "--args", ARGS_FD, "--", *command], list(argv[1:cut])


def options_data(options: Sequence[str], fds: dict[str, str]) -> bytes:
    """bwrap's options as its --args descriptor holds them: NUL-terminated, with the placeholders
    of the descriptors replaced by their numbers."""
    encoded = [os.fsencode(fds.get(o, o)) for o in options]
    if any(b"\0" in o for o in encoded):  # would shift the options; Popen refuses it in argv too
        raise ValueError("embedded null byte")
    return b"".join(o + b"\0" for o in encoded)
