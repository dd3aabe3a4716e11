"""The projection tables: load the rows a batch touches, fold the batch, write the rows back.

Runs inside the caller's transaction; NUL is stored as U+FFFD (PostgreSQL text cannot hold it;
the log keeps the original). A program's files are stored as a JSON object in a text column
(JSON escapes NUL, so they are kept whole).
"""

from __future__ import annotations

import uuid
from dataclasses import astuple
from typing import TYPE_CHECKING, Any

import asyncpg

from projections import queries, streams
from projections.fold import (
    EXECUTION_COLUMNS,
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


async def apply_executions(
    conn: Connection,
    batch: list[Envelope[events.Event]],
    told: list[streams.Item],
    chunks: list[tuple[Any, ...]],
) -> list[ExecutionRow]:
    """Fold execution events; the rows changed. What they tell the live streams is appended to
    `told`, event by event, in the order they were folded; their output chunks, as
    `execution_output` rows, to `chunks` (the caller writes them with the rest of the batch)."""
    if not batch:
        return []
    ids = list({e.key for e in batch})
    rows: dict[str, ExecutionRow] = {}
    for record in await conn.fetch(queries.SELECT_EXECUTIONS, ids):
        row = ExecutionRow.from_columns(_stringify_ids(record))
        rows[row.execution_id] = row
    before = dict(rows)
    dead = []
    for envelope in batch:
        payload = envelope.payload
        old = rows.get(envelope.key)
        new = rows[envelope.key] = fold_execution(old, payload)
        told += streams.execution_items(old, new, payload)
        if isinstance(payload, events.OutputChunk):
            chunks.append(
                (
                    payload.execution_id,
                    payload.attempt,
                    payload.stream,
                    payload.seq,
                    payload.data.replace("\x00", "\ufffd"),
                )
            )
        elif isinstance(payload, events.DeadLettered):
            dead.append(
                (
                    payload.execution_id,
                    payload.attempts,
                    payload.reason,
                    payload.dead_lettered_at,
                )
            )
    changed = [row for key, row in rows.items() if row != before.get(key)]
    if changed:
        await conn.executemany(queries.UPSERT_EXECUTION, [db_values(row) for row in changed])
    if dead:
        await conn.executemany(queries.INSERT_DEAD_LETTER, dead)
    return changed


def _stringify_ids(record: asyncpg.Record) -> dict[str, Any]:
    """Events carry ids as strings; the tables store uuid. Compare like with like. The files
    column's JSON is read back into the dict the rows hold."""
    return {
        k: str(v) if isinstance(v, uuid.UUID) else events.files_from_json(v) if k == "files" else v
        for k, v in record.items()
    }


def db_values(row: ExecutionRow | SessionRow) -> tuple[Any, ...]:
    """PostgreSQL text cannot hold NUL, which programs may print: stored as U+FFFD (the log keeps it)."""
    if isinstance(row, ExecutionRow):
        columns = row.columns()  # once: it builds every column (the outcome's, the JSON ones)
        values = [columns[name] for name in EXECUTION_COLUMNS]
    else:
        values = list(astuple(row))
    return tuple(
        events.files_json(v)
        if isinstance(v, dict)
        else v.replace("\x00", "\ufffd")
        if isinstance(v, str) and "\x00" in v
        else v
        for v in values
    )
