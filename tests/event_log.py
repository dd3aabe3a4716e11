"""Looking behind the API: the Kafka event log and the projection tables, read directly
(shared by the integration and end-to-end tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.projector import TOPICS
from schemas import Envelope, decode, events

# Every projection table, with the key that orders its rows for an exact comparison.
TABLES = {
    "sessions": "session_id",
    "session_revisions": "session_id, revision",
    "executions": "execution_id",
    "execution_output": "execution_id, attempt, stream, seq",
    "dead_letters": "execution_id",
    "execution_history": 'topic, partition, "offset"',
}
Offsets = dict[tuple[str, int], int]


async def end_offsets(bootstrap: str, topics: tuple[str, ...] = TOPICS) -> Offsets:
    """The next offset to be written in every partition of `topics`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        assert partitions, f"no partitions found for {topics}"
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_log(
    bootstrap: str, topics: tuple[str, ...]
) -> AsyncIterator[Envelope[events.Event]]:
    """Every event of `topics` from the beginning up to their current end."""
    ends = await end_offsets(bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        pending = {TopicPartition(t, p): end for (t, p), end in ends.items() if end > 0}
        consumer.assign(list(pending))
        for tp in pending:
            await consumer.seek_to_beginning(tp)
        while pending:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset < pending.get(tp, 0):
                        yield decode(message.value or b"")
                if tp in pending and await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
    finally:
        await consumer.stop()


async def projected_offsets(dsn: str) -> Offsets:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT topic, partition, next_offset FROM projection_offsets")
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def wait_projected(dsn: str, target: Offsets, deadline_s: float = 120.0) -> None:
    """Until the projection in `dsn` has applied every partition up to `target`."""
    deadline = time.monotonic() + deadline_s
    while True:
        applied = await projected_offsets(dsn)
        behind = {
            k: (applied.get(k, 0), end) for k, end in target.items() if applied.get(k, 0) < end
        }
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"projection in {dsn} still behind after {deadline_s:.0f}s: {behind}"
            )
        await asyncio.sleep(0.1)


async def snapshot(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """All rows of every projection table, in key order."""
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
            for table, key in TABLES.items()
        }
    finally:
        await conn.close()
