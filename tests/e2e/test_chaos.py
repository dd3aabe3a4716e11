"""Two faults of the chaos harness (`make chaos`) against the e2e engine: an executor killed
with SIGKILL during ten runs, and one dispatch delivered twice. Judged from the Kafka log."""

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
from tests.e2e.conftest import Engine

RUN_DEADLINE_S = 90.0


@asynccontextmanager
async def closing(tail: LogTail) -> AsyncIterator[LogTail]:
    try:
        yield tail
    finally:
        await tail.close()


@dataclass
class E2ETarget:
    """The e2e engine seen as the harness's target: one processors worker, restarted after a
    signal as a supervisor would."""

    engine: Engine
    journal: Journal = field(default_factory=Journal)
    executors: tuple[str, ...] = ("processors",)

    @property
    def url(self) -> str:
        return self.engine.url

    @property
    def bootstrap(self) -> str:
        return self.engine.env["KAFKA_BOOTSTRAP_SERVERS"]

    def worker_id(self, name: str) -> str:
        return self.engine.env["WORKER_ID"]

    async def kill(self, name: str, signum: int) -> None:
        proc = self.engine.processes[name]
        proc.send_signal(signum)
        code = await asyncio.to_thread(proc.wait, 30)
        self.journal.add(f"{name} exited with {code} after {signal.Signals(signum).name}")
        self.engine.processes.pop(name)
        self.engine.start(name, "processors")

    async def wait_back(self, name: str, since: float, timeout: float) -> bool:
        return await self.wait_healthy(timeout)  # `kill` has started it again already

    async def wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=3) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        return False


async def fault(engine: Engine, name: str) -> tuple[faults.Report, Summary]:
    target = E2ETarget(engine)
    tail = LogTail(target.bootstrap)
    await tail.start_at_end()
    async with httpx.AsyncClient(base_url=engine.url, timeout=10) as http, closing(tail):
        ctx = faults.Context(target, http, tail, runs=10, spread_s=4, run_deadline_s=RUN_DEADLINE_S)
        if name == "kill9":
            report = await faults.kill_executor(ctx)
        else:
            report = await faults.duplicate_dispatch(ctx, count=4)
        assert await target.wait_healthy(60), "the engine did not come back after the fault"
    return report, judge(report.runs, tail.histories, time.time(), RUN_DEADLINE_S)


def explain(report: faults.Report, summary: Summary) -> str:
    return f"{summary}; notes: {report.notes}"


async def test_an_executor_killed_mid_run_loses_nothing_and_runs_nothing_twice(
    engine: Engine,
) -> None:
    report, summary = await fault(engine, "kill9")
    assert report.in_flight, f"the executor was not running any of the runs when killed: {report}"
    assert summary.accepted == 10, explain(report, summary)
    assert (summary.lost, summary.twice) == (0, 0), explain(report, summary)
    assert summary.completed == 10


async def test_a_dispatch_delivered_twice_at_once_runs_once(engine: Engine) -> None:
    report, summary = await fault(engine, "duplicate")
    assert summary.accepted == 4, explain(report, summary)
    assert (summary.lost, summary.twice) == (0, 0), explain(report, summary)
    assert summary.completed == 4
