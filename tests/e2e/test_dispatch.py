"""Local dispatch: a run the safety agent accepts starts on its worker at once when a slot is
free, without the round trip through executions.dispatch; the dispatch record is still written
(and skipped when it comes back), so the log, the claims and the other workers see what they saw
before. The oracle is the event log read back from Kafka and the worker's own metrics."""

from __future__ import annotations

import asyncio
import time

import httpx

from eventlog import topics
from schemas import events
from tests.e2e.conftest import Engine, Workers, free_port
from tests.e2e.fixtures_fleet import history, of, refusing_writes, wait_consumed, wait_logged
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
    # The dispatch record came back to the worker and was skipped, not run a second time.
    await wait_consumed(bootstrap, topics.DISPATCH)
    after = await scrape(metrics_url)

    found = await history(bootstrap, execution_id)
    accepted = of(events.RunAccepted, found)
    assert [(a.execution_id, a.attempt) for a in accepted] == [(execution_id, 1)]
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

    for execution_id in (sleeper, waiting):
        assert len(of(events.RunStarted, await history(bootstrap, execution_id))) == 1
    assert sample(after, DISPATCHES, path="local") == sample(before, DISPATCHES, path="local") + 1
    assert sample(after, DISPATCHES, path="log") == sample(before, DISPATCHES, path="log") + 1


async def test_a_run_started_here_goes_on_when_the_broker_refuses_its_dispatch_record(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    # The record in executions.dispatch is the fleet's copy of the work; the run's own events
    # (and its claim in Redis, what the monitor would need) do not depend on it.
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    own_workers.start("local-worker")
    session_id = await open_session(client, "python", "print('went on')")
    async with refusing_writes(bootstrap, topics.DISPATCH):
        execution_id = await submit(client, session_id)
        result = await wait_result(client, execution_id, deadline_s=30)
        await wait_logged(
            "local-worker",
            msg="dispatch record not appended; the run goes on here",
            execution_id=execution_id,
        )

    assert (result["status"], result["stdout"], result["attempt"]) == ("COMPLETED", "went on\n", 1)
    found = await history(bootstrap, execution_id)
    assert of(events.RunAccepted, found) == []  # refused
    assert [s.worker_id for s in of(events.RunStarted, found)] == ["local-worker"]
    assert of(events.DeadLettered, found) == []
