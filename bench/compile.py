"""Compile + run of one language's programs through the sandbox, N times in one process: a
command to time as a whole, against the same command with other language definitions.

`python -m bench.compile --language java [--runs 5] [--program hello|large]
[--definitions DIR]` (as root). With `--definitions` the sandbox compiles and runs with the
TOML files of DIR (say, a copy of an older `sandbox/languages/`) instead of its own, so two
builds of a language can be compared pair by pair on a shared machine with one process each.
Prints the median compile and run time of the counted runs; exits non-zero if a run failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: bench/ would shadow the `sandbox` package; put the repo first instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import statistics
import time

from sandbox import Limits, Sandbox, SandboxSettings, Status, registry
from sandbox import runner as sandbox_runner


async def _main(args: argparse.Namespace) -> int:
    if args.definitions is not None:
        # The sandbox looks languages up through this name only: point it at the other files.
        other = registry(args.definitions)
        sandbox_runner.registry = lambda: other  # type: ignore[assignment,attr-defined]
    lang = sandbox_runner.registry().get(args.language)  # type: ignore[attr-defined]
    if lang is None:
        raise SystemExit(f"unknown language {args.language}")
    if args.program == "hello":
        source = lang.template_code
    else:
        from tests.integration.sandbox.large_programs import LARGE

        source = LARGE[lang.key]
    sb = Sandbox(SandboxSettings.from_env())
    compile_ms, run_ms, wall_ms = [], [], []
    try:
        for _ in range(args.runs):
            start = time.perf_counter()
            result = await sb.run(lang.key, source, limits=Limits(time_limit_ms=10_000))
            wall_ms.append((time.perf_counter() - start) * 1000)
            if result.status is not Status.COMPLETED:
                print(f"{lang.key}: {result.status} {result.error_code}\n{result.compile_output}"
                      f"{result.stderr}", file=sys.stderr)  # fmt: skip
                return 1
            compile_ms.append(result.compile_time_ms or 0)
            run_ms.append(result.execution_time_ms or 0)
    finally:
        sb.close()
    print(
        f"{lang.key} {args.program}: {args.runs} runs, median compile {statistics.median(compile_ms)}"
        f" ms, run {statistics.median(run_ms)} ms, whole {statistics.median(wall_ms):.1f} ms"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compile", description=__doc__)
    parser.add_argument("--language", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--program", choices=("hello", "large"), default="hello")
    parser.add_argument("--definitions", type=Path, help="directory of language TOML files")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
