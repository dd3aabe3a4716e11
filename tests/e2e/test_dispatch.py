"""Local dispatch: a run the safety agent accepts is claimed and started on its worker at once
when a slot is free, without a trip through executions.dispatch (a work queue, not the kept
log); a busy worker still queues it there for the fleet. The oracle is the event log read back
from Kafka (every topic, the work queues included) and the worker's own metrics."""

from __future__ import annotations

import asyncio
import time

import httpx

from eventlog import topics
from schemas import events
from tests.e2e.conftest import Engine, Workers, free_port
from tests.e2e.fixtures_fleet import history, of, refusing_writes, wait_consumed
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.e2e.test_observability import sample

DISPATCHES = "runbox_dispatches_total"


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as scraper:
        return (await scraper.get(url)).text


async def test_an_idle_worker_runs_an_accepted_run_at_once_and_only_once(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    port = free_port()
    own_workers.start("local-worker", {"METRICS_PORT": str(port)})
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    before = await scrape(metrics_url)
    session_id = await open_session(client, "python", "print('handed over')")
    execution_id = await submit(client, session_id)
    result = await wait_result(client, execution_id)
    assert (result["status"], result["stdout"]) == ("COMPLETED", "handed over\n"), result
    after = await scrape(metrics_url)

    found = await history(bootstrap, execution_id)
    assert of(events.RunAccepted, found) == []  # nothing queued: it ran where it was screened
    started, finished = of(events.RunStarted, found), of(events.RunFinished, found)
    assert [(s.attempt, s.worker_id) for s in started] == [(1, "local-worker")]
    assert [(f.attempt, f.outcome.stdout) for f in finished] == [(1, "handed over\n")]
    assert sample(after, DISPATCHES, path="local") == sample(before, DISPATCHES, path="local") + 1
    assert sample(after, DISPATCHES, path="log") == sample(before, DISPATCHES, path="log"), after


async def test_a_busy_worker_leaves_the_run_to_the_dispatch_topic(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    # One slot, taken by a sleeping program: the next run is not held by this worker's safety
    # agent but goes through executions.dispatch, as a fleet's other workers would need it to.
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    port = free_port()
    own_workers.start("busy-worker", {"METRICS_PORT": str(port), "SANDBOX_SLOTS": "1"})
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    before = await scrape(metrics_url)
    sleeper = await submit(
        client, await open_session(client, "python", "import time\ntime.sleep(1.5)\nprint(1)")
    )
    deadline = time.monotonic() + 30
    while sample(await scrape(metrics_url), "runbox_sandbox_slots_busy") < 1:
        assert time.monotonic() < deadline, "the sleeping program never started"
        await asyncio.sleep(0.05)
    waiting = await submit(client, await open_session(client, "python", "print(2)"))
    results = [await wait_result(client, e) for e in (sleeper, waiting)]
    assert [(r["status"], r["stdout"]) for r in results] == [
        ("COMPLETED", "1\n"),
        ("COMPLETED", "2\n"),
    ]
    await wait_consumed(bootstrap, topics.DISPATCH)
    after = await scrape(metrics_url)

    sleeper_log, waiting_log = [await history(bootstrap, e) for e in (sleeper, waiting)]
    assert len(of(events.RunStarted, sleeper_log)) == len(of(events.RunStarted, waiting_log)) == 1
    assert of(events.RunAccepted, sleeper_log) == []  # started where it was screened
    assert [a.attempt for a in of(events.RunAccepted, waiting_log)] == [1]  # queued for the fleet
    assert sample(after, DISPATCHES, path="local") == sample(before, DISPATCHES, path="local") + 1
    assert sample(after, DISPATCHES, path="log") == sample(before, DISPATCHES, path="log") + 1


async def test_a_run_started_here_does_not_need_the_dispatch_topic(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    # The broker refuses every record of executions.dispatch: a worker with a slot free runs
    # the program all the same (one without, or with LOCAL_DISPATCH=false, fails the screening
    # and retries it: tests/e2e/test_failures.py).
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    own_workers.start("local-worker")
    session_id = await open_session(client, "python", "print('went on')")
    async with refusing_writes(bootstrap, topics.DISPATCH):
        execution_id = await submit(client, session_id)
        result = await wait_result(client, execution_id, deadline_s=30)

    assert (result["status"], result["stdout"], result["attempt"]) == ("COMPLETED", "went on\n", 1)
    found = await history(bootstrap, execution_id)
    assert [s.worker_id for s in of(events.RunStarted, found)] == ["local-worker"]
    assert of(events.DeadLettered, found) == []
