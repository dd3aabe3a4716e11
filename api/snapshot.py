"""A run's logged request, rebuilt from its `executions` row (which the projection wrote from
the RunRequested): what a requeue runs again, and what a re-run copies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from schemas import events

T = TypeVar("T")


def files_of(row: asyncpg.Record) -> dict[str, str]:
    """A row's other files (sessions, session_revisions, executions: a JSON object, or NULL)."""
    return events.files_from_json(row["files"]) or {}


def from_json(row: asyncpg.Record | Mapping[str, Any], column: str, kind: type[T]) -> T | None:
    """A jsonb column (asyncpg reads it as JSON text) decoded, None for NULL."""
    text: Any = row[column]
    return None if text is None else msgspec.json.decode(text, type=kind)


def request_of(
    row: asyncpg.Record,
    execution_id: str,
    requested_at: datetime,
    traceparent: str | None,
    rerun_of: str | None = None,
) -> events.RunRequested:
    """The snapshot of `row` (code, stdin, arguments, limits, language and its version, test
    cases and their comparison, what a Judge0 submission asked for, and whether it is
    interactive: a re-run of an interactive run takes its input live again). A requeue keeps the
    run's callback; a re-run, a new execution someone else may ask for, does not."""
    judge0 = row.get("judge0")
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
        files=files_of(row),
        limits=events.RunLimits(time_limit_ms=row["time_limit_ms"], memory_mb=row["memory_mb"]),
        requested_at=requested_at,
        traceparent=traceparent,
        rerun_of=rerun_of,
        judge0=msgspec.json.decode(judge0, type=events.Judge0Attributes) if judge0 else None,
        interactive=bool(row["interactive"]),
        test_cases=from_json(row, "test_cases", list[events.Case]) or [],
        comparison=from_json(row, "comparison", events.Comparison),
        callback_url=row["callback_url"] if rerun_of is None else None,
    )
