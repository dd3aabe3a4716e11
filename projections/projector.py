"""The projector: a plain aiokafka consumer that folds the event log into PostgreSQL.

Offsets live in `projection_offsets`, written in the same transaction as the rows, so each event
is applied exactly once even across crashes. After each commit it NOTIFYs `projection` (the API
waits on it for read-your-writes) and publishes execution changes to Redis for live clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from projections import observe, queries
from projections.db import no_reset
from projections.fold import (
    EXECUTION_COLUMNS,
    ExecutionRow,
    SessionRow,
    fold_execution,
    fold_session,
)
from projections.settings import ProjectorSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

from eventlog import topics
from schemas import Envelope, SchemaError, decode, events

log = logging.getLogger("projections.projector")

TOPICS = (topics.SESSIONS.name, topics.REQUESTED.name, topics.EVENTS.name, topics.DEAD_LETTER.name)
NOTIFY_CHANNEL = "projection"


@dataclass
class Batch:
    """The events of one poll, grouped for the fold, and the offsets they advance."""

    sessions: list[Envelope[events.Event]]
    executions: list[Envelope[events.Event]]
    offsets: dict[TopicPartition, int]


def parse(records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> Batch:
    batch = Batch([], [], {})
    for tp, messages in records.items():
        for message in messages:
            batch.offsets[tp] = message.offset + 1
            try:
                envelope = decode(message.value or b"")
            except SchemaError as exc:
                # Poison or future events are skipped, loudly: the log keeps them for a fix.
                log.error(
                    "skipping undecodable event at %s:%d@%d: %s",
                    tp.topic,
                    tp.partition,
                    message.offset,
                    exc,
                )
                continue
            if isinstance(envelope.payload, events.SessionEvent):
                batch.sessions.append(envelope)
            else:
                batch.executions.append(envelope)
    return batch


class Projector:
    """Consumes the event log from the offsets stored in PostgreSQL and applies it in batches."""

    def __init__(self, settings: ProjectorSettings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.settings.database_url,
            min_size=1,
            max_size=2,
            reset=no_reset,
            # Rows and offsets commit together and are rebuilt from the log: a server crash that
            # loses the last commits loses both, and the projector simply applies them again.
            server_settings={"synchronous_commit": "off"},
        )
        self.redis = aioredis.from_url(self.settings.redis_url)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.projector_fetch_max_wait_ms,
            max_poll_records=self.settings.projector_batch_size,
            max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
            isolation_level="read_committed",
        )
        await self.consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in sorted(
                self.consumer.partitions_for_topic(topic) or await self._partitions(topic)
            )
        ]
        self.consumer.assign(partitions)
        stored = await self._stored_offsets()
        for tp in partitions:
            if tp in stored:
                self.consumer.seek(tp, stored[tp])
            else:
                await self.consumer.seek_to_beginning(tp)
        log.info(
            "projector assigned %d partitions, %d with stored offsets", len(partitions), len(stored)
        )

    async def _partitions(self, topic: str) -> set[int]:
        assert self.consumer is not None
        for _ in range(50):
            await self.consumer._client.force_metadata_update()
            found = self.consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topic} does not exist; run the topic setup first")

    async def _stored_offsets(self) -> dict[TopicPartition, int]:
        assert self.pool is not None
        rows = await self.pool.fetch(queries.SELECT_OFFSETS)
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        while not stop.is_set():
            records = await self.consumer.getmany(timeout_ms=200)
            if records:
                start_ns = time.time_ns()
                await self.apply(parse(records))
                observe.applied(records, self.consumer, start_ns, time.time_ns())

    async def apply(self, batch: Batch) -> None:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            changed = await self._apply_executions(conn, batch.executions)
            await self._apply_sessions(conn, batch.sessions)
            tps = list(batch.offsets.items())
            await conn.execute(
                queries.ADVANCE_OFFSETS,
                [tp.topic for tp, _ in tps],
                [tp.partition for tp, _ in tps],
                [offset for _, offset in tps],
                NOTIFY_CHANNEL,
                notify_payload(batch.offsets),
            )
        for row in changed:
            log.info(
                "execution projected",
                extra={
                    "execution_id": row.execution_id,
                    "status": row.status,
                    "attempt": row.attempt,
                    "error_code": row.outcome.error_code if row.outcome else None,
                },
            )
        await self._publish(changed, batch.executions)

    async def _apply_sessions(self, conn: Connection, batch: list[Envelope[events.Event]]) -> None:
        if not batch:
            return
        ids = list({e.key for e in batch})
        rows: dict[str, SessionRow | None] = {
            str(r["session_id"]): SessionRow(**_stringify_ids(r))
            for r in await conn.fetch(queries.SELECT_SESSIONS, ids)
        }
        before = dict(rows)
        revisions = []
        for envelope in batch:
            old = rows.get(envelope.key)
            new = rows[envelope.key] = fold_session(old, envelope.payload)
            if new is not None and (old is None or new.revision != old.revision):
                revisions.append(
                    (
                        new.session_id,
                        new.revision,
                        envelope.event_id,
                        envelope.type,
                        new.source_code,
                        envelope.occurred_at,
                    )
                )
        changed = [row for key, row in rows.items() if row is not None and row != before.get(key)]
        if changed:
            await conn.executemany(queries.UPSERT_SESSION, [db_values(row) for row in changed])
        if revisions:
            await conn.executemany(queries.INSERT_REVISION, revisions)

    async def _apply_executions(
        self, conn: Connection, batch: list[Envelope[events.Event]]
    ) -> list[ExecutionRow]:
        if not batch:
            return []
        ids = list({e.key for e in batch})
        rows: dict[str, ExecutionRow] = {}
        for record in await conn.fetch(queries.SELECT_EXECUTIONS, ids):
            row = ExecutionRow.from_columns(_stringify_ids(record))
            rows[row.execution_id] = row
        before = dict(rows)
        chunks = []
        dead = []
        for envelope in batch:
            payload = envelope.payload
            rows[envelope.key] = fold_execution(rows.get(envelope.key), payload)
            if isinstance(payload, events.OutputChunk):
                chunks.append(
                    (
                        payload.execution_id,
                        payload.attempt,
                        payload.stream,
                        payload.seq,
                        payload.data.replace("\x00", "\ufffd"),
                    )
                )
            elif isinstance(payload, events.DeadLettered):
                dead.append(
                    (
                        payload.execution_id,
                        payload.attempts,
                        payload.reason,
                        payload.dead_lettered_at,
                    )
                )
        changed = [row for key, row in rows.items() if row != before.get(key)]
        if changed:
            await conn.executemany(queries.UPSERT_EXECUTION, [db_values(row) for row in changed])
        if chunks:
            await conn.executemany(queries.INSERT_OUTPUT, chunks)
        if dead:
            await conn.executemany(queries.INSERT_DEAD_LETTER, dead)
        return changed

    async def _publish(
        self, changed: Sequence[ExecutionRow], batch: list[Envelope[events.Event]]
    ) -> None:
        """Live fan-out after commit, so a client told "done" finds the row done."""
        if self.redis is None or not (changed or batch):
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for envelope in batch:
                    if isinstance(envelope.payload, events.OutputChunk):
                        chunk = envelope.payload
                        pipe.publish(
                            f"execution:{chunk.execution_id}",
                            orjson.dumps(
                                {
                                    "event": "output",
                                    "stream": chunk.stream,
                                    "seq": chunk.seq,
                                    "data": chunk.data,
                                }
                            ),
                        )
                for row in changed:
                    pipe.publish(
                        f"execution:{row.execution_id}",
                        orjson.dumps({"event": "status", "status": row.status}),
                    )
                await pipe.execute()
        except aioredis.RedisError as exc:  # live updates are best effort; the table is the truth
            log.warning("could not publish live updates: %s", exc)


def _stringify_ids(record: asyncpg.Record) -> dict[str, Any]:
    """Events carry ids as strings; the tables store uuid. Compare like with like."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in record.items()}


def db_values(row: ExecutionRow | SessionRow) -> tuple[Any, ...]:
    """PostgreSQL text cannot hold NUL, which programs may print: stored as U+FFFD (the log keeps it)."""
    values = (
        [row.columns()[name] for name in EXECUTION_COLUMNS]
        if isinstance(row, ExecutionRow)
        else astuple(row)
    )
    return tuple(
        v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in values
    )


def notify_payload(offsets: dict[TopicPartition, int]) -> str:
    return ",".join(f"{tp.topic}:{tp.partition}:{offset}" for tp, offset in offsets.items())
