"""`python -m projections audit EXECUTION_ID`: an execution's whole history read back from Kafka
(never from PostgreSQL), with the code and stdin that ran."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec

from eventlog import topics
from projections.logreader import Logged, read
from schemas import events

EXECUTION_TOPICS = tuple(t.name for t in topics.ALL if t.name != topics.SESSIONS.name)


async def history(bootstrap: str, execution_id: str) -> list[Logged]:
    """Every message keyed by the execution in every execution topic still holding it (the work
    queues only for their retention), ordered by when it happened, then by its place."""
    found = [
        logged
        async for logged in read(bootstrap, EXECUTION_TOPICS)
        if logged.envelope is not None and logged.envelope.key == execution_id
    ]
    return sorted(found, key=_order)


def _order(logged: Logged) -> tuple[object, ...]:
    assert logged.envelope is not None
    return (logged.envelope.occurred_at, logged.topic, logged.partition, logged.offset)


def _block(title: str, text: str) -> Iterator[str]:
    yield f"    {title} ({len(text.encode())} bytes):"
    for line in text.splitlines() or [""]:
        yield f"      | {line}"


def render(execution_id: str, found: list[Logged]) -> Iterator[str]:
    """Lines for a person: one header per event, its payload as JSON, and the snapshot's code and
    stdin verbatim."""
    yield f"execution {execution_id}: {len(found)} events in the log"
    for logged in found:
        envelope = logged.envelope
        assert envelope is not None
        yield (
            f"{envelope.occurred_at.isoformat()} {logged.topic}:{logged.partition}@{logged.offset}"
            f" {envelope.type} v{type(envelope.payload).VERSION} event {envelope.event_id}"
        )
        payload = envelope.payload
        request = payload if isinstance(payload, events.RunRequested) else getattr(
            payload, "request", None
        )  # fmt: skip
        if isinstance(request, events.RunRequested):
            yield from _block("source_code", request.source_code)
            for name in sorted(request.files):
                yield from _block(f"file {name}", request.files[name])
            yield from _block("stdin", request.stdin)
        yield "    payload: " + msgspec.json.encode(payload).decode()
