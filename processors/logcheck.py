"""Asks the event log, the one record that cannot be out of step, whether an attempt ended.

The monitor uses it before running a dead worker's attempt again: the worker may have died just
after its RunFinished reached Kafka and before it could say so in Redis, and running the program
a second time would then be wrong. Off the hot path: only for the attempts of dead workers.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from eventlog import topics
from schemas import SchemaError, decode, events

_PARTITIONER = DefaultPartitioner()


async def attempt_ended(
    bootstrap: str, execution_id: str, attempt: int, since_s: float, timeout_s: float = 10.0
) -> bool:
    """True if executions.events has a RunFinished or DeadLettered of this attempt (or a later
    one), or a RetryScheduled of a later one (published to the retry queue first), written since
    `since_s` (unix time, when the attempt was claimed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
        max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
        fetch_max_bytes=topics.MAX_MESSAGE_BYTES,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(topics.EVENTS.name) or ())
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = sorted(consumer.partitions_for_topic(topics.EVENTS.name) or ())
        key = execution_id.encode()
        tp = TopicPartition(topics.EVENTS.name, _PARTITIONER(key, partitions, partitions))
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        # A little before the claim: the clocks of two hosts may differ by that much.
        found = await consumer.offsets_for_times({tp: int((since_s - 60) * 1000)})
        start = found[tp].offset if found.get(tp) is not None else end
        consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=int(timeout_s * 1000))
            if not batch:
                raise TimeoutError(f"reading {tp} from {start} to {end} took too long")
            for message in batch.get(tp, []):
                if message.key != key or message.offset >= end:
                    continue
                try:
                    payload = decode(message.value or b"").payload
                except SchemaError:
                    continue
                if isinstance(payload, events.RunFinished) and payload.attempt >= attempt:
                    return True
                if isinstance(payload, events.DeadLettered) and payload.attempts >= attempt:
                    return True
                if isinstance(payload, events.RetryScheduled) and payload.attempt > attempt:
                    return True
        return False
    finally:
        await consumer.stop()
