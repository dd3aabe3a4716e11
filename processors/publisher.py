"""How the agents read and send events; sent events carry the trace context along."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from schemas import Envelope, SchemaError, decode, encode, events, new_event
from telemetry import tracing

if TYPE_CHECKING:
    from processors.worker import Worker

E = TypeVar("E", bound=events.Event)
C = TypeVar("C")
log = logging.getLogger("processors.publisher")

# Publishing in a failure path is retried from this delay, doubled up to the cap, for ever: an
# event that tells how a run ended must not be dropped while the broker hiccups.
REPUBLISH_FIRST_S = 0.1
REPUBLISH_MAX_S = 5.0


def read(raw: bytes, kind: type[E]) -> E | None:
    """The payload of a message if it is a `kind`; None (logged) for anything undecodable."""
    try:
        payload = decode(raw).payload
    except SchemaError as exc:
        log.error(
            "undecodable message skipped", extra={"expected": kind.__name__, "error": str(exc)}
        )
        return None
    return payload if isinstance(payload, kind) else None


async def send(
    topic: Any, payload: events.Event | Envelope[Any], headers: dict[str, bytes] | None = None
) -> Awaitable[Any]:
    """Append `payload` (an event, or one already in its envelope: the same event, with the same
    id, in a second topic) to `topic`; the returned future resolves on the broker's ack.

    Sends of one key keep their order without waiting in between: waiting for each ack in turn
    would put one broker round trip per event on the run's critical path.

    Straight to the app's producer, not through `topic.send`: Faust's `Topic.send` first awaits
    `App.maybe_start_producer`, whose stampede guard yields to the loop before the message is
    enqueued. The producer's sender then sends whatever was enqueued before it on its own, and
    aiokafka keeps one produce request in flight per broker: a run's last output and its
    RunFinished, sent back to back, left in two requests, the second after the first's ack.
    Enqueued without a yield in between, they leave in one.
    """
    envelope = payload if isinstance(payload, Envelope) else new_event(payload)
    all_headers = {"event_type": envelope.type.encode(), **(headers or {})}
    producer = topic.app.producer
    await producer.maybe_start()  # started with the app: no yield then
    fut: Awaitable[Any] = await producer.send(
        topic.get_topic_name(), envelope.key.encode(), encode(envelope), None, None, all_headers
    )
    return fut


async def publish(
    topic: Any, payload: events.Event | Envelope[Any], headers: dict[str, bytes] | None = None
) -> None:
    """Append `payload` to `topic` and wait for the broker's ack."""
    await (await send(topic, payload, headers))


async def publish_until_sent(
    topic: Any, payload: events.Event | Envelope[Any], headers: dict[str, bytes] | None = None
) -> None:
    """Append `payload` to `topic`, retrying with backoff until the broker acks it.

    Only the worker stopping ends the wait (the task is cancelled): the message being handled is
    then not acked, so Kafka delivers it again, to this worker or another.
    """
    delay = REPUBLISH_FIRST_S
    while True:
        try:
            await publish(topic, payload, headers)
            return
        except Exception as exc:
            log.warning(
                "publish failed, retrying in %.1fs: %s: %s",
                delay,
                type(exc).__name__,
                exc,
                extra={"execution_id": payload.key, "event_type": type(payload).__name__},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, REPUBLISH_MAX_S)


def trace_headers(request: events.RunRequested) -> dict[str, bytes]:
    """The current trace context (the span handling the message), else the request's own."""
    current = tracing.inject()
    if current:
        return current
    return {"traceparent": request.traceparent.encode()} if request.traceparent else {}


async def handle_safely(
    handler: Callable[[C, bytes], Awaitable[None]], context: C, raw: bytes
) -> None:
    """The last guard of every agent loop: an exception that escaped would make Faust ack the
    message and drop it silently, and stop the agent (docs/architecture.md, Faust)."""
    try:
        await handler(context, raw)
    except Exception:  # the handlers turn failures into events; this is what is left
        log.exception("message not handled", extra={"handler": handler.__name__})


async def consume(
    stream: Any, handler: Callable[[Worker, bytes], Awaitable[None]], worker: Worker
) -> None:
    """An agent's loop: each message is acked once `handler` has finished with it.

    A handler cancelled midway (the worker stopping) leaves its message unacked, and so does a
    draining worker for the messages it no longer takes: Kafka delivers them again, to the
    worker that gets their partition next (Faust's own loop would ack them; see
    docs/architecture.md, Faust).
    """
    manual = stream.noack()
    async for event in manual.events():
        if worker.draining:
            await worker.idle_until_stopped()
        # In the trace of the run (the traceparent header): its spans, logs and produced events.
        message = event.message
        attributes = (
            {
                "messaging.system": "kafka",
                "messaging.destination.name": message.topic,
                "messaging.destination.partition.id": str(message.partition),
                "messaging.kafka.offset": message.offset,
            }
            if tracing.enabled()
            else None
        )
        with tracing.consuming(f"{handler.__name__} {message.topic}", message.headers, attributes):
            await handle_safely(handler, worker, event.value)
        await manual.ack(event)
