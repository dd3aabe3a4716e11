"""`python -m chaos` (`make chaos`): a private stack, two executors, one fault after another
under a load of known programs, then one table; exit status 1 if a run was lost or ran twice.

Faults, in order: executor-kill9, executor-sigterm, projector-kill9, two-projectors,
kafka-down, postgres-down, redis-down, sandbox-e005, dispatch-twice. See README, "Faults".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from chaos import faults
from chaos.engine import BASE_PORT, PROFILE, ChaosError, Engine
from chaos.oracle import LogTail, Summary, judge
from chaos.report import render
from devstack.__main__ import VAR
from devstack.services import REPO, StackError

Scenario = Callable[[faults.Context, Engine], Awaitable[faults.Report]]
SCENARIOS: dict[str, Scenario] = {
    "executor-kill9": lambda ctx, engine: faults.kill_executor(ctx),
    "executor-sigterm": lambda ctx, engine: faults.rolling_restart(ctx),
    "projector-kill9": faults.kill_projector,
    "two-projectors": faults.two_projectors,
    "kafka-down": faults.kafka_outage,
    "postgres-down": faults.postgres_outage,
    "redis-down": faults.redis_outage,
    "sandbox-e005": faults.sandbox_failure,
    "dispatch-twice": lambda ctx, engine: faults.duplicate_dispatch(ctx),
}


def header(engine: Engine, ctx: faults.Context, seconds: float | None = None) -> list[str]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    settings = " ".join(f"{k}={v}" for k, v in engine.settings().items())
    took = f", took {seconds:.0f}s" if seconds is not None else ""
    return [
        f"chaos: {commit}, {datetime.now(UTC).isoformat(timespec='seconds')}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}{took}",
        f"stack: Kafka :{engine.stack.kafka.port}, PostgreSQL :{engine.stack.postgres.port}, "
        f"Redis :{engine.stack.redis.port}, API {engine.url}; api, projector, "
        f"{len(engine.executors)} processors workers ({', '.join(engine.executors)})",
        f"settings: {settings}; others at their defaults",
        f"load: {ctx.runs} runs per fault over {ctx.spread_s:.0f}s (python/bash printing a token, "
        f"sleeping 0-1s); a run is lost without its output in the log "
        f"{ctx.run_deadline_s:.0f}s after its 202",
    ]


async def run_faults(args: argparse.Namespace) -> int:
    engine = Engine(args.base_port)
    results: list[tuple[faults.Report, Summary]] = []
    started = time.monotonic()
    try:
        print(f"starting the chaos stack (logs: {engine.logs})", flush=True)
        await engine.start()
        tail = LogTail(engine.bootstrap)
        await tail.start_at_end()
        async with httpx.AsyncClient(base_url=engine.url, timeout=10) as http:
            ctx = faults.Context(engine, http, tail, runs=args.runs, spread_s=args.spread,
                                 run_deadline_s=args.run_deadline)  # fmt: skip
            reports = []
            for number, name in enumerate(args.faults, start=1):
                print(f"{number}. {name}", flush=True)
                since = time.time()
                try:
                    report = await SCENARIOS[name](ctx, engine)
                except Exception as exc:  # one broken scenario must not hide the others
                    traceback.print_exc()
                    report = faults.Report(name, "(harness error)", [],
                                           [f"harness error: {type(exc).__name__}: {exc}"])  # fmt: skip
                unplanned = Counter(e for e in engine.journal.since(since) if "on its own" in e)
                report.notes.extend(f"engine: {e}" + (f" x{n}" if n > 1 else "")
                                    for e, n in unplanned.items())  # fmt: skip
                reports.append(report)
                if not await engine.wait_healthy(90):
                    report.notes.append("the engine was not healthy 90s after this fault")
            await tail.catch_up(30)
            await tail.close()
            now = time.time()
            for report in reports:
                results.append((report, judge(report.runs, tail.histories, now, args.run_deadline)))
        table = render(header(engine, ctx, time.monotonic() - started), results)
    finally:
        print("stopping the chaos stack", flush=True)
        await engine.stop()
    print()
    print(table)
    out = VAR / f"{PROFILE}-report.txt"
    out.write_text(table + "\n")
    print(f"\n(table also in {out.relative_to(REPO)}; logs in var/{PROFILE}/logs/)")
    broken = any(s.lost or s.twice for _, s in results) or any(
        n.startswith("harness error") for r, _ in results for n in r.notes
    )
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--base-port", type=int,
                        default=int(os.environ.get("STACK_BASE_PORT", BASE_PORT)))  # fmt: skip
    parser.add_argument("--faults", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--runs", type=int, default=30, help="runs per fault (default 30)")
    parser.add_argument("--spread", type=float, default=12.0,
                        help="seconds over which one fault's runs are submitted")  # fmt: skip
    parser.add_argument("--run-deadline", type=float, default=90.0,
                        help="seconds after its 202 by which a run must have its output")  # fmt: skip
    args = parser.parse_args(argv)
    # The harness's own log reader retries through the outages it causes: no tracebacks.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if os.geteuid() != 0:
        print("error: the executors' sandbox needs root; run as root", file=sys.stderr)
        return 2

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # same clean-up as Ctrl-C
        return await run_faults(args)

    try:
        return asyncio.run(guarded())
    except (ChaosError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; everything the harness started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
