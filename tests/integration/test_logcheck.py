"""The monitor asks the log whether a dead worker's attempt had ended before running it again."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from eventlog import topics
from processors.logcheck import attempt_ended
from schemas import encode, events, new_event
from tests.conftest import Stack
from tests.samples import run_finished, run_requested


async def test_an_attempt_whose_result_is_in_the_log_has_ended(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    claimed_at = time.time()
    finished, other = str(uuid.uuid4()), str(uuid.uuid4())
    envelope = new_event(run_finished(finished, attempt=1))
    await producer.send_and_wait(topics.EVENTS.name, encode(envelope), key=finished.encode())
    bootstrap = stack.kafka_bootstrap_servers
    assert await attempt_ended(bootstrap, finished, 1, claimed_at)
    assert not await attempt_ended(bootstrap, finished, 2, claimed_at)  # a later attempt: no
    assert not await attempt_ended(bootstrap, other, 1, claimed_at)  # nothing of it: no


async def test_an_attempt_whose_retry_is_in_the_log_has_ended(
    stack: Stack, producer: AIOKafkaProducer
) -> None:
    # A worker that scheduled the retry of attempt 2 and died before clearing its claim: the
    # monitor must not schedule a second attempt 3.
    claimed_at = time.time()
    execution_id = str(uuid.uuid4())
    retry = events.RetryScheduled(
        execution_id=execution_id, attempt=3, not_before=datetime.now(UTC), reason="boom",
        request=run_requested(execution_id),
    )  # fmt: skip
    await producer.send_and_wait(
        topics.EVENTS.name, encode(new_event(retry)), key=execution_id.encode()
    )
    bootstrap = stack.kafka_bootstrap_servers
    assert await attempt_ended(bootstrap, execution_id, 2, claimed_at)
    assert not await attempt_ended(bootstrap, execution_id, 3, claimed_at)  # the retry itself
