"""Failures of ours: retried with backoff, then dead-lettered as E005, never lost or silent."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from eventlog import topics
from schemas import encode, events, new_event
from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import wait_result
from tests.samples import run_requested


async def test_an_attempt_that_keeps_failing_ends_e005_in_the_dead_letters(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Straight onto the dispatch topic, past the safety agent: the executor cannot run this
    # language, which is a failure of the engine's, not of the program.
    execution_id = str(uuid.uuid4())
    request = run_requested(
        execution_id,
        language=events.LanguageRef(
            id=str(uuid.uuid4()), key="vanished", name="Vanished", version="0"
        ),
        requested_at=datetime.now(UTC),
    )
    accepted = events.RunAccepted(execution_id=execution_id, attempt=1, request=request)
    producer = AIOKafkaProducer(bootstrap_servers=engine.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.DISPATCH.name, encode(new_event(accepted)), key=execution_id.encode()
        )
    finally:
        await producer.stop()

    # No RunRequested went through the API here, so the row appears with the first attempt.
    deadline = time.monotonic() + 60
    while (await client.get(f"/executions/{execution_id}")).status_code == 404:
        assert time.monotonic() < deadline, "the executor never started the attempt"
        await asyncio.sleep(0.05)
    result = await wait_result(client, execution_id, deadline_s=60)
    assert (result["status"], result["error_code"], result["attempt"]) == ("FAILED", "E005", 3)
    assert "UnknownLanguage" in result["error_message"]

    conn = await asyncpg.connect(engine.env["DATABASE_URL"])
    try:
        dead = await conn.fetchrow(
            "SELECT attempts, reason FROM dead_letters WHERE execution_id = $1",
            uuid.UUID(execution_id),
        )
    finally:
        await conn.close()
    assert dead is not None
    assert dead["attempts"] == 3
