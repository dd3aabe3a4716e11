"""Sandbox overhead per language: median wall time of hello world bare vs in the sandbox.

`python -m bench.sandbox [--runs N] [--languages python,c] [--json PATH]` (as root).
Bare runs use the same commands and the same way of spawning (asyncio subprocess with pipes),
in a plain temporary directory; compiled languages count compile + run on both sides.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: bench/ would shadow the `sandbox` package; put the repo first instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time

from sandbox import Limits, Sandbox, SandboxSettings, Status, registry
from sandbox.registry import Language

COMPILED_RUNS = 5


async def _bare_once(lang: Language, workdir: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    for template in (lang.compile, lang.run):
        if template is None:
            continue
        proc = await asyncio.create_subprocess_exec(
            *lang.command(template, 256), cwd=workdir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
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
        workdir = Path(tmp)
        (workdir / lang.file_name).write_text(lang.template_code)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, **lang.env}
        if "GOCACHE" in env:
            env["GOCACHE"] = str(workdir / "gocache")
        if "GOPATH" in env:
            env["GOPATH"] = str(workdir / "gopath")
        await _bare_once(lang, workdir, env)  # warm page cache and build caches
        await _sandboxed_once(sb, lang)
        bare, boxed = [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both sides alike
            bare.append(await _bare_once(lang, workdir, env))
            boxed.append(await _sandboxed_once(sb, lang))
    b, s = statistics.median(bare), statistics.median(boxed)
    return {"language": lang.key, "version": lang.version, "compiled": lang.compile is not None,
            "runs": runs, "bare_ms": round(b, 2), "sandboxed_ms": round(s, 2),
            "overhead_ms": round(s - b, 2)}  # fmt: skip


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox", description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="runs per side (compiled: at most 5)")
    parser.add_argument("--languages", help="comma-separated keys (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    sb = Sandbox(SandboxSettings.from_env())
    keys = args.languages.split(",") if args.languages else registry().keys()
    rows = []
    print(
        f"{'language':<12}{'kind':<10}{'runs':>5}{'bare ms':>10}{'sandbox ms':>12}{'overhead':>10}"
    )
    for key in keys:
        lang = registry().get(key)
        if lang is None:
            raise SystemExit(f"unknown language {key}")
        row = await measure(sb, lang, args.runs)
        rows.append(row)
        kind = "compiled" if row["compiled"] else "interp."
        print(f"{key:<12}{kind:<10}{row['runs']:>5}{row['bare_ms']:>10.1f}"
              f"{row['sandboxed_ms']:>12.1f}{row['overhead_ms']:>10.1f}")  # fmt: skip
    interpreted = [float(r["overhead_ms"]) for r in rows if not r["compiled"]]  # type: ignore[arg-type]
    if interpreted:
        print(f"median overhead, interpreted languages: {statistics.median(interpreted):.1f} ms "
              f"(cgroup v{sb.capabilities.cgroup_version}, {os.cpu_count()} cores)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
