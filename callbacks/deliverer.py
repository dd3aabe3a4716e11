"""The deliverer's loop: terminal events in, one delivery task each, CallbackAttempted events out.

At least once: a message's offset is committed only when every delivery at or before it in its
partition has ended (delivered or given up), so a deliverer that dies mid-way sends again from
there, under the same delivery id (the terminal event's id). Deliveries run concurrently (up to
CALLBACK_CONCURRENCY attempts at once), so one receiver that hangs holds back no other; a delivery
waiting for its next attempt holds no slot. With CALLBACK_MAX_PENDING deliveries in progress the
deliverer pauses its partitions (still polling, so it keeps its place in the group) until one ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from callbacks.body import CallbackResult, callback_of, ended_at, judge0_body, signed_headers
from callbacks.http import Answer, Resolver, post, resolve
from callbacks.settings import CallbackSettings
from eventlog import topics
from schemas import SchemaError, decode, encode, events, new_event

log = logging.getLogger("callbacks")

COMMIT_EVERY_S = 1.0


def backoff_s(settings: CallbackSettings, attempt: int, rng: random.Random) -> float:
    """The wait after failed attempt `attempt`: doubled each time up to the cap, then jittered
    to between half and all of it, so that receivers back from an outage are not hit at once."""
    ceiling = min(
        settings.callback_max_backoff_ms, settings.callback_backoff_ms << min(attempt - 1, 40)
    )
    return ceiling * rng.uniform(0.5, 1.0) / 1000


class Offsets:
    """Which offsets of each partition are being delivered, and so which may be committed."""

    def __init__(self) -> None:
        self.pending: dict[TopicPartition, set[int]] = {}
        self.next: dict[TopicPartition, int] = {}

    def read(self, tp: TopicPartition, offset: int) -> None:
        self.next[tp] = max(self.next.get(tp, 0), offset + 1)

    def started(self, tp: TopicPartition, offset: int) -> None:
        self.pending.setdefault(tp, set()).add(offset)

    def ended(self, tp: TopicPartition, offset: int) -> None:
        self.pending.get(tp, set()).discard(offset)

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition: the first offset still in delivery, or past the last one read."""
        return {tp: min(self.pending.get(tp) or {end}) for tp, end in self.next.items()}

    def forget(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self.pending.pop(tp, None)
            self.next.pop(tp, None)


class Deliverer:
    """Consumes executions.events in its own group and delivers each result with a callback."""

    def __init__(self, settings: CallbackSettings, resolver: Resolver = resolve) -> None:
        self.settings = settings
        self.allow = settings.policy.allow_list()
        self.resolver = resolver
        self.offsets = Offsets()
        self.slots = asyncio.Semaphore(settings.callback_concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.rng = random.Random()
        self.producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            topics.EVENTS.name,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.callback_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # a new group: what ended lately (CALLBACK_MAX_AGE_S)
            isolation_level="read_committed",
            max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES,
            fetch_max_bytes=topics.MAX_MESSAGE_BYTES,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            max_request_size=topics.MAX_MESSAGE_BYTES,
        )
        await self.producer.start()
        try:
            await consumer.start()
        except BaseException:
            await self.producer.stop()
            raise
        log.info("delivering callbacks", extra={"group": self.settings.callback_group})
        commit_due = time.monotonic() + COMMIT_EVERY_S
        try:
            while not stop.is_set():
                self._pace(consumer)
                records = await consumer.getmany(timeout_ms=200, max_records=100)
                for tp, messages in records.items():
                    for message in messages:
                        self._take(tp, message.offset, message.value or b"", stop)
                if time.monotonic() >= commit_due:
                    try:
                        await self._commit(consumer)
                    except KafkaError as exc:  # a rebalance or a coordinator away: next time
                        log.warning("could not commit the offsets: %s", exc)
                    commit_due = time.monotonic() + COMMIT_EVERY_S
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            with contextlib.suppress(KafkaError, OSError):
                await self._commit(consumer)
            await consumer.stop()
            await self.producer.stop()

    def _pace(self, consumer: AIOKafkaConsumer) -> None:
        """Pause reading while CALLBACK_MAX_PENDING deliveries are in progress, resume after."""
        assigned = consumer.assignment()
        if len(self.tasks) >= self.settings.callback_max_pending:
            consumer.pause(*assigned)
        elif consumer.paused():
            consumer.resume(*consumer.paused())

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        self.offsets.forget(set(self.offsets.next) - set(assigned))
        offsets = {tp: o for tp, o in self.offsets.committable().items() if tp in assigned}
        if offsets:
            await consumer.commit(offsets)

    def _take(self, tp: TopicPartition, offset: int, raw: bytes, stop: asyncio.Event) -> None:
        self.offsets.read(tp, offset)
        try:
            envelope = decode(raw)
        except SchemaError:
            return  # not ours to judge: the projector logs undecodable events
        found = callback_of(envelope)
        if found is None:
            return
        finished = ended_at(envelope)
        too_old = datetime.now(UTC) - timedelta(seconds=self.settings.callback_max_age_s)
        if finished is not None and finished < too_old:
            log.info("result too old to deliver", extra={"execution_id": envelope.key})
            return
        url, result = found
        # A Judge0 submission is called back as Judge0 does it: a PUT of the submission.
        judge0 = judge0_body(envelope)
        body, method = (
            (judge0, "PUT") if judge0 is not None else (msgspec.json.encode(result), "POST")
        )
        self.offsets.started(tp, offset)
        task = asyncio.create_task(self._deliver(url, result, body, method, stop))
        self.tasks.add(task)

        def done(finished_task: asyncio.Task[None]) -> None:
            self.tasks.discard(finished_task)
            if finished_task.cancelled():
                return  # not ended: the offset stays uncommitted, and it is sent again
            if finished_task.exception() is not None:
                log.error(
                    "delivery failed",
                    exc_info=finished_task.exception(),
                    extra={"execution_id": result.execution_id},
                )
            self.offsets.ended(tp, offset)

        task.add_done_callback(done)

    async def _deliver(self, url: str, result: CallbackResult, body: bytes, method: str,
                       stop: asyncio.Event) -> None:  # fmt: skip
        """Every attempt until one is delivered, refused for good, or the last one failed."""
        settings = self.settings
        for attempt in range(1, settings.callback_max_attempts + 1):
            headers = signed_headers(
                settings.callback_secret,
                int(time.time()),
                body,
                result.delivery_id,
                result.execution_id,
                attempt,
            )
            async with self.slots:
                started = time.monotonic()
                answer = await post(
                    url,
                    body,
                    headers,
                    self.allow,
                    settings.callback_timeout_s,
                    settings.callback_max_response_bytes,
                    self.resolver,
                    method=method,
                )
                duration_ms = int((time.monotonic() - started) * 1000)
            final = (
                answer.delivered or answer.permanent or attempt == settings.callback_max_attempts
            )
            await self._record(url, result, attempt, answer, duration_ms, final, stop)
            if final:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff_s(settings, attempt, self.rng))
            if stop.is_set():
                raise asyncio.CancelledError  # not ended: sent again after a restart

    async def _record(
        self,
        url: str,
        result: CallbackResult,
        attempt: int,
        answer: Answer,
        duration_ms: int,
        final: bool,
        stop: asyncio.Event,
    ) -> None:
        """Append the attempt to the log, retrying while the broker is away (until stop)."""
        event = events.CallbackAttempted(
            execution_id=result.execution_id,
            delivery_id=result.delivery_id,
            url=url,
            attempt=attempt,
            status_code=answer.status_code,
            error=answer.error,
            duration_ms=duration_ms,
            delivered=answer.delivered,
            final=final,
            attempted_at=datetime.now(UTC),
        )
        level = logging.INFO if answer.delivered else logging.WARNING
        log.log(
            level,
            "callback attempted",
            extra={
                "execution_id": result.execution_id,
                "attempt": attempt,
                "status_code": answer.status_code,
                "error": answer.error,
                "final": final,
            },
        )
        envelope = new_event(event)
        delay = 0.1
        assert self.producer is not None
        while True:
            try:
                await self.producer.send_and_wait(
                    topics.EVENTS.name,
                    key=envelope.key.encode(),
                    value=encode(envelope),
                    headers=[("event_type", envelope.type.encode())],
                )
                return
            except KafkaError as exc:
                if stop.is_set():
                    raise asyncio.CancelledError from exc
                log.warning("could not record a callback attempt: %s; retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
