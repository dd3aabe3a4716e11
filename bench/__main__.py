"""`python -m bench` (`make bench`): start the stack if needed, measure, print the table, write JSON.

Sections: 1 latency per language (and, with Python, the design's latency floor measured on the
same services: bench/chain.py), 2 throughput against the sandbox ceiling, 3 API under load,
4 scaling (1 and 2 executors, queue wait at 2x), 5 memory. `--quick` is a short smoke version.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import api_load, chain, latency, report, throughput, usage
from bench.stack import REPO, BenchStack
from sandbox import registry


@dataclass(frozen=True)
class Plan:
    """How long each section runs; the full plan stays under 10 minutes with stack start."""

    python_samples: int = 200  # a p99 of 200 samples is their second largest, not their maximum
    other_samples: int = 12
    pipeline_s: float = 60.0
    ceiling_s: float = 20.0
    api_s: float = 10.0
    overload_s: float = 15.0
    scaling_s: float = 20.0
    idle_s: float = 10.0
    floor_runs: int = 200  # bench.chain's, with a 20 ms stand-in program: about 20 s


QUICK = Plan(python_samples=20, other_samples=2, pipeline_s=10, ceiling_s=5, api_s=4,
             overload_s=4, scaling_s=6, idle_s=3, floor_runs=30)  # fmt: skip


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024**2, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1m": os.getloadavg()[0],
    }
    info["summary"] = (f"{info['cores']} x {cpu}, {info['memory_gib']} GiB, Linux "
                       f"{info['kernel']}, Python {info['python']}, {commit}, {info['date']}")  # fmt: skip
    return info


async def bench(args: argparse.Namespace, plan: Plan, stack: BenchStack) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    sections = set(args.sections)
    redis_url = stack.env["REDIS_URL"]
    workers = await throughput.live_workers(redis_url)
    slots = sum(workers.values()) or (os.cpu_count() or 1)
    await asyncio.sleep(2)  # let start-up work (JIT, first fetches) settle before "idle"
    results["memory"] = {"idle": usage.snapshot(stack.service_pids())}
    sampler = usage.PeakSampler(stack.service_pids)
    execution_ids: list[str] = []

    if "latency" in sections:
        print("1. latency per language", flush=True)
        keys = args.languages or [lang.key for lang in registry()]
        keys = ["python", *[k for k in keys if k != "python"]] if "python" in keys else keys
        rows = await latency.measure(args.url, keys, plan.python_samples, plan.other_samples,
                                    stack.env["KAFKA_BOOTSTRAP_SERVERS"])  # fmt: skip
        results["latency"] = {row.key: row.to_dict() for row in rows}
        if "python" in keys:
            # What the design's hand-offs alone cost here, now: the overhead target's measure.
            print(f"   the design's latency floor: {plan.floor_runs} runs", flush=True)
            floor = chain.Chain(base_port=args.base_port, runs=plan.floor_runs)
            try:
                stages = chain.summarise(await chain.measure(floor))
            except (Exception, SystemExit) as exc:  # a diagnosis: the sections after it stand
                print(f"   no floor: {type(exc).__name__}: {exc}", flush=True)
            else:
                results["floor"] = {"runs": floor.runs, "program_ms": floor.program_ms,
                                    "gap_ms": floor.gap_ms,
                                    "stages": {k: v.to_dict() for k, v in stages.items()}}  # fmt: skip

    if "throughput" in sections or "scaling" in sections:
        print(f"2. throughput: ceiling {plan.ceiling_s / 2:.0f}s, pipeline {plan.pipeline_s:.0f}s "
              f"on {slots} slots, ceiling {plan.ceiling_s / 2:.0f}s", flush=True)  # fmt: skip
        # What the services burn with no run at all (heartbeats, fetches waiting, the broker's
        # own housekeeping): a floor under their CPU per run that falls only as runs get denser.
        idle = usage.CpuWindow(stack.service_pids)
        idle.start()
        await asyncio.sleep(plan.idle_s)
        idle_cpu = idle.stop(1)
        idle_cpu = {name: round(ms / plan.idle_s, 1) for name, ms in idle_cpu.items()
                    if name in report.SERVICES}  # fmt: skip
        before_ceiling = await throughput.ceiling(slots, plan.ceiling_s / 2)
        sampler.start()
        window = usage.CpuWindow(stack.service_pids)
        piped = await throughput.pipeline(args.url, 3 * slots, plan.pipeline_s, warmup=3,
                                          window=window)  # fmt: skip
        piped["cpu_ms_per_run"] = window.stop(piped["runs"])
        execution_ids = piped.pop("execution_ids")
        ceiling = await throughput.ceiling(slots, plan.ceiling_s / 2)
        ceiling = throughput.merge_ceilings(before_ceiling, ceiling)
        results["throughput"] = {"slots": slots, "workers": workers, "pipeline": piped,
                                 "ceiling": ceiling, "idle_cpu_ms_per_s": idle_cpu,
                                 "ratio": piped["runs_per_s"] / ceiling["runs_per_s"]}  # fmt: skip

    if "api" in sections:
        print("3. API under load", flush=True)
        if not execution_ids:
            execution_ids = await _some_executions(args.url)
        if not sampler.active:
            sampler.start()
        results["api"] = await api_load.measure(args.url, execution_ids, plan.api_s)

    if "scaling" in sections:
        results["scaling"] = await scaling(args, plan, stack, results["throughput"])

    results["memory"]["load"] = await sampler.stop()
    results["targets"] = report.targets(results)
    results["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    return results


async def scaling(args: argparse.Namespace, plan: Plan, stack: BenchStack,
                  tp: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    one = tp["pipeline"]
    out: dict[str, Any] = {"executors": {"1": {**one, "slots": tp["slots"]}}}
    rate = 2 * one["runs_per_s"]
    print(
        f"4. scaling: {rate:.1f} runs/s (2x) for {plan.overload_s:.0f}s on 1 executor", flush=True
    )
    out["overload"] = await throughput.overload(args.url, rate, plan.overload_s)
    worker_id = f"bench-worker-{os.getpid()}"
    stack.add_worker(worker_id, tp["slots"])
    print("   second executor started; waiting for it to get partitions", flush=True)
    if not await throughput.wait_for_worker(args.url, worker_id, 90):
        print("   the second executor got no work within 90s; skipped", flush=True)
        stack.stop_workers()
        return out
    slots = 2 * tp["slots"]
    print(f"   2 executors, {slots} slots, {plan.scaling_s:.0f}s", flush=True)
    two = await throughput.pipeline(args.url, 3 * slots, plan.scaling_s, warmup=2)
    two.pop("execution_ids")
    out["executors"]["2"] = {**two, "slots": slots}
    stack.stop_workers()
    return out


async def _some_executions(url: str) -> list[str]:
    from bench.client import create_session, http_client, timed_run

    async with http_client(url) as http:
        session_id = await create_session(http, "python")
        return [(await timed_run(http, session_id, "sse")).execution_id for _ in range(20)]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--url", default=os.environ.get("BENCH_URL", "http://127.0.0.1:3400"))
    parser.add_argument(
        "--base-port", type=int, default=int(os.environ.get("STACK_BASE_PORT", 49092))
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 2 minutes)")
    parser.add_argument("--languages", nargs="*", help="language keys for section 1 (default: all)")
    parser.add_argument("--sections", nargs="*", default=["latency", "throughput", "api", "scaling"],
                        choices=["latency", "throughput", "api", "scaling"])  # fmt: skip
    parser.add_argument("--json", type=Path, default=REPO / "var" / "bench" / "results.json")
    parser.add_argument("--samples", type=int, help="python runs per way in section 1")
    parser.add_argument("--pipeline-seconds", type=float, help="length of the section 2 window")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    if args.samples:
        plan = replace(plan, python_samples=args.samples)
    if args.pipeline_seconds:
        plan = replace(plan, pipeline_s=args.pipeline_seconds)
    stack = BenchStack(args.url.rstrip("/"), args.base_port)
    started = time.monotonic()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        stack.start()
        results = asyncio.run(bench(args, plan, stack))
    finally:
        stack.stop()
    results["seconds"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    rendered = report.render(results)
    args.json.with_suffix(".txt").write_text(rendered + "\n")
    print()
    print(rendered)
    print(f"\n(bench took {results['seconds']}s; JSON: {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
