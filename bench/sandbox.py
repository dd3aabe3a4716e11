"""Sandbox overhead per language: median wall time of hello world bare, in a minimal bwrap,
and in the sandbox, interleaved so that load on a shared machine hits all three alike.

`python -m bench.sandbox [--runs N] [--languages python,c] [--json PATH]` (as root).
Bare and bwrap-only runs use the same commands, spawned the same way (asyncio subprocess with
pipes, as uid 65534), each in a fresh directory (so `go build` really links); "bwrap only" adds
bwrap with the sandbox's namespaces and a read-only /usr, /proc, /dev and nothing else, which
separates bubblewrap's own cost from ours. Compiled languages count compile + run.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: bench/ would shadow the `sandbox` package; put the repo first instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time

from sandbox import Limits, Sandbox, SandboxSettings, Status, bwrap, registry
from sandbox.registry import Language

COMPILED_RUNS = 5
NOBODY = 65534
_fresh = itertools.count()


def _bwrap_only(lang: Language, shared: Path, rundir: Path) -> list[str]:
    """The sandbox's namespaces around the bare command, with just what it needs mounted."""
    args = ["/usr/bin/bwrap", "--unshare-all", "--unshare-user", "--die-with-parent",
            *bwrap.system_args(), "--proc", "/proc", "--dev", "/dev"]  # fmt: skip
    for path in lang.mounts:
        args += ["--ro-bind-try", path, path]
    return [*args, "--bind", str(shared), str(shared), "--chdir", str(rundir), "--"]


async def _bare_once(lang: Language, shared: Path, env: dict[str, str], boxed: bool) -> float:
    rundir = shared / f"run{next(_fresh)}"
    rundir.mkdir()
    (rundir / lang.file_name).write_text(lang.template_code)
    for name, content in lang.default_files.items():  # Go's go.mod, as the sandbox places it
        (rundir / name).write_text(content)
    os.chown(rundir, NOBODY, NOBODY)
    prefix = _bwrap_only(lang, shared, rundir) if boxed else []
    start = time.perf_counter()
    for template in (lang.compile, lang.run):
        if template is None:
            continue
        proc = await asyncio.create_subprocess_exec(
            *prefix, *lang.command(template, 256), cwd=rundir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, user=NOBODY, group=NOBODY, extra_groups=[],
        )  # fmt: skip
        _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bare {lang.key} failed: {err.decode()[-500:]}")
    return (time.perf_counter() - start) * 1000


async def _sandboxed_once(sb: Sandbox, lang: Language) -> float:
    start = time.perf_counter()
    result = await sb.run(lang.key, lang.template_code, limits=Limits(time_limit_ms=10_000))
    if result.status is not Status.COMPLETED:
        raise RuntimeError(f"sandboxed {lang.key} failed: {result}")
    return (time.perf_counter() - start) * 1000


async def measure(sb: Sandbox, lang: Language, runs: int) -> dict[str, object]:
    runs = min(runs, COMPILED_RUNS) if lang.compile else runs
    with tempfile.TemporaryDirectory() as tmp:
        shared = Path(tmp)
        os.chown(shared, NOBODY, NOBODY)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, **lang.env}
        if "GOCACHE" in env:
            # A copy of the sandbox's warm cache, so that both sides start equally warm.
            cache = shared / "gocache"
            await asyncio.to_thread(_copy_tree, sb.settings.go_cache, cache)
            env["GOCACHE"] = str(cache)
        if "GOPATH" in env:
            env["GOPATH"] = str(shared / "gopath")
        # warm the page cache and build caches on every side
        await _bare_once(lang, shared, env, boxed=False)
        await _bare_once(lang, shared, env, boxed=True)
        await _sandboxed_once(sb, lang)
        bare, only, ours = [], [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits all sides alike
            bare.append(await _bare_once(lang, shared, env, boxed=False))
            only.append(await _bare_once(lang, shared, env, boxed=True))
            ours.append(await _sandboxed_once(sb, lang))
    b, w, s = (statistics.median(x) for x in (bare, only, ours))
    return {"language": lang.key, "version": lang.version, "compiled": lang.compile is not None,
            "runs": runs, "bare_ms": round(b, 2), "bwrap_only_ms": round(w, 2),
            "sandboxed_ms": round(s, 2), "overhead_ms": round(s - b, 2),
            "bwrap_overhead_ms": round(w - b, 2), "ours_over_bwrap_ms": round(s - w, 2)}  # fmt: skip


def _copy_tree(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        target.mkdir()
    for dirpath, dirnames, filenames in os.walk(target):
        for name in (dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)):
            os.lchown(name, NOBODY, NOBODY)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox", description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="runs per side (compiled: at most 5)")
    parser.add_argument("--languages", help="comma-separated keys (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    sb = Sandbox(SandboxSettings.from_env())
    keys = args.languages.split(",") if args.languages else registry().keys()
    rows = []
    print(f"{'language':<12}{'kind':<10}{'runs':>5}{'bare':>9}{'bwrap':>9}{'ours':>9}"
          f"{'bwrap-bare':>12}{'ours-bwrap':>12}{'ours-bare':>11}{'ours/bare':>11}   (ms)")  # fmt: skip
    for key in keys:
        lang = registry().get(key)
        if lang is None:
            raise SystemExit(f"unknown language {key}")
        row = await measure(sb, lang, args.runs)
        rows.append(row)
        kind = "compiled" if row["compiled"] else "interp."
        ratio = float(row["sandboxed_ms"]) / float(row["bare_ms"])  # type: ignore[arg-type]
        print(f"{key:<12}{kind:<10}{row['runs']:>5}{row['bare_ms']:>9.1f}"
              f"{row['bwrap_only_ms']:>9.1f}{row['sandboxed_ms']:>9.1f}"
              f"{row['bwrap_overhead_ms']:>12.1f}{row['ours_over_bwrap_ms']:>12.1f}"
              f"{row['overhead_ms']:>11.1f}{ratio:>11.2f}")  # fmt: skip
    interpreted = [r for r in rows if not r["compiled"]]
    if interpreted:

        def med(key: str) -> float:
            return statistics.median(float(r[key]) for r in interpreted)  # type: ignore[arg-type]

        print(f"median over interpreted languages: overhead {med('overhead_ms'):.1f} ms, of which "
              f"bwrap {med('bwrap_overhead_ms'):.1f} ms and ours {med('ours_over_bwrap_ms'):.1f} ms"
              f" (cgroup v{sb.capabilities.cgroup_version}, {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
