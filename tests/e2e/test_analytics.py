"""The analytics consumer over the real log: its figures agree with the events read back from
Kafka, and runs of a known outcome move them as they should."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import orjson

from eventlog import topics
from schemas import events
from tests.e2e.conftest import REPO, Engine
from tests.e2e.fixtures_runs import run_to_end
from tests.event_log import read_log


async def analytics(engine: Engine) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "projections.analytics", "--once",
        env=engine.env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = orjson.loads(out)
    return report


async def from_kafka(engine: Engine, language: str) -> tuple[int, int]:
    """Finished and completed executions of `language`, from the log itself."""
    names = (topics.REQUESTED.name, topics.EVENTS.name)
    keys: dict[str, str] = {}
    first_end: dict[str, str] = {}
    async for envelope in read_log(engine.env["KAFKA_BOOTSTRAP_SERVERS"], names):
        payload = envelope.payload
        if isinstance(payload, events.RunRequested):
            keys[payload.execution_id] = payload.language.key
        elif isinstance(payload, events.DeadLettered):
            keys[payload.execution_id] = payload.request.language.key
        status = (
            payload.outcome.status if isinstance(payload, events.RunFinished)
            else "FAILED" if isinstance(payload, events.RunRejected | events.DeadLettered)
            else None
        )  # fmt: skip
        if status is not None:
            first_end.setdefault(envelope.key, status)
    ours = [s for e, s in first_end.items() if keys.get(e) == language]
    return len(ours), ours.count("COMPLETED")


async def test_figures_match_the_log_and_follow_new_runs(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    await run_to_end(client, "python", "print('warm')")
    before = (await analytics(engine))["python"]
    assert (before["executions"], before["by_status"].get("COMPLETED", 0)) == await from_kafka(
        engine, "python"
    )

    for _ in range(3):
        await run_to_end(client, "python", "print('ok')")
    await run_to_end(client, "python", "raise SystemExit(4)")
    after = (await analytics(engine))["python"]
    assert after["executions"] == before["executions"] + 4
    assert after["by_status"]["COMPLETED"] == before["by_status"]["COMPLETED"] + 3
    assert after["success_rate"] == round(after["by_status"]["COMPLETED"] / after["executions"], 4)
    waits, runs = after["queue_wait_ms"], after["run_time_ms"]
    assert 0 <= waits["p50"] <= waits["p90"] <= waits["p99"]
    assert 0 < runs["p50"] <= runs["p90"] <= runs["p99"]
