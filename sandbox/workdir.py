"""The private working directory of one run: a size-limited tmpfs of its own, never traversed.

Each run gets a fresh tmpfs mounted at `<root>/runs/<run id>`; its `box/` subdirectory (owned by
the slot's user) becomes `/box` inside bubblewrap. Files are written into it only while it is
new and empty, and cleanup is an unmount: we never follow a path the user's program could have
turned into a symlink (the Judge0 CVE-2024-28185/28189 escapes). Where mounting is not allowed
there is no run: never a plain directory on the host's disk, unlimited in size.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from sandbox.errors import WorkdirError

_MS_NOSUID, _MS_NODEV = 0x2, 0x4
_MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: Path, fstype: str, flags: int, options: str) -> None:
    if _libc.mount(source.encode(), os.fsencode(target), fstype.encode(), flags,
                   options.encode()) != 0:  # fmt: skip
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def mount_tmpfs(target: Path, size_bytes: int, mode: int) -> None:
    """A private tmpfs on `target` (nosuid, nodev): what is bound from it into a sandbox shows
    as a path inside it, not as a path of the host, in the sandbox's /proc/self/mountinfo."""
    _mount("sandbox", target, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size_bytes},mode={mode:o}")


def _umount(target: Path) -> None:
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


MAX_PATH_DEPTH = 8


def file_parts(name: str) -> list[str]:
    """The components of a relative file name, or WorkdirError: never absolute, never empty or
    `.`/`..` parts, no NUL, no part that a command line would read as an option (`-x`), and no
    deeper than MAX_PATH_DEPTH. The API's policy is stricter; this is the sandbox's own floor."""
    parts = name.split("/")
    if (
        not name
        or "\x00" in name
        or len(parts) > MAX_PATH_DEPTH
        or any(part in ("", ".", "..") or part.startswith("-") for part in parts)
    ):
        raise WorkdirError(f"bad file name {name!r}")
    return parts


def mounted_points() -> set[str]:
    """Mount points of this mount namespace."""
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


class Workdir:
    """One run's tmpfs; `box` is what the program sees as /box."""

    def __init__(self, path: Path, uid: int, gid: int) -> None:
        self.path = path
        self.box = path / "box"
        self.uid, self.gid = uid, gid
        self._overlays: list[Path] = []

    @classmethod
    def create(cls, root: Path, run_id: str, size_bytes: int, uid: int, gid: int) -> Workdir:
        runs = root / "runs"
        runs.mkdir(mode=0o711, parents=True, exist_ok=True)
        path = runs / run_id
        path.mkdir(mode=0o711)
        try:
            _mount("sandbox", path, "tmpfs", _MS_NOSUID | _MS_NODEV,
                   f"size={size_bytes},nr_inodes=16384,mode=0711")  # fmt: skip
        except OSError as exc:
            path.rmdir()
            raise WorkdirError(f"cannot mount a tmpfs on {path}: {exc.strerror}") from exc
        workdir = cls(path, uid, gid)
        try:
            workdir.box.mkdir(mode=0o700)
            os.chown(workdir.box, uid, gid)
        except OSError as exc:
            workdir.remove()
            raise WorkdirError(f"cannot prepare {path}: {exc}") from exc
        return workdir

    def write_file(self, name: str, data: bytes) -> None:
        """Create `box/name`, which must not exist yet, without following any symlink. `name`
        may name subdirectories (`lib/util.py`): each is made, or opened, one level at a time
        below `box` with O_NOFOLLOW, so no name can reach outside it."""
        parts = file_parts(name)
        dir_fd = os.open(self.box, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in parts[:-1]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=dir_fd)
                    os.chown(part, self.uid, self.gid, dir_fd=dir_fd, follow_symlinks=False)
                try:
                    sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                  dir_fd=dir_fd)  # fmt: skip
                except OSError as exc:
                    raise WorkdirError(f"bad file name {name!r}: {part!r} is a file") from exc
                os.close(dir_fd)
                dir_fd = sub
            try:
                fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o644, dir_fd=dir_fd)  # fmt: skip
            except (FileExistsError, IsADirectoryError) as exc:
                raise WorkdirError(f"bad file name {name!r}: it is there already") from exc
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    def overlay(self, name: str, lower: Path, writable: Sequence[str] = ()) -> Path:
        """A writable view of the read-only `lower` whose changes stay in this run's tmpfs.
        `writable`: directories of `lower` the run may add files to although root owns them in
        `lower`: made in the upper layer, owned by the run's user, they lend the merged directory
        their owner (while it is new, before any sandboxed process exists)."""
        upper, work, merged = (self.path / f"{name}-{part}" for part in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            d.mkdir(mode=0o700)
        for sub in writable:
            (upper / sub).mkdir(mode=0o755)
            os.chown(upper / sub, self.uid, self.gid)
        os.chown(upper, self.uid, self.gid)
        os.chown(merged, self.uid, self.gid)
        # Named through descriptors: the sandbox reads the mount options in its mountinfo, and
        # the real paths would name the run directory (the worker's pid) and the host's layout.
        fds = [os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for d in (lower, upper, work)]
        try:
            low, up, wk = (f"/proc/self/fd/{fd}" for fd in fds)
            _mount("overlay", merged, "overlay", _MS_NOSUID | _MS_NODEV,
                   f"lowerdir={low},upperdir={up},workdir={wk}")  # fmt: skip
        finally:
            for fd in fds:
                os.close(fd)
        self._overlays.append(merged)
        return merged

    def remove(self) -> None:
        """Unmount (which drops every file at once) and delete the mount point."""
        try:
            for merged in reversed(self._overlays):
                _umount(merged)
            _umount(self.path)
            self.path.rmdir()
        except OSError as exc:
            raise WorkdirError(f"cannot remove {self.path}: {exc}") from exc


def remove_stale(root: Path, alive: set[str] | None = None) -> None:
    """Unmount and delete run directories whose owning process is gone."""
    runs = root / "runs"
    if not runs.exists():
        return
    points = mounted_points()
    for path in sorted(runs.iterdir(), key=lambda p: len(str(p)), reverse=True):
        pid = path.name.split("-", 1)[0]
        if not pid.isdigit() or (alive is not None and path.name in alive):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), 0)
            continue
        with contextlib.suppress(OSError):
            for point in sorted(points, key=len, reverse=True):
                if point.startswith(str(path)):
                    _umount(Path(point))
            shutil.rmtree(path, ignore_errors=True)
