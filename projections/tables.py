"""The projection tables: load the rows a batch touches, fold the batch, write the rows back
(the sessions' here; the executions' with the rest of the batch, by the caller).

Runs inside the caller's transaction; NUL is stored as U+FFFD (PostgreSQL text cannot hold it;
the log keeps the original). A program's files are stored as a JSON object in a text column
(JSON escapes NUL, so they are kept whole).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from projections import queries, streams
from projections.fold import (
    EXECUTION_COLUMNS,
    JSON_COLUMNS,
    ExecutionRow,
    SessionRow,
    fold_execution,
    fold_session,
)
from schemas import Envelope, events

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


async def apply_sessions(
    conn: Connection, batch: list[Envelope[events.Event]], told: list[streams.Item]
) -> None:
    """Fold session events; what they tell the live streams is appended to `told`."""
    if not batch:
        return
    ids = list({e.key for e in batch})
    rows: dict[str, SessionRow | None] = {
        str(r["session_id"]): SessionRow(**_stringify_ids(r))
        for r in await conn.fetch(queries.SELECT_SESSIONS, ids)
    }
    before = dict(rows)
    revisions = []
    for envelope in batch:
        old = rows.get(envelope.key)
        new = rows[envelope.key] = fold_session(old, envelope.payload)
        told += streams.session_items(old, new, envelope)
        if new is not None and (old is None or new.revision != old.revision):
            revisions.append(
                (
                    new.session_id,
                    new.revision,
                    envelope.event_id,
                    envelope.type,
                    new.source_code,
                    envelope.occurred_at,
                    events.files_json(new.files),
                )
            )
    changed = [row for key, row in rows.items() if row is not None and row != before.get(key)]
    if changed:
        await conn.executemany(queries.UPSERT_SESSION, [db_values(row) for row in changed])
    if revisions:
        await conn.executemany(queries.INSERT_REVISION, revisions)


@dataclass
class ExecutionWrites:
    """What a batch's execution events write; the caller writes it with the rest of the batch,
    in one statement (queries.WRITE_BATCH)."""

    rows: list[ExecutionRow] = field(default_factory=list)  # the rows changed
    chunks: list[tuple[Any, ...]] = field(default_factory=list)  # `execution_output` rows
    dead: list[tuple[Any, ...]] = field(default_factory=list)  # `dead_letters` rows


async def fold_executions(
    conn: Connection,
    batch: list[Envelope[events.Event]],
    told: list[streams.Item],
    known: Mapping[str, ExecutionRow] | None = None,
) -> ExecutionWrites:
    """Load the rows of the batch's executions (but those in `known`, rows as stored) and fold
    its execution events into them; what they tell the live streams is appended to `told`,
    event by event, in the order folded."""
    writes = ExecutionWrites()
    if not batch:
        return writes
    known = known or {}
    keys = {e.key for e in batch}
    rows = {key: known[key] for key in keys if key in known}
    missing = [key for key in keys if key not in rows]
    for record in await conn.fetch(queries.SELECT_EXECUTIONS, missing) if missing else ():
        row = ExecutionRow.from_columns(_stringify_ids(record))
        rows[row.execution_id] = row
    before = dict(rows)
    for envelope in batch:
        payload = envelope.payload
        old = rows.get(envelope.key)
        new = rows[envelope.key] = fold_execution(old, payload)
        told += streams.execution_items(old, new, payload)
        if isinstance(payload, events.OutputChunk):
            writes.chunks.append(
                (
                    payload.execution_id,
                    payload.attempt,
                    payload.stream,
                    payload.seq,
                    payload.data.replace("\x00", "\ufffd"),
                )
            )
        elif isinstance(payload, events.DeadLettered):
            writes.dead.append(
                (
                    payload.execution_id,
                    payload.attempts,
                    payload.reason,
                    payload.dead_lettered_at,
                )
            )
    writes.rows = [row for key, row in rows.items() if row != before.get(key)]
    return writes


def executions_json(rows: list[ExecutionRow]) -> str:
    """The rows as one JSON array of objects, one key per column, as WRITE_BATCH takes them
    (`jsonb_populate_recordset`: each value becomes its column's type). The jsonb columns go in
    as JSON, not as strings of it; NUL, which jsonb cannot hold, as U+FFFD, as in the tables."""
    objects = []
    for row in rows:
        columns = row.columns()  # once: it builds every column (the outcome's, the JSON ones)
        objects.append({name: _column(name, columns[name]) for name in EXECUTION_COLUMNS})
    return msgspec.json.encode(objects).decode()


def _column(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS and value is not None:  # already JSON text, without NUL
        return msgspec.Raw(value.encode())
    return _without_nul(value)


def _without_nul(value: Any) -> Any:
    if isinstance(value, dict):  # the program's files: a JSON object in a text column
        return events.files_json(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):  # text[]
        return [_without_nul(v) for v in value]
    return value


def _stringify_ids(record: asyncpg.Record) -> dict[str, Any]:
    """Events carry ids as strings; the tables store uuid. Compare like with like. The files
    column's JSON is read back into the dict the rows hold."""
    return {
        k: str(v) if isinstance(v, uuid.UUID) else events.files_from_json(v) if k == "files" else v
        for k, v in record.items()
    }


def db_values(row: SessionRow) -> tuple[Any, ...]:
    """PostgreSQL text cannot hold NUL, which sources may hold: stored as U+FFFD (the log keeps it)."""
    return tuple(_without_nul(v) for v in astuple(row))
