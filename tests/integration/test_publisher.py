"""The worker's appends over the real broker: what reaches Kafka in which produce request.

aiokafka keeps one produce request in flight per broker, so two events of a run sent back to
back (its last output and its RunFinished) must leave in one request: in two, the second waits
for the first's acknowledgement, a broker round trip on the way to the result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import aiokafka.conn
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stack import scratch_topics
from processors.output import OutputPump
from processors.publisher import send
from processors.settings import ProcessorSettings
from processors.worker import create_app
from schemas import decode, events, new_event
from tests.conftest import Stack
from tests.samples import T0, run_finished


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


async def test_a_short_runs_started_output_and_finished_leave_in_one_produce_request(
    stack: Stack, app_topic: Any, produce_requests: list[str]
) -> None:
    """As the executor sends a run's events (processors/executor.py: run_attempt): RunStarted
    through the output pump, the program's output, the pump closed when it ends, RunFinished.
    A run that ends within OUTPUT_COALESCE_MS sends nothing before it ends, then all three at
    once: one produce request, read back in order."""
    execution_id = str(uuid.uuid4())
    await (await send(app_topic, chunk(execution_id, 0, "warm-up\n")))  # metadata fetched
    produce_requests.clear()
    worker = SimpleNamespace(events=app_topic, settings=ProcessorSettings())
    started = new_event(
        events.RunStarted(execution_id=execution_id, attempt=1, worker_id="w", started_at=T0)
    )
    caps = {"stdout": 1 << 20, "stderr": 1 << 20}
    pump = OutputPump(cast(Any, worker), execution_id, 1, {}, caps, started)
    pump.start()
    pump.feed("stdout", b"Hello, world!\n")
    await asyncio.sleep(0.005)  # the program runs
    while_running = list(produce_requests)
    await pump.close()
    finished = await send(app_topic, run_finished(execution_id, stdout="Hello, world!\n"))
    await asyncio.gather(*pump.acks, *pump.input_acks, finished)
    assert while_running == [], "an event of the run was sent while it ran"
    assert len(produce_requests) == 1, (
        f"the run's three events went in {len(produce_requests)} produce requests"
    )
    found = await read_back(stack, app_topic.get_topic_name(), 4)
    assert [type(e).__name__ for e in found[1:]] == ["RunStarted", "OutputChunk", "RunFinished"]
