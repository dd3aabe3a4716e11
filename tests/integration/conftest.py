"""Fixtures over the real services: a scratch database per test, a Kafka producer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
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
