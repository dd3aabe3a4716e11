"""The live streams, recorded: what a client following an execution or a session is told.

Each execution and each session has a stream of events numbered 1, 2, 3... in the order the
projector recorded them, written in the same transaction as the rows they describe (so a stream
never tells of a row that is not committed, nor misses one that is). The API replays a stream
from any number (SSE `Last-Event-ID`) and splices the live messages after it; each live message
carries its number, so the splice has neither gap nor duplicate.

Execution stream: `status` (data: the status), `output` (JSON `{stream, data, attempt}`),
`truncated` (JSON `{stream, attempt}`: that stream's output was cut at the run's cap) and
`result` (data: the row's columns as JSON; the API renders it as GET /executions/{id}).
Session stream: `revision` (JSON `{revision, kind, source_code, files, at}`) for each applied session
event, and the events of its executions with `execution_id` in their JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from projections.fold import EXECUTION_COLUMNS, ExecutionRow, SessionRow
from schemas import Envelope, events

if TYPE_CHECKING:
    from projections.tables import Connection

EXECUTION = "execution"
SESSION = "session"
CATCH_UP = "catch-up"  # not an event: `catch_up` puts the execution's stream so far in its place

EXECUTION_SO_FAR = (
    "SELECT event, data FROM stream_events WHERE stream = 'execution' AND key = $1 ORDER BY seq"
)


@dataclass(frozen=True)
class Item:
    """One event of a stream, before the projector numbers it."""

    stream: str  # EXECUTION | SESSION
    key: str  # the execution or session id
    event: str
    data: str


@dataclass(frozen=True)
class Recorded:
    """One event of a stream with its number, as stored and published live."""

    stream: str
    key: str
    seq: int
    event: str
    data: str

    @property
    def channel(self) -> str:
        """The Redis channel live clients of this stream listen on."""
        return f"{self.stream}:{self.key}"

    def message(self) -> bytes:
        return msgspec.json.encode({"seq": self.seq, "event": self.event, "data": self.data})


def _json(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


def _visible(text: str) -> str:
    """PostgreSQL text cannot hold NUL: U+FFFD, as in the tables (the log keeps the original)."""
    return text.replace("\x00", "\ufffd")


def result_data(row: ExecutionRow) -> str:
    """The terminal row's columns, as the `executions` table stores them."""
    columns = row.columns()
    values = {name: columns[name] for name in EXECUTION_COLUMNS}
    return _json({k: _visible(v) if isinstance(v, str) else v for k, v in values.items()})


def execution_items(
    before: ExecutionRow | None, after: ExecutionRow, payload: events.Event
) -> list[Item]:
    """What one folded event tells the stream of its execution and of its session."""
    told: list[tuple[str, dict[str, Any]]] = []  # (event, fields) of the execution stream
    # Chunks of an attempt a later one replaced, or after the end, are stale.
    fresh = not after.terminal and getattr(payload, "attempt", None) == after.attempt
    if isinstance(payload, events.OutputChunk) and fresh:
        fields = {"stream": payload.stream, "attempt": payload.attempt}
        if payload.data:
            told.append(("output", {**fields, "data": _visible(payload.data)}))
        if payload.truncated:
            told.append(("truncated", fields))
    moved = (
        before is None
        or before.status != after.status
        or (after.status == events.RUNNING and before.attempt != after.attempt)
    )
    if moved:
        told.append(("status", {"status": after.status}))
    if after.terminal and (before is None or not before.terminal):
        told.append(("result", {}))
    items = [
        Item(EXECUTION, after.execution_id, event, _execution_data(event, fields, after))
        for event, fields in told
    ]
    if after.session_id is None:
        return items
    told_session = [for_session(item, after.session_id) for item in items]
    if before is not None and before.session_id is None:
        # Its request was read after other events of it: the session hears of all of them now.
        told_session.insert(0, Item(SESSION, after.session_id, CATCH_UP, after.execution_id))
    return items + told_session


def for_session(item: Item, session_id: str) -> Item:
    """An execution's stream event as its session's stream tells it: with `execution_id`."""
    if item.event == "result":
        data = item.data  # the row's columns: execution_id included
    elif item.event == "status":
        data = _json({"execution_id": item.key, "status": item.data})
    else:
        data = _json({"execution_id": item.key, **msgspec.json.decode(item.data)})
    return Item(SESSION, session_id, item.event, data)


def _execution_data(event: str, fields: dict[str, Any], row: ExecutionRow) -> str:
    if event == "status":
        return str(fields["status"])
    if event == "result":
        return result_data(row)
    return _json(fields)


def session_items(
    before: SessionRow | None, after: SessionRow | None, envelope: Envelope[events.Event]
) -> list[Item]:
    """A session event that became a revision (an autosave, the creation, the close)."""
    if after is None or (before is not None and before.revision == after.revision):
        return []
    data = {
        "revision": after.revision,
        "kind": envelope.type,
        "source_code": after.source_code,
        "files": after.files,
        "at": envelope.occurred_at,
    }
    return [Item(SESSION, after.session_id, "revision", _json(data))]


def numbered(items: list[Item], seqs: list[int]) -> list[Recorded]:
    """The items with the numbers their streams gave them (queries.WRITE_BATCH numbers and stores
    them after what each stream holds, in the caller's transaction: the numbers commit with the
    rows or not at all)."""
    return [
        Recorded(item.stream, item.key, seq, item.event, item.data)
        for item, seq in zip(items, seqs, strict=True)
    ]


async def catch_up(conn: Connection, items: list[Item]) -> list[Item]:
    """Each CATCH_UP becomes its execution's events so far: those stored, then those told
    earlier in this batch."""
    if not any(item.event == CATCH_UP for item in items):
        return items
    expanded: list[Item] = []
    for n, item in enumerate(items):
        if item.event != CATCH_UP:
            expanded.append(item)
            continue
        execution_id = item.data
        stored = [
            Item(EXECUTION, execution_id, r["event"], r["data"])
            for r in await conn.fetch(EXECUTION_SO_FAR, execution_id)
        ]
        earlier = [i for i in items[:n] if i.stream == EXECUTION and i.key == execution_id]
        expanded += [for_session(i, item.key) for i in stored + earlier]
    return expanded
