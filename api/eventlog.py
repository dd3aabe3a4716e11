"""Appends events to Kafka (idempotent producer, acks=all) and waits until they are projected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.errors import DependencyDown
from api.settings import ApiSettings
from eventlog.topics import MAX_MESSAGE_BYTES, Topic
from schemas import Envelope, encode, events

log = logging.getLogger("api.eventlog")


@dataclass(frozen=True)
class Appended:
    """Where an event landed in the log."""

    topic: str
    partition: int
    offset: int


class EventLog:
    """The API's only way to write: append an event. Starts lazily, so a broker outage is a 503."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure_started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=0,
                    max_request_size=MAX_MESSAGE_BYTES,
                    request_timeout_ms=int(self.settings.dependency_timeout_s * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), self.settings.dependency_timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise DependencyDown("Kafka is unavailable", service="kafka") from exc
                self._producer = producer
        return self._producer

    async def start(self) -> None:
        with contextlib.suppress(DependencyDown):
            await self._ensure_started()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def append(
        self,
        topic: Topic,
        envelope: Envelope[events.Event],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Appended:
        producer = await self._ensure_started()
        try:
            metadata = await asyncio.wait_for(
                producer.send_and_wait(
                    topic.name,
                    encode(envelope),
                    key=envelope.key.encode(),
                    headers=[("event_type", envelope.type.encode()), *(headers or [])],
                ),
                self.settings.dependency_timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise DependencyDown("Kafka is unavailable", service="kafka") from exc
        return Appended(topic.name, metadata.partition, metadata.offset)

    async def ping(self) -> None:
        producer = await self._ensure_started()
        client = producer.client
        ok = await asyncio.wait_for(
            client.force_metadata_update(), self.settings.dependency_timeout_s
        )
        if not ok:
            raise DependencyDown("Kafka is unavailable", service="kafka")


class ProjectionWaiter:
    """Knows how far the projector has applied each partition; waits until it passes an offset.

    LISTENs on the projector's NOTIFY for promptness and re-reads the offsets table as a fallback,
    so a dropped notification costs latency, never correctness.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.applied: dict[tuple[str, int], int] = {}
        self._changed = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._refresh_shared()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self.settings.database_url, timeout=self.settings.dependency_timeout_s
        )
        await conn.add_listener("projection", self._on_notify)
        self._conn = conn
        await self._refresh()

    async def stop(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        if self._conn is not None:
            await self._conn.close()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        for item in str(payload).split(","):
            topic, partition, offset = item.rsplit(":", 2)
            key = (topic, int(partition))
            self.applied[key] = max(self.applied.get(key, 0), int(offset))
        self._changed.set()

    async def _refresh_shared(self) -> None:
        """One re-read at a time, shared by every waiter: a connection runs one query at once."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())
        with contextlib.suppress(
            OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError
        ):
            await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = None
            await self._listen()
            return
        for row in await self._conn.fetch(
            "SELECT topic, partition, next_offset FROM projection_offsets"
        ):
            key = (row["topic"], row["partition"])
            self.applied[key] = max(self.applied.get(key, 0), row["next_offset"])

    async def wait(self, appended: Appended) -> bool:
        """True once the projector has applied `appended`; False after the timeout."""
        key = (appended.topic, appended.partition)
        deadline = time.monotonic() + self.settings.read_your_writes_timeout_s
        while self.applied.get(key, 0) <= appended.offset:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("projection did not reach %s within the timeout", appended)
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
            except TimeoutError:
                await self._refresh_shared()
        return True
