"""How the agents read and send events; sent events carry the trace context along."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from schemas import SchemaError, decode, encode, events, new_event

E = TypeVar("E", bound=events.Event)
C = TypeVar("C")
log = logging.getLogger("processors.publisher")


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
    topic: Any, payload: events.Event, headers: dict[str, bytes] | None = None
) -> Awaitable[Any]:
    """Append `payload` to `topic`; the returned future resolves on the broker's ack.

    Sends of one key keep their order without waiting in between: waiting for each ack in turn
    would put one broker round trip per event on the run's critical path.
    """
    envelope = new_event(payload)
    all_headers = {"event_type": envelope.type.encode(), **(headers or {})}
    fut: Awaitable[Any] = await topic.send(
        key=envelope.key.encode(), value=encode(envelope), headers=all_headers
    )
    return fut


async def publish(
    topic: Any, payload: events.Event, headers: dict[str, bytes] | None = None
) -> None:
    """Append `payload` to `topic` and wait for the broker's ack."""
    await (await send(topic, payload, headers))


def trace_headers(request: events.RunRequested) -> dict[str, bytes]:
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
