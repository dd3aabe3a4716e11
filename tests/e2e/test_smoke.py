"""The plumbing: an event produced to real Kafka becomes a PostgreSQL row, read back over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaProducer

from eventlog import topics
from schemas import encode, events, new_event
from tests.e2e.conftest import Engine


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["services"] == {
        "kafka": "up",
        "postgres": "up",
        "redis": "up",
        "executors": "up",
    }


async def test_event_in_kafka_reaches_http(engine: Engine, client: httpx.AsyncClient) -> None:
    language = (await client.get("/languages")).json()["languages"][0]
    session_id = str(uuid.uuid4())
    created = events.SessionCreated(
        session_id=session_id,
        language_id=language["id"],
        source_code="print('from the log')",
        created_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(bootstrap_servers=engine.env["KAFKA_BOOTSTRAP_SERVERS"], acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.SESSIONS.name, encode(new_event(created)), key=session_id.encode()
        )
    finally:
        await producer.stop()

    deadline = time.monotonic() + 15
    response = await client.get(f"/code-sessions/{session_id}")
    while response.status_code == 404 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        response = await client.get(f"/code-sessions/{session_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == session_id
    assert body["status"] == "ACTIVE"
    assert body["source_code"] == "print('from the log')"
    assert body["language_id"] == language["id"]
