"""The Faust hops of one engine, on two workers side by side: the consumer on the worker's event
loop (`FAUST_CONSUMER=loop`) and in faust-streaming's thread (`thread`).

`python -m bench.hopsplit --url URL --base-port PORT [--runs 200] [--second loop|thread]`, with
an engine started by `STACK_BASE_PORT=PORT PORT=... python -m devstack up --profile NAME`
answering at URL, whose own processors worker has the other `FAUST_CONSUMER` (the default,
`thread`, for `--second loop`). This starts a second worker with `FAUST_CONSUMER=<second>` in the
same consumer group, waits until it runs work, then sends N python hello-world runs one at a
time; run it both ways round, as the engine's own worker also holds the monitor. Each run's "append + safety agent" and "dispatch + executor
pick-up" hops (as bench/hops.py takes them, from the events' own stamps) count for the worker
that owned the partition the run went through (the group's assignment, read from the broker), so
both drivers are measured on the same machine at the same moments. Start the engine and
this with `LOCAL_DISPATCH=false` (a run started where it was screened has no dispatch hop). The second worker is stopped
at the end. 127.0.0.1 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import os
from collections import defaultdict

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from bench import hops, throughput
from bench.client import Timed, create_session, http_client, timed_run
from bench.stack import REPO, BenchStack
from bench.stats import Summary
from eventlog import topics

GROUP = "runbox-processors"
SECOND_WORKER = "hopsplit-second"
CPU = "worker's own CPU, ms per run"  # each worker took about half of every kind of work
# hop name, its first event and topic (whose partition says which worker took it), its last event
HOPS = (
    ("append + safety agent", "RunRequested", topics.REQUESTED.name, "RunAccepted"),
    ("dispatch + executor pick-up", "RunAccepted", topics.DISPATCH.name, "RunStarted"),
)


async def assignment(bootstrap: str, second: str) -> dict[tuple[str, int], str]:
    """(topic, partition) -> "thread" or "loop": which kind of worker owns it now."""
    first = "loop" if second == "thread" else "thread"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (group,) = await admin.describe_consumer_groups([GROUP])
    finally:
        await admin.close()
    owners = {}
    for member in group.groups[0][5]:  # (member_id, [instance_id,] client_id, host, meta, assign)
        client_id, assigned = member[-4], member[-1]
        kind = second if SECOND_WORKER in client_id else first
        for topic, partitions in ConsumerProtocolMemberAssignment.decode(assigned).assignment:
            for partition in partitions:
                owners[(topic, partition)] = kind
    return owners


async def stamps(
    bootstrap: str, since: float, ids: set[str]
) -> dict[str, dict[str, tuple[float, str, int]]]:
    """execution_id -> event type -> (occurred_at epoch s, topic, partition), first attempt."""
    found: dict[str, dict[str, tuple[float, str, int]]] = defaultdict(dict)
    async for tp, envelope in hops.envelopes_since(bootstrap, since, 60):
        if envelope.key in ids and envelope.type not in found[envelope.key]:
            found[envelope.key][envelope.type] = (
                envelope.occurred_at.timestamp(),
                tp.topic,
                tp.partition,
            )
    return found


def own_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process itself (not its sandboxes, its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_worker_pid(second: int) -> int | None:
    """This checkout's other processors worker: `-m processors` run from REPO."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == second:
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "-m processors" in line and os.readlink(entry / "cwd") == str(REPO):
                return int(entry.name)
        except OSError:
            continue
    return None


async def measure(
    url: str, bootstrap: str, runs: int, second: str, pids: dict[str, int]
) -> dict[str, dict[str, list[float]]]:
    async with http_client(url, 4) as http:
        session_id = await create_session(http, "python")
        for _ in range(10):  # warm-up: both workers' paths, connections, caches
            await timed_run(http, session_id, "sse")
        owners = await assignment(bootstrap, second)
        done: list[Timed] = []
        cpu_before = {kind: own_cpu_s(pid) for kind, pid in pids.items()}
        for i in range(runs):
            done.append(await timed_run(http, session_id, "sse"))
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{runs}", flush=True)
        cpu = {
            kind: (own_cpu_s(pid) - cpu_before[kind]) * 1000 / runs for kind, pid in pids.items()
        }
    if await assignment(bootstrap, second) != owners:
        print("  the assignment changed during the runs; the split may be off", flush=True)
    found = await stamps(bootstrap, min(r.posted_at for r in done), {r.execution_id for r in done})
    split: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name, *_ in HOPS}
    split[CPU] = {kind: [ms] for kind, ms in cpu.items()}
    for run in done:
        events = found.get(run.execution_id, {})
        for name, first, topic, last in HOPS:
            if first in events and last in events:
                start, _, partition = events[first]
                if (topic, partition) in owners and events[first][1] == topic:
                    split[name][owners[(topic, partition)]].append((events[last][0] - start) * 1000)
    return split


def render(split: dict[str, dict[str, list[float]]], runs: int) -> str:
    head = f"{'hop, ms (median / p99, n)':<30} {'consumer on loop':>22} {'consumer thread':>22}"
    lines = [f"{runs} python runs one at a time, two workers in one group", head, "-" * len(head)]
    for name, by_kind in split.items():
        if name == CPU:
            cells = [f"{by_kind[k][0]:.2f}" if k in by_kind else "-" for k in ("loop", "thread")]
            lines.append(f"{name:<30} {cells[0]:>22} {cells[1]:>22}")
            continue
        cells = []
        for kind in ("loop", "thread"):
            s = Summary.of(by_kind.get(kind, []))
            cells.append(f"{s.median:.2f} / {s.p99:.2f}, {s.n}")
        lines.append(f"{name:<30} {cells[0]:>22} {cells[1]:>22}")
    return "\n".join(lines)


async def _main(args: argparse.Namespace, stack: BenchStack) -> int:
    bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    print(f"waiting for the second worker (FAUST_CONSUMER={args.second}) to run work", flush=True)
    if not await throughput.wait_for_worker(args.url, SECOND_WORKER, 120):
        print("the second worker got no work within 120 s", file=sys.stderr)
        return 1
    first = "loop" if args.second == "thread" else "thread"
    pids = {args.second: stack.extra_workers[0].pid}
    engine_pid = engine_worker_pid(stack.extra_workers[0].pid)
    if engine_pid is not None:
        pids[first] = engine_pid
    split = await measure(args.url, bootstrap, args.runs, args.second, pids)
    print()
    print(render(split, args.runs))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hopsplit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--second", choices=["loop", "thread"], default="loop")
    args = parser.parse_args(argv)
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("the bench talks to an engine on 127.0.0.1 only")
    stack = BenchStack(args.url.rstrip("/"), args.base_port)
    stack.start()
    if not stack.env:
        return 1
    stack.env["FAUST_CONSUMER"] = args.second
    stack.env["METRICS_PORT"] = "0"
    stack.env["SANDBOX_UID_BASE"] = stack.env["SANDBOX_GID_BASE"] = "61000"
    stack.add_worker(SECOND_WORKER, 2)
    try:
        return asyncio.run(_main(args, stack))
    finally:
        stack.stop_workers()


if __name__ == "__main__":
    sys.exit(main())
