"""Bare versus sandboxed: each language's hello world run directly, then through `Sandbox.run`.

Both include the compile step where the language has one, as the end-to-end run does. The bare
run uses the same commands in a scratch directory as root, with no bwrap, cgroup or seccomp.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from sandbox import Sandbox, SandboxSettings, registry
from sandbox.registry import Language

BENCH_UID_BASE = 63000
SCRATCH_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


async def _call(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await proc.communicate()
    return proc.returncode or 0


async def bare_run(lang: Language, scratch: Path) -> float:
    """Milliseconds to compile (if needed) and run the template directly; raises if it fails."""
    box = Path(tempfile.mkdtemp(dir=scratch))
    # A temporary directory beside the box, not the box itself: Go ignores a go.mod in the root
    # of the system's temporary directory.
    tmp = Path(tempfile.mkdtemp(dir=scratch))
    env = {**SCRATCH_ENV, "HOME": str(box), "TMPDIR": str(tmp), **lang.env}
    if "GOCACHE" in env:  # a private cache, warmed by the first (discarded) run
        env["GOCACHE"] = str(scratch / "gocache")
        env["GOPATH"] = str(scratch / "gopath")
    try:
        (box / lang.file_name).write_text(lang.template_code)
        for name, content in lang.default_files.items():  # Go's go.mod, as the sandbox places it
            (box / name).write_text(content)
        started = time.perf_counter()
        if lang.compile and await _call(lang.command(lang.compile, 256), box, env) != 0:
            raise RuntimeError(f"{lang.key}: bare compile failed")
        if await _call(lang.command(lang.run, lang.default_memory_mb), box, env) != 0:
            raise RuntimeError(f"{lang.key}: bare run failed")
        return (time.perf_counter() - started) * 1000
    finally:
        shutil.rmtree(box, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


async def sandboxed_run(sandbox: Sandbox, lang: Language) -> float:
    started = time.perf_counter()
    result = await sandbox.run(lang.key, lang.template_code)
    elapsed = (time.perf_counter() - started) * 1000
    if result.status.value != "COMPLETED":
        raise RuntimeError(
            f"{lang.key}: sandboxed run {result.status.value}: {result.stderr[-300:]}"
        )
    return elapsed


def own_users(settings: SandboxSettings, offset: int = 0) -> SandboxSettings:
    """`settings` with users of the bench's own (from BENCH_UID_BASE + `offset`; each sandbox of
    the bench a different offset): the engine's worker on this machine runs as the default range."""
    base = BENCH_UID_BASE + offset
    return dataclasses.replace(settings, uid_base=base, gid_base=base)


async def hello_world(sandbox: Sandbox) -> None:
    """Python's hello world through `sandbox`; SystemExit unless it printed exactly that."""
    lang = registry().get("python")
    assert lang is not None
    result = await sandbox.run(lang.key, lang.template_code)
    if result.stdout != "Hello, world!\n":
        raise SystemExit(f"hello world printed {result.stdout!r}")


class Isolation:
    """Two sandboxes (the engine's settings, with warm sandboxes, and one without) and one scratch
    directory, to time bare, sandboxed and cold sandboxed runs side by side."""

    def __init__(self) -> None:
        settings = own_users(SandboxSettings.from_env())
        self.sandbox = Sandbox(settings)
        self.cold_sandbox = Sandbox(own_users(dataclasses.replace(settings, warm_max=0), 100))
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-bare-")
        self.scratch = Path(self._tmp.name)
        os.chmod(self.scratch, 0o755)

    async def bare(self, lang: Language) -> float:
        return await bare_run(lang, self.scratch)

    async def sandboxed(self, lang: Language) -> float:
        return await sandboxed_run(self.sandbox, lang)

    async def cold(self, lang: Language) -> float:
        """As `sandboxed`, never through a warm sandbox."""
        return await sandboxed_run(self.cold_sandbox, lang)

    def close(self) -> None:
        self.sandbox.close()
        self.cold_sandbox.close()
        self._tmp.cleanup()


def language(key: str) -> Language | None:
    """The language if it is defined and its runtime is installed."""
    lang = registry().get(key)
    return lang if lang is not None and lang.available else None
