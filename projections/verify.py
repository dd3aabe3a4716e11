"""`python -m projections verify`: replay the log into a scratch database and report every row
that differs from the live projection. The live tables are only read.

The live rows and their offsets are read in one repeatable-read transaction (they commit
together), and the scratch replay stops at exactly those offsets: the comparison is exact even
while the engine runs on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from eventlog import topics
from projections.migrate import drop_all, migrate
from projections.projector import apply_batch, parse
from projections.settings import ProjectorSettings

# Every projection table and its key, which orders and matches rows.
TABLES = {
    "sessions": ("session_id",),
    "session_revisions": ("session_id", "revision"),
    "executions": ("execution_id",),
    "execution_output": ("execution_id", "attempt", "stream", "seq"),
    "execution_history": ("topic", "partition", "offset"),
    "dead_letters": ("execution_id",),
}
Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


@dataclass(frozen=True)
class Difference:
    """One row that the live projection and the replay disagree on."""

    table: str
    key: tuple[Any, ...]
    live: dict[str, Any] | None  # None: missing from the live projection
    replayed: dict[str, Any] | None  # None: the log has no such row

    def describe(self) -> str:
        where = f"{self.table} {', '.join(map(str, self.key))}"
        if self.live is None:
            return f"{where}: missing from the live projection"
        if self.replayed is None:
            return f"{where}: in the live projection but not in the log"
        columns = [c for c in self.live if self.live[c] != self.replayed.get(c)]
        return f"{where}: " + "; ".join(
            f"{c} live={self.live[c]!r} log={self.replayed.get(c)!r}" for c in columns
        )


async def read_tables(conn: asyncpg.Connection) -> Rows:
    found: Rows = {}
    for table, key in TABLES.items():
        order = ", ".join(f'"{k}"' for k in key)
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {order}")
        found[table] = {tuple(r[k] for k in key): dict(r) for r in rows}
    return found


async def live_snapshot(dsn: str) -> tuple[dict[TopicPartition, int], Rows]:
    """The live rows and the offsets they were folded to, as of one instant."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            offsets = {
                TopicPartition(r["topic"], r["partition"]): r["next_offset"]
                for r in await conn.fetch(
                    "SELECT topic, partition, next_offset FROM projection_offsets"
                )
            }
            return offsets, await read_tables(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(dsn: str) -> AsyncIterator[str]:
    """A new empty database beside the live one, dropped afterwards."""
    name = f"runbox_verify_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def replay(settings: ProjectorSettings, until: dict[TopicPartition, int]) -> None:
    """Fold the log into `settings.database_url` up to exactly `until`, publishing nothing."""
    await migrate(settings.database_url)
    conn = await asyncpg.connect(settings.database_url)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        pending = {tp: end for tp, end in until.items() if end > 0}
        consumer.assign(list(pending))
        for tp in pending:
            await consumer.seek_to_beginning(tp)
        while pending:
            records = await consumer.getmany(*pending, timeout_ms=1000)
            bounded = {
                tp: [m for m in messages if m.offset < pending.get(tp, 0)]
                for tp, messages in records.items()
            }
            bounded = {tp: messages for tp, messages in bounded.items() if messages}
            if bounded:
                async with conn.transaction():
                    await apply_batch(conn, parse(bounded))
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp]:
                    consumer.pause(tp)
                    del pending[tp]
    finally:
        await consumer.stop()
        await conn.close()


def differences(live: Rows, replayed: Rows) -> Iterator[Difference]:
    for table in TABLES:
        ours, theirs = live[table], replayed[table]
        for key in sorted(ours.keys() | theirs.keys(), key=str):
            if ours.get(key) != theirs.get(key):
                yield Difference(table, key, ours.get(key), theirs.get(key))


class SameDatabase(ValueError):
    """The scratch database is the live one: verify would drop the live projection."""


@asynccontextmanager
async def given_scratch(dsn: str, live: str) -> AsyncIterator[str]:
    """A database the operator provides (for a role that may not create databases): emptied of
    the projection's tables before the replay, and left behind."""
    if urlsplit(dsn)._replace(query="") == urlsplit(live)._replace(query=""):
        raise SameDatabase(SameDatabase.__doc__)
    await drop_all(dsn)
    yield dsn


async def verify(settings: ProjectorSettings, scratch: str | None = None) -> list[Difference]:
    offsets, live = await live_snapshot(settings.database_url)
    place = (
        given_scratch(scratch, settings.database_url)
        if scratch
        else scratch_database(settings.database_url)
    )
    async with place as dsn:
        await replay(msgspec.structs.replace(settings, database_url=dsn), offsets)
        conn = await asyncpg.connect(dsn)
        try:
            replayed = await read_tables(conn)
        finally:
            await conn.close()
    return list(differences(live, replayed))
