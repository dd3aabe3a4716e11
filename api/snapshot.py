"""A run's logged request, rebuilt from its `executions` row (which the projection wrote from
the RunRequested): what a requeue runs again, and what a re-run copies."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from schemas import events


def request_of(
    row: asyncpg.Record,
    execution_id: str,
    requested_at: datetime,
    traceparent: str | None,
    rerun_of: str | None = None,
) -> events.RunRequested:
    """The snapshot of `row` (code, stdin, arguments, limits, language and its version). A
    requeue keeps the run's callback; a re-run, a new execution someone else may ask for, does not."""
    return events.RunRequested(
        execution_id=execution_id,
        session_id=str(row["session_id"]),
        language=events.LanguageRef(
            id=str(row["language_id"]),
            key=row["language_key"],
            name=row["language_name"],
            version=row["language_version"],
        ),
        source_code=row["source_code"],
        stdin=row["stdin"],
        args=list(row["args"] or []),
        limits=events.RunLimits(time_limit_ms=row["time_limit_ms"], memory_mb=row["memory_mb"]),
        requested_at=requested_at,
        traceparent=traceparent,
        rerun_of=rerun_of,
        callback_url=row["callback_url"] if rerun_of is None else None,
    )
