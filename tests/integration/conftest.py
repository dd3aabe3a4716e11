"""Fixtures over the real services: a scratch database per test, a Kafka producer, a Redis
client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from projections.migrate import migrate
from tests.conftest import Stack, temporary_database


@pytest.fixture
async def scratch_database(stack: Stack) -> AsyncIterator[str]:
    """A fresh, migrated database on the test PostgreSQL, dropped afterwards."""
    async with temporary_database(stack.database_url, "scratch") as dsn:
        await migrate(dsn)
        yield dsn


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()
