"""Reading the kept log back from Kafka, from the beginning to its current end: what auditors
and the verifier trust instead of the projection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from eventlog import topics
from schemas import Envelope, SchemaError, decode, events


@dataclass(frozen=True)
class Logged:
    """An event and its place in the log; `envelope` is None for bytes that do not decode."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    envelope: Envelope[events.Event] | None
    error: str | None = None


async def read(
    bootstrap: str, names: Iterable[str], until: dict[TopicPartition, int] | None = None
) -> AsyncIterator[Logged]:
    """Every message of the topics `names` up to `until` (default: their end when called)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        if until is None:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [
                TopicPartition(name, p)
                for name in names
                for p in sorted(cluster.partitions_for_topic(name) or ())
            ]
            until = await consumer.end_offsets(partitions) if partitions else {}
        pending = {tp: end for tp, end in until.items() if end > 0}
        if not pending:
            return
        consumer.assign(list(pending))
        for tp in pending:
            await consumer.seek_to_beginning(tp)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= pending.get(tp, 0):
                        continue
                    try:
                        envelope, error = decode(message.value or b""), None
                    except SchemaError as exc:
                        envelope, error = None, str(exc)
                    yield Logged(
                        tp.topic, tp.partition, message.offset, message.timestamp, envelope, error
                    )
            for tp in list(pending):
                # transaction markers take offsets too: the position, not the last message, tells
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
    finally:
        await consumer.stop()
