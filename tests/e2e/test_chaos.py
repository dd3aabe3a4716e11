"""Two faults of the chaos harness (`make chaos`) against the e2e engine with two workers of
its own: one killed with SIGKILL during ten runs, and dispatches delivered twice at once.
Judged by the harness's oracle, from the Kafka log."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from chaos import faults
from chaos.engine import Journal
from chaos.oracle import LogTail, Summary, judge
from tests.e2e.conftest import Engine, Workers, wait_for_worker

RUN_DEADLINE_S = 90.0


@asynccontextmanager
async def closing(tail: LogTail) -> AsyncIterator[LogTail]:
    try:
        yield tail
    finally:
        await tail.close()


# The harness's fleet settings: a dead worker is noticed in seconds.
FAST_FLEET = {
    "HEARTBEAT_INTERVAL_S": "1",
    "WORKER_DEAD_AFTER_S": "5",
    "KAFKA_SESSION_TIMEOUT_S": "10",
}


@dataclass
class E2ETarget:
    """The e2e engine with two workers of the test's own (`own_workers`), seen as the harness's
    target: a signalled worker is started again as a supervisor would."""

    engine: Engine
    workers: Workers
    journal: Journal = field(default_factory=Journal)
    executors: tuple[str, ...] = ("chaos-e2e-a", "chaos-e2e-b")

    def start(self) -> None:
        for number, name in enumerate(self.executors):
            base = str(62000 + 100 * number)  # sandboxes sharing a kernel: disjoint uids
            self.workers.start(name, {**FAST_FLEET, "SANDBOX_UID_BASE": base,
                                      "SANDBOX_GID_BASE": base}, wait=False)  # fmt: skip
        for name in self.executors:
            wait_for_worker(self.engine, name)

    @property
    def url(self) -> str:
        return self.engine.url

    @property
    def bootstrap(self) -> str:
        return self.engine.env["KAFKA_BOOTSTRAP_SERVERS"]

    def worker_id(self, name: str) -> str:
        return name

    async def kill(self, name: str, signum: int) -> None:
        self.workers.signal(name, signal.Signals(signum))
        code = await asyncio.to_thread(self.workers.wait_exit, name, 30)
        self.journal.add(f"{name} exited with {code} after {signal.Signals(signum).name}")
        await asyncio.sleep(1)  # a supervisor's restart delay
        self.workers.names.remove(name)
        base = str(62000 + 100 * self.executors.index(name))
        self.workers.start(name, {**FAST_FLEET, "SANDBOX_UID_BASE": base,
                                  "SANDBOX_GID_BASE": base}, wait=False)  # fmt: skip

    async def wait_back(self, name: str, since: float, timeout: float) -> bool:
        return await self.wait_healthy(timeout)  # `kill` has started it again already

    async def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=3) as http:
            while time.monotonic() < deadline:
                try:
                    listed = (await http.get("/workers")).json()["workers"]
                    alive = {w["worker_id"] for w in listed if w["state"] == "running"}
                    if set(self.executors) <= alive:
                        return True
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                await asyncio.sleep(0.2)
        return False


async def fault(engine: Engine, workers: Workers, name: str) -> tuple[faults.Report, Summary]:
    target = E2ETarget(engine, workers)
    target.start()
    tail = LogTail(target.bootstrap)
    await tail.start_at_end()
    async with httpx.AsyncClient(base_url=engine.url, timeout=10) as http, closing(tail):
        ctx = faults.Context(target, http, tail, runs=10, spread_s=4, run_deadline_s=RUN_DEADLINE_S)
        if name == "kill9":
            report = await faults.kill_executor(ctx)
        else:
            report = await faults.duplicate_dispatch(ctx, count=4)
        assert await target.wait_healthy(60), "the workers did not come back after the fault"
    return report, judge(report.runs, tail.histories, time.time(), RUN_DEADLINE_S)


def explain(report: faults.Report, summary: Summary) -> str:
    return f"{summary}; notes: {report.notes}"


async def test_an_executor_killed_mid_run_loses_nothing_and_runs_nothing_twice(
    engine: Engine, own_workers: Workers
) -> None:
    report, summary = await fault(engine, own_workers, "kill9")
    assert report.in_flight, f"the executor was not running any of the runs when killed: {report}"
    assert summary.accepted == 10, explain(report, summary)
    assert (summary.lost, summary.twice) == (0, 0), explain(report, summary)
    assert summary.completed == 10


async def test_a_dispatch_delivered_twice_at_once_runs_once(
    engine: Engine, own_workers: Workers
) -> None:
    report, summary = await fault(engine, own_workers, "duplicate")
    assert summary.accepted == 4, explain(report, summary)
    assert (summary.lost, summary.twice) == (0, 0), explain(report, summary)
    assert summary.completed == 4
