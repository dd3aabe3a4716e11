"""A dependency that is down, or hangs, gets a fast JSON 503, never a hang."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.conftest import Stack


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers: the worst kind of down."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the probe is closed


@pytest.fixture
async def kafka_hangs(stack: Stack, blackhole: int) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = ApiSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{blackhole}",
        database_url=stack.database_url,
        redis_url=stack.redis_url,
        dependency_timeout_s=1.0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
async def all_down() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = ApiSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}",
        database_url=f"postgresql://postgres@127.0.0.1:{closed_port()}/runbox",
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        dependency_timeout_s=1.0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_everything_down_is_reported_fast(all_down: AsyncTestClient) -> None:  # type: ignore[type-arg]
    started = time.monotonic()
    assert (await all_down.get("/health")).json() == {"status": "ok"}
    ready = await all_down.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["services"] == {
        "kafka": "down",
        "postgres": "down",
        "redis": "down",
        "executors": "down",
    }
    for method, path, body in [
        ("GET", "/languages", None),
        ("POST", "/code-sessions", {"language_id": "python"}),
        ("GET", "/code-sessions/7f29697a-65f9-5b97-bc34-cc0c4ffc4159", None),
        ("GET", "/executions/7f29697a-65f9-5b97-bc34-cc0c4ffc4159", None),
    ]:
        response = await all_down.request(method, path, json=body)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["code"] == "unavailable"
    assert time.monotonic() - started < 10


async def test_a_hanging_broker_is_a_503_within_the_timeout(
    kafka_hangs: AsyncTestClient,  # type: ignore[type-arg]
    stack: Stack,
) -> None:
    import redis.asyncio as aioredis

    from fleet.catalogue import CATALOGUE_KEY, LanguageEntry, encode_catalogue

    entry = LanguageEntry(
        id="00000000-0000-5000-8000-000000000001",
        key="lang-under-test",
        name="Lang Under Test",
        runtime="x",
        version="1",
        file_name="main.x",
        template_code="",
        default_time_limit_ms=1000,
        default_memory_mb=64,
    )
    redis = aioredis.from_url(stack.redis_url)
    previous = await redis.get(CATALOGUE_KEY)
    if previous is None:  # a catalogue must exist for the API to get as far as Kafka
        await redis.set(CATALOGUE_KEY, encode_catalogue([entry]))
    try:
        language = "lang-under-test" if previous is None else "python"
        started = time.monotonic()
        response = await asyncio.wait_for(
            kafka_hangs.post("/code-sessions", json={"language_id": language}), 10
        )
        elapsed = time.monotonic() - started
    finally:
        if previous is None:
            await redis.delete(CATALOGUE_KEY)
        await redis.aclose()
    assert response.status_code == 503, response.text
    assert response.json()["details"] == {"service": "kafka"}
    assert elapsed < 2.5, f"took {elapsed:.1f}s with a 1s dependency timeout"


async def test_live_events_without_redis_are_a_503(scratch_database: str) -> None:
    import uuid

    import asyncpg

    execution_id = uuid.uuid4()
    conn = await asyncpg.connect(scratch_database)
    try:  # a row as the projector would leave it (this test has no projector of its own)
        await conn.execute(
            "INSERT INTO executions (execution_id, status, queued_at) VALUES ($1, 'RUNNING', now())",
            execution_id,
        )
    finally:
        await conn.close()
    settings = ApiSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}",
        database_url=scratch_database,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        dependency_timeout_s=1.0,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get(f"/executions/{execution_id}")).json()["status"] == "RUNNING"
        started = time.monotonic()
        response = await client.get(f"/executions/{execution_id}/events")
        assert response.status_code == 503, response.text
        assert response.json()["details"] == {"service": "redis"}
        assert time.monotonic() - started < 2.5
