"""What fault tests do behind the API: write to Kafka directly, make a topic refuse writes, read
one execution's events back from the log, start and kill workers, read their logs and beats."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from eventlog import topics
from fleet.workers import WORKERS_KEY, WorkerBeat, decode_beat
from schemas import Envelope, encode, events, new_event
from tests.e2e.conftest import LOGS
from tests.e2e.fixtures_runs import wait_result
from tests.event_log import end_offsets, read_log
from tests.samples import run_requested

GROUP = "runbox-processors"  # the processors' consumer group (the Faust app's name)
EXECUTION_TOPICS = tuple(
    t.name for t in (topics.EVENTS, topics.DISPATCH, topics.RETRY, topics.DEAD_LETTER)
)
PYTHON = events.LanguageRef(id=str(uuid.uuid4()), key="python", name="Python 3", version="3")
VANISHED = events.LanguageRef(id=str(uuid.uuid4()), key="vanished", name="Vanished", version="0")


def accepted_run(
    source: str = "print(1)", language: events.LanguageRef = PYTHON, time_limit_ms: int = 5000
) -> events.RunAccepted:
    """Attempt 1 of a new execution, as the safety agent would dispatch it."""
    execution_id = str(uuid.uuid4())
    request = run_requested(
        execution_id,
        language=language,
        source_code=source,
        limits=events.RunLimits(time_limit_ms=time_limit_ms, memory_mb=128),
        requested_at=datetime.now(UTC),
    )
    return events.RunAccepted(execution_id=execution_id, attempt=1, request=request)


async def produce(bootstrap: str, topic: topics.Topic, *payloads: events.Event) -> None:
    """Append `payloads` to `topic` in one go (one key's messages keep their order)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(topic.name, encode(new_event(p)), key=p.key.encode())
            for p in payloads
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def history(bootstrap: str, execution_id: str) -> list[Envelope[events.Event]]:
    """Every event of one execution in the log and the work queues, per topic in log order; an
    event in two topics (a dead letter: the kept log and the operators' queue) counts once."""
    seen: set[object] = set()
    found = []
    async for envelope in read_log(bootstrap, EXECUTION_TOPICS):
        if envelope.key == execution_id and envelope.event_id not in seen:
            seen.add(envelope.event_id)
            found.append(envelope)
    return found


def of(kind: type[events.Event], found: list[Envelope[events.Event]]) -> list[Any]:
    return [e.payload for e in found if isinstance(e.payload, kind)]


async def wait_consumed(bootstrap: str, topic: topics.Topic, deadline_s: float = 60) -> None:
    """Until the processors have handled (committed) everything now on `topic`."""
    ends = await end_offsets(bootstrap, (topic.name,))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP)
    await consumer.start()
    try:
        deadline = time.monotonic() + deadline_s
        for (name, partition), end in ends.items():
            while end and ((await consumer.committed(TopicPartition(name, partition))) or 0) < end:
                assert time.monotonic() < deadline, f"{name}[{partition}] not consumed to {end}"
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


@asynccontextmanager
async def refusing_writes(bootstrap: str, topic: topics.Topic) -> AsyncIterator[Restore]:
    """`topic` refuses every message (the broker answers MESSAGE_TOO_LARGE) until restored."""
    restore = Restore(bootstrap, topic)
    await restore.alter({**topic.config, "max.message.bytes": "64"})
    try:
        yield restore
    finally:
        await restore()


@dataclass
class Restore:
    bootstrap: str
    topic: topics.Topic

    async def alter(self, config: dict[str, str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, self.topic.name, configs=config)
            await admin.alter_configs([resource])
        finally:
            await admin.close()

    async def __call__(self) -> None:
        await self.alter(self.topic.config)


def log_lines(name: str) -> list[dict[str, Any]]:
    """The JSON lines a process of the engine has logged so far."""
    path = LOGS / f"e2e-{name}.log"
    found = []
    for line in path.read_bytes().splitlines() if path.exists() else []:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # Faust's banner and other plain lines
    return found


async def wait_logged(name: str, deadline_s: float = 30, **fields: Any) -> dict[str, Any]:
    """The first line process `name` logged with all of `fields` (polled until the deadline)."""
    deadline = time.monotonic() + deadline_s
    while True:
        for line in log_lines(name):
            if all(line.get(k) == v for k, v in fields.items()):
                return line
        assert time.monotonic() < deadline, f"{name} never logged {fields}"
        await asyncio.sleep(0.05)


async def beats(redis_url: str) -> dict[str, WorkerBeat]:
    client = aioredis.from_url(redis_url)
    try:
        raw = await client.hgetall(WORKERS_KEY)
    finally:
        await client.aclose()
    return {
        str(k, "utf-8") if isinstance(k, bytes) else k: decode_beat(
            v if isinstance(v, bytes) else v.encode()
        )
        for k, v in raw.items()
    }


async def wait_beat(
    redis_url: str,
    worker_id: str,
    state: str | None = None,
    running: bool = False,
    deadline_s: float = 60,
) -> WorkerBeat:
    """The worker's beat, once it has one (in `state`, with a run if `running`)."""
    deadline = time.monotonic() + deadline_s
    while True:
        beat = (await beats(redis_url)).get(worker_id)
        if (
            beat is not None
            and (state is None or beat.state == state)
            and (beat.running or not running)
        ):
            return beat
        assert time.monotonic() < deadline, f"worker {worker_id}: no beat {state or ''}"
        await asyncio.sleep(0.02)


async def wait_terminal(
    client: httpx.AsyncClient, execution_id: str, deadline_s: float = 60
) -> dict[str, Any]:
    """The result of an execution dispatched past the API (its row appears with its first
    event, not with a 202)."""
    deadline = time.monotonic() + deadline_s
    while (await client.get(f"/executions/{execution_id}")).status_code == 404:
        assert time.monotonic() < deadline, f"execution {execution_id} never appeared"
        await asyncio.sleep(0.05)
    return await wait_result(client, execution_id, deadline - time.monotonic())


async def wait_started(
    bootstrap: str, execution_id: str, attempt: int = 1, deadline_s: float = 60
) -> events.RunStarted:
    """The RunStarted of `attempt`, once it is in the log."""
    deadline = time.monotonic() + deadline_s
    while True:
        started = [
            s
            for s in of(events.RunStarted, await history(bootstrap, execution_id))
            if s.attempt == attempt
        ]
        if started:
            return started[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"attempt {attempt} of {execution_id} never started"
        await asyncio.sleep(0.1)
