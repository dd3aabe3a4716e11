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


async def end_offsets(bootstrap: str, names: tuple[str, ...]) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # what partitions_for_topic reads
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items() if offset > 0}


async def wait_caught_up(dsn: str, bootstrap: str, deadline_s: float = 60) -> None:
    """Until the projector behind `dsn` has applied everything in the log right now."""
    import asyncio
    import time

    from projections.projector import TOPICS

    targets = await end_offsets(bootstrap, TOPICS)
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            rows = await conn.fetch("SELECT topic, partition, next_offset FROM projection_offsets")
            applied = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            behind = {tp: end for tp, end in targets.items() if applied.get(tp, 0) < end}
            if not behind:
                return
            assert time.monotonic() < deadline, f"projector still behind on {behind}"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
