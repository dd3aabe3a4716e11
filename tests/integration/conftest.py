"""Fixtures over the real services: a scratch database per test, a Kafka producer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from projections.migrate import migrate
from tests.conftest import Stack


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def scratch_database(stack: Stack) -> AsyncIterator[str]:
    """A fresh, migrated database on the test PostgreSQL, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = with_database(stack.database_url, name)
    try:
        await migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
