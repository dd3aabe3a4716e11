"""`Sandbox`: checks the host once, then runs programs (compile, run, classify) in bounded slots."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import resource
import stat
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sandbox import bwrap, gocache, launcher, seccomp
from sandbox.armed import Armed, Armory
from sandbox.cgroups import CgroupDriver
from sandbox.classify import check_failed, classify, compile_failed, system_error
from sandbox.errors import (
    CgroupError,
    InvalidFiles,
    InvalidLimits,
    SandboxUnavailable,
    SourceTooLarge,
    UnknownLanguage,
    WorkdirError,
)
from sandbox.limits import MIB, Limits, wall_ms_for
from sandbox.pool import WarmPool, WarmSet, WarmStep
from sandbox.registry import DEFINITIONS, Language, registry
from sandbox.result import ErrorCode, Result
from sandbox.settings import SandboxSettings
from sandbox.stdin import StdinFeed
from sandbox.step import (
    OutputCallback,
    StepOutcome,
    StepSpec,
    WarmStepGone,
    run_step,
    run_warm_step,
)
from sandbox.workdir import Workdir, file_parts, mount_tmpfs, remove_stale

log = logging.getLogger(__name__)

ALWAYS_ENFORCED = ("wall_time", "output", "file_size", "open_files", "network", "seccomp",
                   "namespaces")  # fmt: skip


@dataclass(frozen=True)
class Capabilities:
    """What this host lets the sandbox enforce (it refuses to start without cgroups and tmpfs
    mounts, so `degraded` is never true of a running sandbox)."""

    cgroup_version: int | None
    workdir_tmpfs: bool
    enforced: tuple[str, ...]

    @property
    def degraded(self) -> bool:
        return self.cgroup_version is None


def _bwrap_help(path: str) -> str:
    done = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


TEARDOWN_DELAY_S = 0.02
# Added to a warm step's RLIMIT_CPU (a backstop: the run's CPU limit is enforced on its cgroup's
# time from the hand-over): what its program may spend starting up before the run is handed over.
WARM_CPU_S = 10
T = TypeVar("T")


def _run_teardown(teardown: list[Callable[[], None]]) -> None:
    for step in reversed(teardown):
        try:
            step()
        except (OSError, CgroupError, WorkdirError):
            log.exception("sandbox: teardown failed")


def program_files(lang: Language, code: bytes, files: Mapping[str, str]) -> dict[str, bytes]:
    """Every file of the program by name, the entry point first, then the language's default
    files the program has none of; InvalidFiles for a name the work dir cannot hold as given."""
    tree = {lang.file_name: code}
    for name, content in files.items():
        try:
            file_parts(name)
        except WorkdirError as exc:
            raise InvalidFiles(exc.message, field="files", name=name) from None
        if name in tree:
            raise InvalidFiles(f"{name!r} is the entry point: its content is the source",
                               field="files", name=name)  # fmt: skip
        tree[name] = content.encode()
    for name in tree:
        # A name that is also another's directory (`lib` and `lib/x.py`) cannot be both.
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in tree:
                raise InvalidFiles(f"{'/'.join(parts[:depth])!r} is a file and a directory",
                                   field="files", name=name)  # fmt: skip
    for name, content in lang.default_files.items():
        if not any(n == name or n.startswith(f"{name}/") for n in tree):
            tree[name] = content.encode()
    return tree


class Sandbox:
    """Runs untrusted programs; at most `slots` at once per instance."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings.from_env()
        s = self.settings
        if os.geteuid() != 0:
            raise SandboxUnavailable("the sandbox must start as root to set cgroups and drop to "
                                     f"uids {s.uid_base}+")  # fmt: skip
        if min(s.uid_base, s.gid_base) < 1000:
            raise SandboxUnavailable("SANDBOX_UID_BASE and SANDBOX_GID_BASE must be >= 1000: "
                                     "the slot users must be nobody else")  # fmt: skip
        mode = os.stat(s.bwrap).st_mode if os.path.exists(s.bwrap) else None
        if mode is None or not os.access(s.bwrap, os.X_OK):
            raise SandboxUnavailable(f"bubblewrap not found at {s.bwrap}")
        if mode & stat.S_ISUID:
            raise SandboxUnavailable(f"{s.bwrap} is setuid; use a non-setuid bubblewrap")
        if "--json-status-fd" not in _bwrap_help(s.bwrap):
            # How a run that started is told from one bwrap could not set up (see step.py).
            raise SandboxUnavailable(f"{s.bwrap} has no --json-status-fd: bubblewrap >= 0.8 needed")
        if not seccomp.supported():
            raise SandboxUnavailable("no seccomp syscall table for this architecture")
        seccomp.compiled_filter()
        s.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        ids = s.all_ids()
        self._etc = bwrap.etc_dir(s.root, ids)
        self._etc.mkdir(mode=0o755, exist_ok=True)
        if not os.path.ismount(self._etc):
            with contextlib.suppress(OSError):  # without mounts the probe below says so
                mount_tmpfs(self._etc, 64 * 1024, 0o755)
        bwrap.write_etc(self._etc, ids)
        remove_stale(s.root)
        self.cgroups = CgroupDriver.detect(s.cgroup_root, s.cgroup_parent, s.cpus)
        if self.cgroups is not None:
            self.cgroups.weigh(s.slots)
        if self.cgroups is None:
            # Without one, memory, total CPU time and processes could not be limited per run.
            raise SandboxUnavailable(
                f"no usable cgroup under {s.cgroup_root}: the sandbox needs cgroup v2 with the "
                "memory, pids and cpu controllers (or v1 with memory, pids, freezer and cpuacct), "
                "writable by root. Mount it there (in a container: a writable /sys/fs/cgroup, see "
                "SECURITY.md) or set SANDBOX_CGROUP_ROOT to where it is mounted."
            )
        try:
            probe = Workdir.create(s.root, f"{os.getpid()}-probe-{uuid.uuid4().hex[:8]}", MIB,
                                   *s.ids(0))  # fmt: skip
        except (OSError, WorkdirError) as exc:
            # Without it, a run's files would land on the host's disk, with no size limit.
            raise SandboxUnavailable(
                f"cannot mount a tmpfs for a run under {s.root / 'runs'} ({exc}): the sandbox "
                "needs CAP_SYS_ADMIN in the host's mount namespace (in a container: see "
                "SECURITY.md) and a SANDBOX_ROOT on a filesystem where it may mount."
            ) from exc
        probe.remove()
        enforced = [*ALWAYS_ENFORCED, "memory", "cpu_time", "pids", "workdir_size"]
        if self.cgroups.quota_in is not None:
            enforced.append("cpu_quota")
        self.capabilities = Capabilities(self.cgroups.version, True, tuple(sorted(enforced)))
        self.launcher = launcher.build(s.root) if s.use_launcher else None
        self._slots = asyncio.Semaphore(s.slots)
        # Each slot runs as a user of its own (see SandboxSettings.uid_base); a run holds one.
        self._free_slots = list(range(s.slots))
        # Teardowns scheduled but not yet run, by id of their step list.
        self._pending: dict[int, tuple[asyncio.TimerHandle, list[Callable[[], None]]]] = {}
        self._teardowns: set[asyncio.Future[None]] = set()  # running in a thread
        # Fresh cgroups kept ready for the next steps (each step uses one once).
        self._spares = min(2 * s.slots, 16)
        if self.cgroups is not None:
            self.cgroups.refill(self._spares)
        # Launchers already in fresh cgroups, so no step waits for the (slow, v1) cgroup join.
        self.armory: Armory | None = None
        if self.launcher is not None and self.cgroups is not None:
            self.armory = Armory(self.launcher, self.cgroups, self._spares)
            self._arm()
        # Steps started before their runs, used once (pool.py); needs the armed launchers.
        self.pool: WarmPool | None = None
        if self.armory is not None and s.warm_max:
            self._warm_files = self._place_warm_files()
            self.pool = WarmPool(self._start_warm, s.warm_users, s.warm_max, s.slots,
                                 [k for k in s.warm_languages if self._warmable(k)],
                                 lambda key: self.limits_for(self._language(key)),
                                 lambda key: registry().get(key))  # fmt: skip
            self._refill_warm()
        # True only for `python -m sandbox warm`: binds the shared build cache writable.
        self.warming = False
        # Root refreshes files in the shared Go cache only if no one else can write there.
        self._go_cache_safe = gocache.is_safe(s.go_cache)
        if s.go_cache.is_dir() and not self._go_cache_safe:
            log.warning("sandbox: the Go cache %s is writable by others than root: it is used "
                        "read-only but not kept fresh (devstack/runtimes.sh fixes its ownership)",
                        s.go_cache)  # fmt: skip

    def _arm(self) -> None:
        # Best effort: a step that finds no armed launcher spawns one itself, as before.
        if self.armory is not None:
            try:
                self.armory.refill()
            except (OSError, CgroupError):
                log.warning("sandbox: could not arm a launcher", exc_info=True)

    def _refill_warm(self) -> None:
        if self.pool is not None:
            try:
                self.pool.refill()
            except (OSError, CgroupError, WorkdirError):
                log.warning("sandbox: could not refill the warm sandboxes", exc_info=True)

    def _language(self, key: str) -> Language:
        lang = registry().get(key)
        if lang is None:
            raise UnknownLanguage(f"unknown language {key!r}", language=key)
        return lang

    def _warmable(self, key: str) -> bool:
        lang = registry().get(key)
        return lang is not None and any(lang.warm(p) for p in ("compile", "run"))

    def _place_warm_files(self) -> dict[tuple[str, str], Path]:
        """The languages' warm-only files, copied beside the stand-in /etc files (a tmpfs of
        ours): bound from there, they show no path of the host inside."""
        placed: dict[tuple[str, str], Path] = {}
        for lang in registry():
            for inside, name in lang.warm_files.items():
                source = DEFINITIONS / name
                target = self._etc / f"warm-{lang.key}-{Path(name).name}"
                if not target.exists() or target.read_bytes() != source.read_bytes():
                    tmp = target.with_name(f".{target.name}.{os.getpid()}")
                    tmp.write_bytes(source.read_bytes())
                    tmp.chmod(0o644)
                    tmp.replace(target)
                placed[(lang.key, inside)] = target
        return placed

    def _start_warm(self, key: str, limits: Limits, index: int) -> WarmSet:
        """Start the warm steps of one future run of `key` with `limits` as warm user `index`."""
        s = self.settings
        lang = self._language(key)
        assert self.launcher is not None and self.cgroups is not None
        uid, gid = s.warm_ids(index)
        workdir = Workdir.create(s.root, f"{os.getpid()}-warm-{uuid.uuid4().hex[:12]}",
                                 limits.workdir_mb * MIB, uid, gid)  # fmt: skip
        steps: dict[str, WarmStep] = {}
        try:
            binds = self._build_cache(lang, workdir)
            for purpose in ("compile", "run"):
                program = lang.warm(purpose)
                if program is None or (purpose == "compile" and not lang.compile):
                    continue
                spec = self._spec(lang, workdir.box, binds, limits, b"", purpose, warm=program)
                steps[purpose] = self._warm_step(spec, uid, gid)
        except BaseException:
            for step in steps.values():
                step.discard()
            workdir.remove()
            raise
        return WarmSet(key, limits, index, uid, gid, workdir, steps, definition=lang, binds=binds)

    def _warm_step(self, spec: StepSpec, uid: int, gid: int) -> WarmStep:
        assert self.launcher is not None and self.cgroups is not None
        armed = Armed(self.launcher, self.cgroups)
        ours: list[int] = []
        try:
            self.cgroups.claim(armed.cg, spec.memory_bytes, spec.pids)
            stdin = os.memfd_create("stdin", os.MFD_CLOEXEC)
            ours.append(stdin)
            control_r, control = os.pipe2(os.O_CLOEXEC)
            ours.append(control)
            ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
            ours.append(ready_r)
            os.set_blocking(ready_r, False)
            try:
                armed.send(spec.argv, spec.bwrap_options, spec.rlimits, stdin,
                           spec.stderr_cap is None, uid, gid, warm=(control_r, ready_w))  # fmt: skip
            finally:
                os.close(control_r)  # the launcher has its own copies
                os.close(ready_w)
        except BaseException:
            for fd in ours:
                os.close(fd)
            armed.discard()
            raise
        return WarmStep(armed, stdin, control, ready_r)

    def close(self) -> None:
        """Tear down finished runs now, kill the armed launchers and remove their cgroups (also
        done at exit)."""
        for handle, teardown in list(self._pending.values()):
            handle.cancel()
            self._pending.pop(id(teardown), None)
            _run_teardown(teardown)
        if self.armory is not None:
            self.armory.close()
        if self.pool is not None:
            self.pool.close()

    @property
    def slots(self) -> int:
        return self.settings.slots

    def limits_for(self, language: Language) -> Limits:
        """Default limits for a language (its own time and memory defaults)."""
        return self.settings.defaults.with_changes(
            time_limit_ms=language.default_time_limit_ms, memory_mb=language.default_memory_mb
        )

    def _prepare(self, language: str, source: str, args: Sequence[str], limits: Limits | None,
                 files: Mapping[str, str] | None) -> tuple[Language, dict[str, bytes], Limits]:  # fmt: skip
        lang = registry().get(language)
        if lang is None:
            raise UnknownLanguage(f"unknown language {language!r}", language=language)
        code = source.encode()
        if any("\x00" in arg for arg in args):
            raise InvalidLimits("an argument contains a NUL byte", field="args")
        tree = program_files(lang, code, files or {})
        limits = limits or self.limits_for(lang)
        # How much a run may ask for is the caller's policy; what cannot fit its tmpfs is ours.
        size = sum(len(content) for content in tree.values())
        if size > limits.workdir_mb * MIB:
            raise SourceTooLarge(source_bytes=size, workdir_mb=limits.workdir_mb)
        return lang, tree, limits

    async def run(self, language: str, source: str, stdin: str = "", limits: Limits | None = None,
                  on_output: OutputCallback | None = None,
                  args: Sequence[str] = (),
                  files: Mapping[str, str] | None = None,
                  stdin_feed: StdinFeed | None = None) -> Result:  # fmt: skip
        """Compile (if the language needs it) and run `source` with command-line `args`;
        `source` is the entry point (the language's `file_name`), `files` the program's other
        files by relative name (`lib/util.py`), placed beside it. Never raises for what the
        program does, only for bad input (unknown language, oversized source, an argument with a
        NUL byte, a file name that is not a plain relative name). With `stdin_feed` the run is
        interactive: its stdin is a pipe, `stdin` first, then what the feed gives while it runs
        (stdin.py)."""
        lang, tree, limits = self._prepare(language, source, args, limits, files)
        async with self._slot() as (slot, teardown):
            return await self._run(lang, tree, stdin.encode(), limits, on_output, teardown, slot,
                                   tuple(args), stdin_feed)  # fmt: skip

    async def run_cases(self, language: str, source: str, stdins: Sequence[str],
                        judge: Callable[[int, Result], T], limits: Limits | None = None,
                        args: Sequence[str] = (),
                        files: Mapping[str, str] | None = None) -> list[T] | Result:  # fmt: skip
        """Compile once, then run the program once per stdin (a test case), each run under
        `limits` and in a box of its own: a copy-on-write view of the compiled one, so nothing a
        case writes (a file, a changed binary) is seen by the next. `judge(i, result)` gets each
        case's Result as soon as it ran, with all the output the sandbox kept; the list of what
        it returned is the answer. A compile error (E001, also a syntax check that rejects the
        source after a failed case) or a failure of ours (E005) ends the whole run: that Result
        is the answer instead. Raises as `run` does. One slot is held throughout."""
        lang, tree, limits = self._prepare(language, source, args, limits, files)
        async with self._slot() as (slot, teardown):
            return await self._run_cases(lang, tree, [s.encode() for s in stdins], judge, limits,
                                         teardown, slot, tuple(args))  # fmt: skip

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[tuple[int, list[Callable[[], None]]]]:
        """A free slot (its user runs the steps) and the teardown list of its steps."""
        await self._slots.acquire()
        slot = self._free_slots.pop(0)  # free the longest: any process of its last run is long gone
        teardown: list[Callable[[], None]] = []
        try:
            yield slot, teardown
        finally:
            # Unmounting, removing the (empty) cgroups and arming a launcher for a later run
            # block the event loop for a few ms: done a little after the caller has its result,
            # so that what it does next with it (send it, answer a request) goes out first.
            # The slot is free at once: the armed launchers already in stock serve the next run.
            # Its steps are over: their pid namespaces, and every process in them, are gone.
            self._free_slots.append(slot)
            self._slots.release()
            handle = asyncio.get_running_loop().call_later(
                TEARDOWN_DELAY_S, self._start_teardown, teardown
            )
            self._pending[id(teardown)] = (handle, teardown)

    def _start_teardown(self, teardown: list[Callable[[], None]]) -> None:
        self._pending.pop(id(teardown), None)
        task = asyncio.ensure_future(self._teardown(teardown))
        self._teardowns.add(task)
        task.add_done_callback(self._teardowns.discard)

    async def _teardown(self, teardown: list[Callable[[], None]]) -> None:
        """Unmount and remove cgroups in a thread: the kernel may take its time letting go of a
        cgroup (up to seconds), and the event loop carries every other run meanwhile. Re-arming
        stays on the loop's thread (see sandbox/armed.py: PR_SET_PDEATHSIG follows the thread)."""
        try:
            await asyncio.to_thread(_run_teardown, teardown)
            if self.cgroups is not None:
                with contextlib.suppress(OSError):
                    self.cgroups.refill(self._spares)
            self._arm()
            self._refill_warm()
        except Exception:  # a background task: nothing above it would see this
            log.exception("sandbox: teardown failed")

    async def _build(self, lang: Language, tree: dict[str, bytes], limits: Limits,
                     teardown: list[Callable[[], None]], uid: int, gid: int,
                     warm: WarmSet | None = None,
                     ) -> tuple[Workdir, list[tuple[Path, str]], StepOutcome | None] | Result:  # fmt: skip
        """A fresh workdir holding the program's files (a warm set's, if given), compiled if
        the language needs it: the workdir, its build-cache binds and the compile step's
        outcome, or the Result that ends the run (a compile error, or a failure of ours)."""
        s = self.settings
        enforced = self.capabilities.enforced
        if warm is not None:
            workdir = warm.workdir
        else:
            try:
                workdir = Workdir.create(s.root, f"{os.getpid()}-{uuid.uuid4().hex[:12]}",
                                         limits.workdir_mb * MIB, uid, gid)  # fmt: skip
            except (OSError, WorkdirError) as exc:
                return system_error(f"sandbox: {exc}", enforced)
        teardown.append(workdir.remove)
        try:
            for name, content in tree.items():
                workdir.write_file(name, content)
            binds = warm.binds if warm is not None else self._build_cache(lang, workdir)
            compiled: StepOutcome | None = None
            if lang.compile:
                spec = self._spec(lang, workdir.box, binds, limits, b"", "compile", files=tree)
                compiled = await self._step(spec, warm, uid, gid, teardown)
                if compile_failed(compiled) or compiled.setup_failed:
                    return classify(compiled, None, enforced, compile_spec=spec)
        except (OSError, CgroupError, WorkdirError) as exc:
            log.exception("sandbox: run failed")
            return system_error(f"sandbox: {exc}", enforced)
        return workdir, binds, compiled

    async def _run(self, lang: Language, tree: dict[str, bytes], data: bytes, limits: Limits,
                   on_output: OutputCallback | None,
                   teardown: list[Callable[[], None]], slot: int,
                   args: tuple[str, ...] = (),
                   stdin_feed: StdinFeed | None = None) -> Result:  # fmt: skip
        enforced = self.capabilities.enforced
        uid, gid = self.settings.ids(slot)
        # A warm set of this language and limits, if one is ready (never for interactive runs,
        # whose stdin is a pipe from the start): the run then runs as that set's user.
        warm = self._take_warm(lang, limits, teardown) if stdin_feed is None else None
        if warm is not None:
            uid, gid = warm.uid, warm.gid
        built = await self._build(lang, tree, limits, teardown, uid, gid, warm)
        if isinstance(built, Result):
            return built
        workdir, binds, compiled = built
        try:
            spec = self._spec(lang, workdir.box, binds, limits, data, "run", args, tree)
            spec = dataclasses.replace(spec, stdin_feed=stdin_feed)
            ran = await self._step(spec, warm, uid, gid, teardown, on_output)
            result = classify(compiled, ran, enforced)
            if lang.check is not None and result.error_code is ErrorCode.RUNTIME:
                # Only a failed run pays for the syntax check (a successful run has no syntax
                # error to report): E001 is then the checker's verdict, never the run's stderr.
                checked = await self._check(lang, tree, limits, teardown, uid, gid)
                result = classify(compiled, ran, enforced, checked)
            return result
        except (OSError, CgroupError, WorkdirError) as exc:
            log.exception("sandbox: run failed")
            return system_error(f"sandbox: {exc}", enforced)

    def _take_warm(self, lang: Language, limits: Limits,
                   teardown: list[Callable[[], None]]) -> WarmSet | None:  # fmt: skip
        if self.pool is None or not self._warmable(lang.key):
            return None
        warm = self.pool.take(lang.key, limits)
        if warm is not None:
            # Run in reverse: what the run did not use is killed, and only then, with every
            # process of the set gone, is its user free for another set.
            teardown.append(self.pool.release(warm))
            teardown.append(warm.discard_unused)
        return warm

    async def _step(self, spec: StepSpec, warm: WarmSet | None, uid: int, gid: int,
                    teardown: list[Callable[[], None]],
                    on_output: OutputCallback | None = None) -> StepOutcome:  # fmt: skip
        """Run one step: by handing it to the warm set's step of its purpose if there is one,
        otherwise cold (through an armed launcher when one is ready)."""
        s = self.settings
        step = warm.steps.pop(spec.purpose, None) if warm is not None else None
        if step is not None:
            try:
                return await run_warm_step(step, spec, cpu_poll_ms=s.cpu_poll_ms,
                                           on_output=on_output, teardown=teardown)  # fmt: skip
            except WarmStepGone:
                log.warning("sandbox: a warm %s step died before its hand-over; running it cold",
                            spec.purpose)  # fmt: skip
        return await run_step(spec, self.cgroups, uid, gid, launcher=self.launcher,
                              armory=self.armory, cpu_poll_ms=s.cpu_poll_ms, on_output=on_output,
                              teardown=teardown)  # fmt: skip

    async def _run_cases(self, lang: Language, tree: dict[str, bytes], stdins: list[bytes],
                         judge: Callable[[int, Result], T], limits: Limits,
                         teardown: list[Callable[[], None]], slot: int,
                         args: tuple[str, ...]) -> list[T] | Result:  # fmt: skip
        s = self.settings
        enforced = self.capabilities.enforced
        uid, gid = s.ids(slot)
        size = limits.workdir_mb * MIB
        built = await self._build(lang, tree, limits, teardown, uid, gid)
        if isinstance(built, Result):
            return built
        workdir, _binds, compiled = built
        try:
            judged: list[T] = []
            syntax_checked = lang.check is None
            for index, data in enumerate(stdins):
                case = Workdir.create(s.root, f"{os.getpid()}-{uuid.uuid4().hex[:12]}", size, uid,
                                      gid)  # fmt: skip
                teardown.append(case.remove)
                box = case.overlay("box", workdir.box)
                spec = self._spec(lang, box, [], limits, data, "run", args, tree)
                ran = await run_step(spec, self.cgroups, uid, gid, launcher=self.launcher,
                                     armory=self.armory, cpu_poll_ms=s.cpu_poll_ms,
                                     teardown=teardown)  # fmt: skip
                result = classify(compiled, ran, enforced)
                if result.error_code is ErrorCode.SYSTEM:
                    return result
                if not syntax_checked and result.error_code is ErrorCode.RUNTIME:
                    # As for a single run, once: a source the checker rejects fails every case.
                    checked = await self._check(lang, tree, limits, teardown, uid, gid)
                    if check_failed(checked):
                        return classify(compiled, ran, enforced, checked)
                    syntax_checked = True
                judged.append(judge(index, result))
            return judged
        except (OSError, CgroupError, WorkdirError) as exc:
            log.exception("sandbox: run failed")
            return system_error(f"sandbox: {exc}", enforced)

    async def _check(self, lang: Language, tree: dict[str, bytes], limits: Limits,
                     teardown: list[Callable[[], None]], uid: int, gid: int) -> StepOutcome:  # fmt: skip
        """The language's syntax check of the submitted files, in a fresh workdir: the program
        could have rewritten its own files in the one it ran in."""
        s = self.settings
        workdir = Workdir.create(s.root, f"{os.getpid()}-{uuid.uuid4().hex[:12]}",
                                 limits.workdir_mb * MIB, uid, gid)  # fmt: skip
        teardown.append(workdir.remove)
        for name, content in tree.items():
            workdir.write_file(name, content)
        return await run_step(self._spec(lang, workdir.box, [], limits, b"", "check", files=tree),
                              self.cgroups,
                              uid, gid, launcher=self.launcher, armory=self.armory,
                              cpu_poll_ms=s.cpu_poll_ms, teardown=teardown)  # fmt: skip

    def _build_cache(self, lang: Language, workdir: Workdir) -> list[tuple[Path, str]]:
        if lang.build_cache != "go":
            return []
        if self.warming:
            return [(self.settings.go_cache, "/gocache")]
        cache = self.settings.go_cache
        if cache.is_dir():
            if self._go_cache_safe:
                gocache.keep_fresh(cache)
            return [(workdir.overlay("gocache", cache, gocache.ENTRY_DIRS), "/gocache")]
        # No warm cache: a cold private cache, correct but slow.
        cold = workdir.path / "gocache"
        cold.mkdir(mode=0o700)
        os.chown(cold, workdir.uid, workdir.gid)
        return [(cold, "/gocache")]

    def _spec(self, lang: Language, box: Path, binds: list[tuple[Path, str]],
              limits: Limits, stdin: bytes, purpose: str,
              args: tuple[str, ...] = (), files: Mapping[str, bytes] | None = None,
              warm: tuple[str, ...] | None = None) -> StepSpec:  # fmt: skip
        """The step of `purpose`; with `warm`, that warm program instead of the step's command
        (started ahead, pool.py): same sandbox, limits and mounts, plus the warm-only files."""
        compiling = purpose != "run"  # the compile step, or the syntax check of a failed run
        if compiling:
            template = lang.compile if purpose == "compile" else lang.check
            assert template is not None
            cpu_ms, memory_mb = limits.compile_bounds(lang.compile_floor_ms, lang.compile_floor_mb)
            wall_ms = wall_ms_for(cpu_ms)
            pids = limits.pids + lang.compile_extra_pids + lang.extra_pids
        else:
            template = lang.run
            memory_mb = limits.memory_mb + lang.extra_memory_mb
            wall_ms, cpu_ms = limits.wall_ms, limits.time_limit_ms
            pids = limits.pids + lang.extra_pids
        if warm is not None:
            template = warm
        # The program's own arguments go last, as given: never read as placeholders.
        command = [*lang.command(template, limits.memory_mb, memory_mb, files or ()), *args]
        ro_binds = lang.library_mounts()
        if warm is not None:
            ro_binds += [(str(self._warm_files[(lang.key, inside)]), inside)
                         for inside in lang.warm_files]  # fmt: skip
        argv, options = bwrap.via_args_fd(bwrap.command_line(
            bwrap=self.settings.bwrap, etc_dir=self._etc, box=box, command=command,
            tmp_bytes=limits.workdir_mb * MIB, mounts=lang.mounts, binds=binds,
            env=lang.env, ro_binds=ro_binds,
        ), command)  # fmt: skip
        rlimits = [
            # A warm step's start-up (and any warm-up of its program) counts here too.
            (resource.RLIMIT_CPU, math.ceil(cpu_ms / 1000) + 1 + (WARM_CPU_S if warm else 0)),
            (resource.RLIMIT_FSIZE, limits.file_size_mb * MIB),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ]
        return StepSpec(
            argv=argv, pass_fds=(), stdin=stdin, wall_ms=wall_ms, cpu_ms=cpu_ms,
            memory_bytes=memory_mb * MIB, pids=pids, rlimits=tuple(rlimits),
            stdout_cap=limits.stdout_bytes if not compiling else MIB,
            stderr_cap=None if compiling else limits.stderr_bytes,
            purpose=purpose, bwrap_options=tuple(options),
        )  # fmt: skip
