"""The bubblewrap command line of one step: namespaces, read-only system, tmpfs, /box, seccomp."""

from __future__ import annotations

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
ETC_FILES = {
    "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/box:/usr/sbin/nologin\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}
# Replaced by the step with the descriptor of the filter it passes to this very bwrap.
SECCOMP_FD = "{seccomp_fd}"
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


def write_etc(directory: Path) -> None:
    """Write the stand-in /etc files (idempotent)."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name, content in ETC_FILES.items():
        target = directory / name
        if not target.exists() or target.read_text() != content:
            tmp = directory / f".{name}.tmp"
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
) -> list[str]:
    """argv for bwrap running `command` in /box; `mounts` are host paths bound read-only if present,
    `binds` (host path, sandbox path) writable ones."""
    args = [bwrap, *_ISOLATION, *system_args()]
    for name in ETC_FILES:
        args += ["--ro-bind", str(etc_dir / name), f"/etc/{name}"]
    for path in mounts:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"]
    args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--bind", str(box), "/box"]
    for host, inside in binds:
        args += ["--bind", str(host), inside]
    # bwrap's own root and /dev are tmpfs the user could fill: only /box, /tmp, /dev/shm stay rw.
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    for key, value in {**BASE_ENV, **(env or {})}.items():
        args += ["--setenv", key, value]
    args += ["--chdir", "/box", "--seccomp", SECCOMP_FD, "--json-status-fd", STATUS_FD]
    return [*args, "--", *command]
