"""The API's reads of the projection tables: a small query module, named queries only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from api.errors import DependencyDown
from api.settings import ApiSettings
from projections.db import no_reset

SESSION = """
SELECT session_id, language_id, status, source_code, created_at, updated_at, revision, files
FROM sessions WHERE session_id = $1
"""
DEAD_LETTER_ENTRY = """
SELECT d.execution_id, d.attempts, d.reason, d.dead_lettered_at, e.*
FROM dead_letters d JOIN executions e USING (execution_id)
"""
DEAD_LETTER = DEAD_LETTER_ENTRY + " WHERE d.execution_id = $1"
DEAD_LETTERS = (
    DEAD_LETTER_ENTRY + " WHERE (d.dead_lettered_at, d.execution_id) < ($1, $2)"
    " ORDER BY d.dead_lettered_at DESC, d.execution_id DESC LIMIT $3"
)
STREAM_AFTER = (
    "SELECT seq, event, data FROM stream_events WHERE stream = $1 AND key = $2 AND seq > $3"
    " ORDER BY seq LIMIT $4"
)
STREAM_EVENT_AT = "SELECT event FROM stream_events WHERE stream = $1 AND key = $2 AND seq = $3"
REVISION = "SELECT event_id FROM session_revisions WHERE session_id = $1 AND revision = $2"
EXECUTION = "SELECT * FROM executions WHERE execution_id = $1"
EXECUTIONS = "SELECT * FROM executions WHERE execution_id = ANY($1::uuid[])"
SESSION_EXECUTIONS = """
SELECT execution_id, status, execution_time_ms, exit_code, queued_at
FROM executions WHERE session_id = $1 ORDER BY queued_at DESC NULLS LAST LIMIT $2
"""
HISTORY = """
SELECT topic, partition, "offset", event_id, type, version, occurred_at, payload
FROM execution_history WHERE execution_id = $1 ORDER BY occurred_at, topic, partition, "offset"
"""
REVISIONS = """
SELECT revision, event_id, kind, at, length(source_code) AS source_length
FROM session_revisions WHERE session_id = $1 ORDER BY revision
"""
REVISION_FULL = """
SELECT revision, event_id, kind, at, source_code, files
FROM session_revisions WHERE session_id = $1 AND revision = $2
"""


class Database:
    """A connection pool created lazily, so PostgreSQL being down is a fast 503, not a failed start."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncio.wait_for(
                        asyncpg.create_pool(
                            self.settings.database_url,
                            min_size=2,
                            max_size=10,
                            command_timeout=self.settings.dependency_timeout_s,
                            reset=no_reset,
                        ),
                        self.settings.dependency_timeout_s,
                    )
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    raise DependencyDown("PostgreSQL is unavailable", service="postgres") from exc
        return self._pool

    async def start(self) -> None:
        with contextlib.suppress(DependencyDown):
            await self.pool()

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        rows = await self.fetch(query, *args)
        return rows[0] if rows else None

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self.pool()
        try:
            async with asyncio.timeout(self.settings.dependency_timeout_s):
                return await pool.fetch(query, *args)
        except (
            OSError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            TimeoutError,
        ) as exc:
            raise DependencyDown("PostgreSQL is unavailable", service="postgres") from exc

    async def session(self, session_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.fetchrow(SESSION, session_id)

    async def revision(self, session_id: uuid.UUID, revision: int) -> uuid.UUID | None:
        """The event that made `revision` of the session, once projected."""
        row = await self.fetchrow(REVISION, session_id, revision)
        return row["event_id"] if row is not None else None

    async def dead_letter(self, execution_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.fetchrow(DEAD_LETTER, execution_id)

    async def dead_letters(
        self, before: datetime, execution_id: uuid.UUID, limit: int
    ) -> list[asyncpg.Record]:
        return await self.fetch(DEAD_LETTERS, before, execution_id, limit)

    async def execution(self, execution_id: uuid.UUID) -> asyncpg.Record | None:
        return await self.fetchrow(EXECUTION, execution_id)

    async def executions(self, execution_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
        return await self.fetch(EXECUTIONS, execution_ids)

    async def session_executions(self, session_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
        return await self.fetch(SESSION_EXECUTIONS, session_id, limit)

    async def stream_after(
        self, stream: str, key: uuid.UUID, after: int, limit: int
    ) -> list[asyncpg.Record]:
        """The recorded events of a live stream numbered after `after`, in order."""
        return await self.fetch(STREAM_AFTER, stream, key, after, limit)

    async def stream_event_at(self, stream: str, key: uuid.UUID, seq: int) -> str | None:
        row = await self.fetchrow(STREAM_EVENT_AT, stream, key, seq)
        return str(row["event"]) if row is not None else None

    async def history(self, execution_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.fetch(HISTORY, execution_id)

    async def revisions(self, session_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.fetch(REVISIONS, session_id)

    async def revision_with_code(
        self, session_id: uuid.UUID, revision: int
    ) -> asyncpg.Record | None:
        return await self.fetchrow(REVISION_FULL, session_id, revision)
