"""What operators see: one run is one OpenTelemetry trace across the processes, and the
Prometheus metrics of the API, the workers and the projector move as runs happen."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eventlog import topics
from tests.e2e.conftest import LOGS, Engine, Workers, free_port, start_api
from tests.e2e.fixtures_fleet import VANISHED, accepted_run, produce, wait_logged, wait_terminal
from tests.e2e.fixtures_runs import open_session, submit, wait_result

HELLO_C = '#include <stdio.h>\nint main(void) { puts("traced"); return 0; }\n'
TRACED = {"OTEL_TRACES_EXPORTER": "console"}


def spans(name: str) -> list[dict[str, Any]]:
    """The spans process `name` wrote (the console exporter: one JSON object a line)."""
    path = LOGS / f"e2e-{name}.log"
    found = []
    for line in path.read_bytes().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "context" in record and "name" in record:
            found.append(record)
    return found


@pytest.fixture
def traced_projector(engine: Engine) -> Iterator[str]:
    """The engine's projector replaced by one exporting spans (one projector per database)."""
    engine.stop("projector")
    engine.start("projector-traced", "projections", TRACED)
    try:
        yield "projector-traced"
    finally:
        engine.stop("projector-traced")
        engine.start("projector", "projections")


async def test_one_run_is_one_trace_across_api_kafka_worker_and_projector(
    engine: Engine, own_workers: Workers, traced_projector: str
) -> None:
    own_workers.start("traced-worker", TRACED)
    url = start_api(engine, "api-traced", **TRACED)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            session_id = await open_session(client, "c", HELLO_C)
            execution_id = await submit(client, session_id)
            result = await wait_result(client, execution_id)
    finally:
        engine.stop("api-traced")
    assert result["status"] == "COMPLETED", result
    assert result["stdout"] == "traced\n"

    # The API's append span names the execution: its trace is the run's.
    appended = [
        s
        for s in spans("api-traced")
        if s["name"] == "append RunRequested" and s["attributes"]["runbox.key"] == execution_id
    ]
    assert len(appended) == 1, appended
    trace_id = appended[0]["context"]["trace_id"]

    def of_the_run() -> list[dict[str, Any]]:
        return [
            s
            for name in ("api-traced", "traced-worker", traced_projector)
            for s in spans(name)
            if s["context"]["trace_id"] == trace_id
        ]

    # The projector's span of RunFinished is written once its batch committed: poll.
    deadline = time.monotonic() + 30
    while not any(s["name"] == "project RunFinished" for s in of_the_run()):
        assert time.monotonic() < deadline, [s["name"] for s in of_the_run()]
        await asyncio.sleep(0.1)
    found = of_the_run()
    names = {s["name"] for s in found}
    assert {
        "POST /code-sessions/{session_id:str}/run",
        "append RunRequested",
        "screen executions.requested",
        "execute executions.dispatch",
        "sandbox.run",
        "sandbox.compile",
        "sandbox.execute",
        "project RunRequested",
        "project RunStarted",
        "project RunFinished",
    } <= names, names
    services = {s["resource"]["attributes"]["service.name"] for s in found}
    assert services == {"runbox-api", "runbox-processors", "runbox-projector"}

    # One tree: a single root (the HTTP request), every other span's parent in the trace, so
    # the links through the Kafka headers hold at each hop.
    ids = {s["context"]["span_id"] for s in found}
    roots = [s for s in found if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["POST /code-sessions/{session_id:str}/run"]
    orphans = [s["name"] for s in found if s["parent_id"] is not None and s["parent_id"] not in ids]
    assert orphans == []

    by_name = {s["name"]: s for s in found}
    sandbox = by_name["sandbox.run"]
    assert sandbox["attributes"]["runbox.language"] == "c"
    assert sandbox["attributes"]["runbox.status"] == "COMPLETED"
    assert sandbox["attributes"]["runbox.limits.time_limit_ms"] == 5000
    assert by_name["sandbox.compile"]["parent_id"] == sandbox["context"]["span_id"]
    assert (
        by_name["execute executions.dispatch"]["parent_id"]
        == (by_name["screen executions.requested"]["context"]["span_id"])
    )

    # The worker's log lines of the run carry the trace id.
    line = await wait_logged("traced-worker", msg="run finished", execution_id=execution_id)
    assert line["trace_id"] == trace_id.removeprefix("0x")


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus exposition text (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return 0.0


async def test_metrics_move_as_runs_happen(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    port = free_port()
    own_workers.start("metered-worker", {"METRICS_PORT": str(port)})
    worker_url = f"http://127.0.0.1:{port}/metrics"
    projector_url = f"http://127.0.0.1:{engine.env['PROJECTOR_METRICS_PORT']}/metrics"
    async with httpx.AsyncClient(timeout=10) as scraper:
        before = (await scraper.get(worker_url)).text
        projected_before = (await scraper.get(projector_url)).text
        session_id = await open_session(client, "python", "print('counted')")
        execution_id = await submit(client, session_id)
        assert (await wait_result(client, execution_id))["status"] == "COMPLETED"
        # Refused by the safety agent before it runs: counted by rule.
        endless = await open_session(client, "python", "while True:\n    pass")
        refused = await wait_result(client, await submit(client, endless))
        assert refused["error_code"] == "E006", refused
        after = (await scraper.get(worker_url)).text
        # The projector counts RunFinished once its batch is committed, as the API shows it.
        projected_after = (await scraper.get(projector_url)).text

    done = {"language": "python", "status": "COMPLETED", "error_code": "none"}
    assert (
        sample(after, "runbox_runs_total", **done)
        == sample(before, "runbox_runs_total", **done) + 1
    )
    for histogram in ("runbox_run_queue_wait_seconds_count",):
        assert sample(after, histogram) == sample(before, histogram) + 1
    duration = "runbox_run_duration_seconds_count"
    assert sample(after, duration, language="python") == (
        sample(before, duration, language="python") + 1
    )
    assert sample(after, "runbox_sandbox_slots_busy") == 0
    # The run went through the warm sandbox python keeps from the worker's start (ready long
    # before the worker has joined its consumer group).
    starts = "runbox_run_starts_total"
    assert sample(after, starts, language="python", start="warm") == (
        sample(before, starts, language="python", start="warm") + 1
    ), after
    rejections = "runbox_safety_rejections_total"
    assert sample(after, rejections, rule="infinite_loop") == (
        sample(before, rejections, rule="infinite_loop") + 1
    )
    assert sample(after, "runbox_sandbox_slots") >= 1
    events = "runbox_events_projected_total"
    assert sample(projected_after, events, topic="executions.events") >= (
        sample(projected_before, events, topic="executions.events") + 2  # started, finished
    )

    # The API's own: heartbeat ages of the live workers, read from the fleet hash.
    api = (await client.get("/metrics")).text
    age = sample(api, "runbox_worker_heartbeat_age_seconds", worker_id="metered-worker")
    assert 0 <= age < 30, api
    assert 'worker_id="metered-worker"' in api
    # Consumer lag of the processors' group and of the projector, per topic, measured at the
    # scrape: present for the topics they read (and small: the run is done).
    lag = "runbox_consumer_lag_messages"
    assert f'{lag}{{group="runbox-processors",topic="executions.requested"}}' in api, api
    assert f'{lag}{{group="projector",topic="executions.events"}}' in api, api
    assert sample(api, lag, group="runbox-processors", topic="executions.dispatch") < 5

    # With no exporter (this engine's default) no span is recorded, but the run keeps one trace
    # id from the API's traceparent through the safety agent to the executor, in their logs.
    accepted = await wait_logged("metered-worker", msg="run accepted", execution_id=execution_id)
    finished = await wait_logged("metered-worker", msg="run finished", execution_id=execution_id)
    assert re.fullmatch(r"[0-9a-f]{32}", accepted["trace_id"]), accepted
    assert finished["trace_id"] == accepted["trace_id"]


async def test_retries_dead_letters_and_rate_limits_are_counted(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    port = free_port()
    own_workers.start("metered-worker", {"METRICS_PORT": str(port)})
    worker_url = f"http://127.0.0.1:{port}/metrics"
    async with httpx.AsyncClient(timeout=10) as scraper:
        before = (await scraper.get(worker_url)).text
        # A language the executor cannot run, straight onto dispatch: a failure of ours on
        # every attempt, so MAX_ATTEMPTS - 1 retries and one dead letter.
        accepted = accepted_run(language=VANISHED)
        await produce(engine.env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISPATCH, accepted)
        result = await wait_terminal(client, accepted.execution_id)
        assert (result["status"], result["error_code"]) == ("FAILED", "E005")
        after = (await scraper.get(worker_url)).text
    assert sample(after, "runbox_retries_total") == sample(before, "runbox_retries_total") + 3
    dead = "runbox_dead_letters_total"
    assert sample(after, dead) == sample(before, dead) + 1
    assert sample(after, "runbox_sandbox_slots_busy") == 0  # freed by attempts that raised

    # An API allowing one run a minute per session: the second is a 429, counted by reason.
    strict = start_api(engine, "api-strict", SESSION_RUNS_PER_MINUTE="1")
    try:
        async with httpx.AsyncClient(base_url=strict, timeout=30) as limited:
            session_id = await open_session(limited, "python", "print(1)")
            await submit(limited, session_id)
            refused = await limited.post(f"/code-sessions/{session_id}/run", json={})
            assert refused.status_code == 429, refused.text
            text = (await limited.get("/metrics")).text
    finally:
        engine.stop("api-strict")
    assert sample(text, "runbox_rate_limited_total", reason="session_rate") == 1
