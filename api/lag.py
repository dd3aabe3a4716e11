"""Consumer lag, read when /metrics is scraped: for each consumer of the log, how many messages
of each topic it has not taken yet.

Two consumers: the processors' Faust group (`runbox-processors`: the offsets it committed to
Kafka) and the projector (its offsets in `projection_offsets`). Both against the partitions'
end offsets, in three round trips (committed offsets, the table, end offsets) bounded by
DEPENDENCY_TIMEOUT_S, and at most once every `ttl_s`: a scrape never waits on a dead broker for
longer than that, and a busy Prometheus costs one computation per interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from api.queries import Database
from api.settings import ApiSettings
from eventlog import topics
from telemetry import metrics

log = logging.getLogger("api.lag")

PROCESSORS_GROUP = "runbox-processors"
PROCESSORS_TOPICS = (topics.REQUESTED.name, topics.DISPATCH.name, topics.RETRY.name)
PROJECTION_OFFSETS = "SELECT topic, partition, next_offset FROM projection_offsets"


class ConsumerLag:
    """Sets `runbox_consumer_lag_messages{group,topic}`; clients made on first use."""

    def __init__(self, settings: ApiSettings, db: Database, ttl_s: float = 5.0) -> None:
        self.settings = settings
        self.db = db
        self.ttl_s = ttl_s
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._measured_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Measure again if the last figures are older than `ttl_s`; on failure the gauge is
        emptied (no figure rather than a stale one) and the failure logged."""
        async with self._lock:
            if time.monotonic() - self._measured_at < self.ttl_s:
                return
            self._measured_at = time.monotonic()
            try:
                lags = await asyncio.wait_for(self._measure(), self.settings.dependency_timeout_s)
            except Exception as exc:  # metrics must not fail the scrape
                log.warning("consumer lag not measured: %s: %s", type(exc).__name__, exc)
                metrics.CONSUMER_LAG.clear()
                return
            metrics.CONSUMER_LAG.clear()
            for (group, topic), lag in lags.items():
                metrics.CONSUMER_LAG.labels(group, topic).set(lag)

    async def _measure(self) -> dict[tuple[str, str], int]:
        admin, consumer = await self._clients()
        committed = await admin.list_consumer_group_offsets(PROCESSORS_GROUP)
        positions: dict[tuple[str, TopicPartition], int] = {
            (PROCESSORS_GROUP, tp): meta.offset
            for tp, meta in committed.items()
            if tp.topic in PROCESSORS_TOPICS and meta.offset >= 0
        }
        for row in await self.db.fetch(PROJECTION_OFFSETS):
            tp = TopicPartition(row["topic"], row["partition"])
            positions[("projector", tp)] = row["next_offset"]
        ends = await consumer.end_offsets(list({tp for _, tp in positions}))
        lags: dict[tuple[str, str], int] = defaultdict(int)
        for (group, tp), offset in positions.items():
            lags[(group, tp.topic)] += max(ends.get(tp, offset) - offset, 0)
        return lags

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
