"""The projector: a plain aiokafka consumer that folds the event log into PostgreSQL.

Offsets live in `projection_offsets`, written in the same transaction as the rows, so each event
is applied exactly once even across crashes. After each commit it NOTIFYs `projection` (the API
waits on it for read-your-writes) and publishes execution changes to Redis for live clients.

Any number of projectors may run against one database: one applies, holding a PostgreSQL
advisory lock on the very connection its transactions run on (a projector whose connection died
can commit nothing more), and the others stand by, polling for the lock. Offsets only move
forward, and each transaction skips the messages its partitions' stored offsets say are applied.
An outage of PostgreSQL, Kafka or Redis is logged and waited out (`projections.reconnect`); every
reconnection starts again from the stored offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from eventlog import topics
from projections import observe, queries, streams
from projections.fanout import Fanout
from projections.fold import ExecutionRow
from projections.reconnect import Backoff, TopicsMissing, describe, is_outage, pause
from projections.settings import ProjectorSettings
from projections.tables import apply_sessions, executions_json, fold_executions
from schemas import Envelope, SchemaError, decode, events

log = logging.getLogger("projections.projector")

TOPICS = (topics.SESSIONS.name, topics.REQUESTED.name, topics.EVENTS.name, topics.DEAD_LETTER.name)
NOTIFY_CHANNEL = "projection"
LEADER_LOCK = 0x72756E626F7870  # one applying projector per database (migrations use ...78)
LOCK_POLL_S = 0.5  # how often a standby tries to take over
STATUS_EVERY_S = 1.0  # how often the leader writes `projector_status`
CONNECT_TIMEOUT_S = 10.0
QUERY_TIMEOUT_S = 60.0  # a PostgreSQL that stops answering counts as an outage
# Rows of unfinished executions the leader keeps as it wrote them, so that the next batch of a
# run needs not read its row again; at most this many, none with more than this much source and
# stdin (a few MiB at most).
ROWS_KEPT = 256
ROW_KEPT_CHARS = 16 * 1024

Records = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


@dataclass
class Batch:
    """The events of one poll, grouped for the fold, and the offsets they advance."""

    sessions: list[Envelope[events.Event]]
    executions: list[Envelope[events.Event]]
    offsets: dict[TopicPartition, int]  # each partition's next offset after the batch
    history: list[tuple[Any, ...]] = field(default_factory=list)  # rows of execution_history
    firsts: dict[TopicPartition, int] = field(default_factory=dict)  # each one's first offset


def history_row(
    tp: TopicPartition, offset: int, envelope: Envelope[events.Event]
) -> tuple[Any, ...]:
    """An execution event and its place in the log, as `execution_history` stores it."""
    return (
        tp.topic,
        tp.partition,
        offset,
        envelope.key,
        envelope.event_id,
        envelope.type,
        type(envelope.payload).VERSION,
        envelope.occurred_at,
        msgspec.json.encode(envelope.payload).decode(),
    )


def parse(records: Records) -> Batch:
    """Decode a poll's messages; each execution's RunRequested goes first (causally it is), so
    the live streams tell QUEUED before what the run did, whichever partition the poll listed
    first (the rows are the same either way: the folds commute)."""
    batch = Batch([], [], {})
    requested_first = sorted(
        records.items(), key=lambda item: item[0].topic != topics.REQUESTED.name
    )
    for tp, messages in requested_first:
        for message in messages:
            batch.firsts.setdefault(tp, message.offset)
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
                batch.history.append(history_row(tp, message.offset, envelope))
    return batch


@dataclass
class Applied:
    """What a batch changed: the executions' rows, the events recorded in the live streams, and
    the offsets stored (none unless asked to advance them)."""

    changed: list[ExecutionRow]
    recorded: list[streams.Recorded]
    advanced: dict[TopicPartition, int] = field(default_factory=dict)


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column (what `unnest` takes), `width` empty lists for no rows."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


async def apply_batch(
    conn: asyncpg.Connection[Any],
    batch: Batch,
    advance: bool = False,
    known: Mapping[str, ExecutionRow] | None = None,
) -> Applied | None:
    """Fold a batch into the tables and the live streams (in the caller's transaction, if any); with
    `advance`, store its offsets too and NOTIFY them (delivered at commit), unless some of the
    batch is applied already: then nothing is written and the answer is None. `known`: rows of
    executions as stored, which need not be read again.

    Everything a batch writes but the sessions' rows goes in one statement (queries.WRITE_BATCH,
    guarded by the batch's first offsets when advancing): a batch is a few round trips whatever
    it holds (`Projector.apply`), so its cost per event falls as batches grow under load.
    """
    told: list[streams.Item] = []
    # Sessions first: an autosave and the run of it in one batch are told in that order.
    await apply_sessions(conn, batch.sessions, told)
    writes = await fold_executions(conn, batch.executions, told, known)
    items = await streams.catch_up(conn, told)
    offsets = list(batch.offsets.items()) if advance else []
    rows = await conn.fetch(
        queries.WRITE_BATCH,
        *columns(batch.history, 9),
        *columns(writes.chunks, 5),
        executions_json(writes.rows),
        *columns(writes.dead, 4),
        *columns([(i.stream, i.key, i.event, i.data) for i in items], 4),
        [tp.topic for tp, _ in offsets],
        [tp.partition for tp, _ in offsets],
        [offset for _, offset in offsets],
        NOTIFY_CHANNEL,
        *columns([(tp.topic, tp.partition, first) for tp, first in batch.firsts.items()], 3)
        if advance
        else ([], [], []),
    )
    if rows and rows[0]["n"] == -1:
        return None
    advanced = {
        TopicPartition(r["topic"], r["partition"]): r["next_offset"]
        for r in rows
        if r["seq"] is None
    }
    recorded = streams.numbered(items, [r["seq"] for r in rows if r["seq"] is not None])
    return Applied(writes.rows, recorded, advanced)


def unapplied(records: Records, stored: dict[TopicPartition, int]) -> tuple[Records, int]:
    """The messages at or past their partition's stored next offset, and how many were not."""
    fresh: Records = {}
    skipped = 0
    for tp, messages in records.items():
        keep = [m for m in messages if m.offset >= stored.get(tp, 0)]
        skipped += len(messages) - len(keep)
        if keep:
            fresh[tp] = keep
    return fresh, skipped


class Projector:
    """Consumes the event log from the offsets stored in PostgreSQL and applies it in batches."""

    def __init__(self, settings: ProjectorSettings, publish: bool = True) -> None:
        self.settings = settings
        # Shown in pg_stat_activity, the standby's log and projector_status (63 bytes at most).
        self.name = f"projector {os.getpid()}@{socket.gethostname()}"[:63]
        self.conn: asyncpg.Connection[Any] | None = None
        self.consumer: AIOKafkaConsumer | None = None
        # publish=False for a scratch replay: live clients must not hear it.
        self.fanout = Fanout(settings.redis_url) if publish else None
        self.applied: dict[TopicPartition, int] = {}
        self.leader_since: datetime | None = None
        # Rows this leader wrote this term, least recently written first (`_remember`).
        self.rows: OrderedDict[str, ExecutionRow] = OrderedDict()

    async def start(self) -> None:
        """Nothing to do: `run` connects, and connects again after each outage."""

    async def stop(self) -> None:
        await self._disconnect()
        if self.fanout is not None:
            await self.fanout.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set, through any outage of the services."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._serve(stop, backoff)
            except Exception as exc:
                if not is_outage(exc, self.conn):
                    raise
                delay = backoff.next()
                if self.leader_since is not None:
                    log.warning("lost the leader lock: %s", describe(exc))
                    self.leader_since = None
                log.warning(
                    "a dependency is unavailable (%s); reconnecting in %.1fs",
                    describe(exc),
                    delay,
                    extra={"retry_in_s": delay},
                )
                await self._disconnect()
                await pause(stop, delay)
        await self._disconnect()

    async def _serve(self, stop: asyncio.Event, backoff: Backoff) -> None:
        self.conn = await asyncpg.connect(
            self.settings.database_url,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=QUERY_TIMEOUT_S,
            server_settings={
                "application_name": self.name,
                # The lock is released when the server drops this connection: let it notice a
                # vanished host in about 25 s rather than the kernel's two hours.
                "tcp_keepalives_idle": "10",
                "tcp_keepalives_interval": "5",
                "tcp_keepalives_count": "3",
            },
        )
        log.info("connected to PostgreSQL", extra={"projector": self.name})
        if not await self._take_lead(self.conn, stop):
            return
        consumer = await self._consume_from_stored_offsets(self.conn)
        backoff.reset()
        status_due = time.monotonic() + STATUS_EVERY_S
        while not stop.is_set():
            records = await consumer.getmany(timeout_ms=200)
            if records:
                start_ns = time.time_ns()
                await self.apply(records)
                observe.applied(records, consumer, start_ns, time.time_ns())
            if time.monotonic() >= status_due:
                await self._write_status(self._lag(consumer))
                status_due = time.monotonic() + STATUS_EVERY_S

    async def _take_lead(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> bool:
        """Hold the leader lock on `conn` (True), polling while another holds it; False on stop."""
        standing_by = False
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
            if not standing_by:
                standing_by = True
                log.info(
                    "standing by: another projector holds the leader lock",
                    extra={"holder": await conn.fetchval(queries.LOCK_HOLDER, LEADER_LOCK)},
                )
            if await pause(stop, LOCK_POLL_S):
                return False
        self.leader_since = datetime.now(UTC)
        log.info("took the leader lock", extra={"projector": self.name})
        return True

    async def _consume_from_stored_offsets(self, conn: asyncpg.Connection[Any]) -> AIOKafkaConsumer:
        """A fresh consumer at the stored offsets: nothing fetched or written before this term
        is used."""
        self.rows.clear()
        consumer = self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.projector_fetch_max_wait_ms,
            max_poll_records=self.settings.projector_batch_size,
            max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
            isolation_level="read_committed",
        )
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or await self._partitions(topic))
        ]
        consumer.assign(partitions)
        await conn.execute(
            queries.INIT_OFFSETS,
            [tp.topic for tp in partitions],
            [tp.partition for tp in partitions],
        )
        self.applied = {
            TopicPartition(r["topic"], r["partition"]): r["next_offset"]
            for r in await conn.fetch(queries.SELECT_OFFSETS)
        }
        for tp in partitions:
            consumer.seek(tp, self.applied[tp])
        ends = await consumer.end_offsets(partitions)
        behind = sum(max(0, ends[tp] - self.applied[tp]) for tp in partitions)
        log.info(
            "applying from the stored offsets",
            extra={"partitions": len(partitions), "behind": behind},
        )
        await self._write_status(behind)
        return consumer

    async def _partitions(self, topic: str) -> set[int]:
        assert self.consumer is not None
        for _ in range(50):
            await self.consumer._client.force_metadata_update()
            found = self.consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)
        raise TopicsMissing(f"topic {topic} does not exist; run the topic setup first")

    def _lag(self, consumer: AIOKafkaConsumer) -> int | None:
        """Events in the log not applied yet, as of the last fetch (None before one)."""
        known = {tp: end for tp in self.applied if (end := consumer.highwater(tp)) is not None}
        if not known:
            return None
        return sum(max(0, int(end) - self.applied[tp]) for tp, end in known.items())

    async def _write_status(self, lag: int | None) -> None:
        assert self.conn is not None
        await self.conn.execute(queries.UPSERT_STATUS, self.name, self.leader_since, lag)

    async def _disconnect(self) -> None:
        consumer, self.consumer = self.consumer, None
        conn, self.conn = self.conn, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception as exc:  # it is going away either way
                log.warning("could not stop the Kafka consumer cleanly: %s", describe(exc))
        if conn is not None and not conn.is_closed():
            try:  # the lock goes with the connection
                await conn.close(timeout=2)
            except Exception:  # a dead or hanging server: just drop the socket
                conn.terminate()
        if self.leader_since is not None:
            log.info("released the leader lock", extra={"projector": self.name})
            self.leader_since = None

    async def apply(self, records: Records) -> None:
        """Skip what is applied, fold the rest, advance the offsets, NOTIFY: all or nothing.

        A batch of execution events is its rows read (but those this leader knows: `rows`, as
        it wrote them this term, holding the lock), then one statement on its own, guarded by
        the batch's offsets (any of it applied already: nothing written). A refused batch, and
        any batch with session events, is one transaction that locks the offsets first and
        skips what they say is applied. Run by run: RunRequested is two statements (its row
        read, the write), and a short run's RunStarted, output and RunFinished, one batch, one."""
        conn = self.conn
        assert conn is not None
        applied: Applied | None = None
        try:
            batch = parse(records)
            if not batch.sessions:
                applied = await apply_batch(conn, batch, advance=True, known=self.rows)
            if applied is None:
                self.rows.clear()
                applied = await self._apply_locked(conn, records)
        except BaseException:
            self.rows.clear()  # what was committed is unknown: read the rows again
            raise
        if applied is None:
            return
        for row in applied.changed:
            self._remember(row)
        self.applied.update(applied.advanced)
        for row in applied.changed:
            log.info(
                "execution projected",
                extra={
                    "execution_id": row.execution_id,
                    "status": row.status,
                    "attempt": row.attempt,
                    "error_code": row.outcome.error_code if row.outcome else None,
                },
            )
        if self.fanout is not None:
            self.fanout.publish(applied.recorded)

    async def _apply_locked(
        self, conn: asyncpg.Connection[Any], records: Records
    ) -> Applied | None:
        """One transaction: lock the offsets, skip what they say is applied, apply the rest."""
        async with conn.transaction():
            stored = {
                TopicPartition(r["topic"], r["partition"]): r["next_offset"]
                for r in await conn.fetch(
                    queries.LOCK_OFFSETS,
                    [tp.topic for tp in records],
                    [tp.partition for tp in records],
                )
            }
            fresh, skipped = unapplied(records, stored)
            if skipped:
                # Only a projector that lost the lock without noticing could have applied them.
                log.warning("skipped %d events already applied", skipped)
            if not fresh:
                return None
            applied = await apply_batch(conn, parse(fresh), advance=True)
            assert applied is not None, "the offsets are locked: nothing else applies them"
            return applied

    def _remember(self, row: ExecutionRow) -> None:
        """Keep a row as written for the next batch of its execution; a finished one, rarely
        changed again, and one too big to keep, are read again if they are."""
        self.rows.pop(row.execution_id, None)
        if row.terminal or len(row.source_code or "") + len(row.stdin or "") > ROW_KEPT_CHARS:
            return
        self.rows[row.execution_id] = row
        while len(self.rows) > ROWS_KEPT:
            self.rows.popitem(last=False)
