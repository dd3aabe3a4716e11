"""Sends events from the agents, carrying the trace context along."""

from __future__ import annotations

from typing import Any

from schemas import encode, events, new_event


async def publish(
    topic: Any, payload: events.Event, headers: dict[str, bytes] | None = None
) -> None:
    """Append `payload` to `topic` and wait for the broker's ack (ordering per key is kept)."""
    envelope = new_event(payload)
    all_headers = {"event_type": envelope.type.encode(), **(headers or {})}
    fut = await topic.send(key=envelope.key.encode(), value=encode(envelope), headers=all_headers)
    await fut


def trace_headers(request: events.RunRequested) -> dict[str, bytes]:
    return {"traceparent": request.traceparent.encode()} if request.traceparent else {}
