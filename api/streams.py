"""The live streams of an execution or a session, for any transport (SSE here, WebSocket too).

`open_stream` answers the events numbered after a given one: first those the projector recorded
in `stream_events` (projections/streams.py), then the live messages it publishes on Redis after
each commit, which carry the same numbers. A live message already delivered is dropped; one
that skips a number (Redis dropped a message, or it was published before this subscription)
sends the reader back to the table. Every event reaches the reader once, in order, from any API
process, whether the execution still runs or ended long ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, Literal, NamedTuple

import msgspec
import redis.asyncio as aioredis
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.errors import DependencyDown, InvalidInput
from api.live import Follower
from api.results import present, with_rerun
from api.services import Services

log = logging.getLogger("api.streams")

Stream = Literal["execution", "session"]

PAGE = 500  # stored events read per query
IDLE_CHECK_S = 15.0  # a silent subscription reads the table this often (a message lost in Redis)
RETRY_MS = 2000  # the `retry:` a stream tells SSE clients: wait this long before reconnecting
TIMESTAMPS = ("queued_at", "started_at", "finished_at")


class StreamEvent(NamedTuple):
    """One event of a stream: its number (the SSE id), its name and its data."""

    id: int
    event: str
    data: str


class LiveMessage(msgspec.Struct):
    """What the projector publishes for each recorded event (projections.streams.Recorded)."""

    seq: int
    event: str
    data: str


async def open_stream(
    services: Services, stream: Stream, key: uuid.UUID, after: int = 0
) -> AsyncGenerator[StreamEvent, None]:
    """The events of `stream:key` numbered after `after`, stored then live, each once, in order.

    Subscribes before answering, so that a Redis outage is a DependencyDown (503) the caller can
    still send, and so that no event recorded meanwhile is missed. An execution's stream ends
    after its `result`; a session's never ends. An `after` the stream never numbered (an id of
    another stream, or of before a rebuild) starts it from the beginning: repeats, never a loss.
    Redis or PostgreSQL failing later raises DependencyDown from the iterator: the client
    resumes from its last event. Close the iterator (`aclose`) to unsubscribe.
    """
    try:
        follower = await services.live.follow(f"{stream}:{key}")
    except (aioredis.RedisError, OSError, TimeoutError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc
    return _follow(services, follower, stream, key, after)


async def _follow(
    services: Services, follower: Follower, stream: Stream, key: uuid.UUID, after: int
) -> AsyncGenerator[StreamEvent, None]:
    try:
        # Every event is stored before it is published, so a client can only know stored ids.
        known = await services.db.stream_event_at(stream, key, after) if after > 0 else None
        last = after if known is not None else 0
        # An execution's stream ends with its result (unless a requeue recorded more after it).
        ended = stream == "execution" and known == "result"
        while True:
            # The table first: what was recorded before we listened, or fell in a gap.
            while rows := await services.db.stream_after(stream, key, last, PAGE):
                for row in rows:
                    last, ended = row["seq"], stream == "execution" and row["event"] == "result"
                    yield await _event(services, last, row["event"], row["data"])
            if ended:
                return
            # Then live, until a gap in the numbers or a long silence sends us back.
            while True:
                try:
                    message = await follower.next(IDLE_CHECK_S)
                except (aioredis.RedisError, OSError) as exc:
                    raise DependencyDown("Redis is unavailable", service="redis") from exc
                if message is None:
                    break
                live = msgspec.json.decode(message, type=LiveMessage)
                if live.seq <= last:
                    continue  # delivered already (from the table, or sent twice)
                if live.seq > last + 1:
                    break  # missed one: the table has it
                last = live.seq
                yield await _event(services, last, live.event, live.data)
                if stream == "execution" and live.event == "result":
                    return
    finally:
        await follower.aclose()


async def _event(services: Services, seq: int, event: str, data: str) -> StreamEvent:
    if event == "result":
        data = await render_result(services, data)
    return StreamEvent(seq, event, data)


async def render_result(services: Services, data: str) -> str:
    """A `result` as recorded (the row's columns) becomes the JSON of GET /executions/{id};
    in a session's stream, likewise."""
    row: dict[str, Any] = msgspec.json.decode(data)
    for name in TIMESTAMPS:
        if row.get(name) is not None:
            row[name] = msgspec.convert(row[name], datetime)
    if row.get("rerun_of") is not None:
        row["rerun_of"] = uuid.UUID(row["rerun_of"])
    shown = await with_rerun(services, row, present(row))
    # msgspec, as Litestar's own responses, so timestamps match GET /executions/{id}
    return msgspec.json.encode(shown).decode()


KEEPALIVE_S = 15.0  # an SSE comment after this much silence, so proxies keep the connection

LAST_EVENT_ID = HeaderParameter(
    name="Last-Event-ID",
    required=False,
    # Documentation only: resume_after checks it, with our error.
    schema_extra={"pattern": r"^\s*[0-9]{1,9}\s*$"},
    description="Resume: only the events numbered after this one (the `id:` of the last event "
    "received; EventSource sends it by itself when it reconnects).",
)


def resume_after(raw: str | None) -> int:
    """The number in Last-Event-ID; 0 (from the first event) when absent."""
    if raw is None or not raw.strip():
        return 0
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidInput("Last-Event-ID must be the id of an event of this stream", value=raw)
    return int(text)


def event_stream_spec(events: str) -> ResponseSpec:
    """The OpenAPI answer of an SSE route whose events are described by `events`."""
    return ResponseSpec(
        data_container=str,
        media_type="text/event-stream",
        description=f"`retry: {RETRY_MS}` first; then {events} Each event has an `id:`, its "
        "number in this stream (1, 2, 3... in the order recorded): reconnect with "
        "Last-Event-ID to get exactly the events after it. A comment (keep-alive) every "
        f"{KEEPALIVE_S:.0f} s of silence.",
        generate_examples=False,
    )


def server_sent(events: AsyncGenerator[StreamEvent, None]) -> ServerSentEvent:
    """A stream's events as an SSE response: `retry:` first, then each event with its `id:`,
    and a keep-alive comment whenever nothing was said for KEEPALIVE_S."""

    async def messages() -> AsyncGenerator[ServerSentEventMessage, None]:
        yield ServerSentEventMessage(data=None, retry=RETRY_MS)
        step: asyncio.Future[StreamEvent] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(events))
                while not (await asyncio.wait({step}, timeout=KEEPALIVE_S))[0]:
                    yield ServerSentEventMessage(data=None, comment="keep-alive")
                try:
                    event = step.result()
                except StopAsyncIteration:
                    return
                except DependencyDown as exc:  # end here; the client resumes after `retry`
                    log.warning("live stream ended: %s", exc)
                    return
                yield ServerSentEventMessage(id=event.id, event=event.event, data=event.data)
        finally:
            if step is not None and not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
            await asyncio.shield(events.aclose())

    content = messages()
    response = ServerSentEvent(content)
    # Litestar's SSE iterator reads its own header chunks on a worker thread before the first
    # message: a thread hop per stream, for nothing here. The messages are encoded as it would.
    response.iterator = (message.encode() async for message in content)
    return response
