"""The worker's appends over the real broker: what reaches Kafka in which produce request.

aiokafka keeps one produce request in flight per broker, so two events of a run sent back to
back (its last output and its RunFinished) must leave in one request: in two, the second waits
for the first's acknowledgement, a broker round trip on the way to the result.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiokafka.conn
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import scratch_topics
from processors.publisher import on_the_wire, send
from processors.settings import ProcessorSettings
from processors.worker import create_app
from schemas import decode, events
from tests.conftest import Stack


@pytest.fixture
def produce_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The produce requests written to a broker connection in this test, as they are written."""
    written: list[str] = []
    original = aiokafka.conn.AIOKafkaConnection.send

    def counting(self: Any, request: Any, expect_response: bool = True) -> Any:
        if type(request).__name__.startswith("ProduceRequest"):
            written.append(type(request).__name__)
        return original(self, request, expect_response)

    monkeypatch.setattr(aiokafka.conn.AIOKafkaConnection, "send", counting)
    return written


@pytest.fixture
async def app_topic(stack: Stack) -> AsyncIterator[Any]:
    """A topic of its own (one partition), as the worker's Faust app sends to it."""
    name = f"test.publisher.{uuid.uuid4().hex[:8]}"
    async with scratch_topics(stack.kafka_bootstrap_servers, [name]):
        settings = ProcessorSettings.from_env(stack.env)
        app = create_app(settings, app_id=f"test-publisher-{uuid.uuid4().hex[:8]}")
        topic = app.topic(name, key_type=bytes, value_type=bytes, allow_empty=False)
        await app.producer.start()
        try:
            yield topic
        finally:
            await app.producer.stop()


def chunk(execution_id: str, seq: int, data: str) -> events.OutputChunk:
    return events.OutputChunk(
        execution_id=execution_id, attempt=1, stream="stdout", seq=seq, data=data
    )


async def read_back(stack: Stack, topic: str, count: int) -> list[events.Event]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        found: list[events.Event] = []
        while len(found) < count:
            batch = await consumer.getmany(tp, timeout_ms=10_000)
            assert batch, f"only {len(found)} of {count} events came back from {topic}"
            found += [decode(m.value or b"").payload for m in batch[tp]]
        return found
    finally:
        await consumer.stop()


async def test_events_sent_back_to_back_leave_in_one_produce_request(
    stack: Stack, app_topic: Any, produce_requests: list[str]
) -> None:
    execution_id = str(uuid.uuid4())
    # Warm the connection up: the first send of a producer also fetches metadata.
    await (await send(app_topic, chunk(execution_id, 1, "first\n")))
    produce_requests.clear()
    last = await send(app_topic, chunk(execution_id, 2, "last output\n"))
    finished = await send(app_topic, chunk(execution_id, 3, "and the end\n"))
    await last
    await finished
    assert len(produce_requests) == 1, (
        f"two events sent back to back went in {len(produce_requests)} produce requests"
    )
    found = await read_back(stack, app_topic.get_topic_name(), 3)
    assert [(e.seq, e.data) for e in found if isinstance(e, events.OutputChunk)] == [
        (1, "first\n"),
        (2, "last output\n"),
        (3, "and the end\n"),
    ]


async def test_on_the_wire_writes_what_was_sent_before_the_caller_goes_on(
    stack: Stack, app_topic: Any, produce_requests: list[str]
) -> None:
    """RunStarted is sent right before the sandbox's hand-over, which keeps the loop busy for
    milliseconds: it must be written to the broker's socket first, not after."""
    execution_id = str(uuid.uuid4())
    await (await send(app_topic, chunk(execution_id, 1, "warm-up\n")))
    produce_requests.clear()
    ack = await send(app_topic, chunk(execution_id, 2, "started\n"))
    await on_the_wire()
    assert len(produce_requests) == 1, "the event was not written to the broker's socket yet"
    await ack
