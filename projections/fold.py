"""Pure folds of events into rows. No I/O: the projector loads rows, folds a batch, writes them back.

The folds commute for events of one execution read from different topics: status only moves
forward (QUEUED < RUNNING < terminal), and each field is owned by the event that carries it, so a
replay that interleaves topics differently still gives identical rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import events

RANK = {"QUEUED": 0, "RUNNING": 1, "COMPLETED": 2, "FAILED": 2, "TIMEOUT": 2}
TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMEOUT"})


@dataclass
class SessionRow:
    """A row of `sessions`."""

    session_id: str
    language_id: str
    status: str
    source_code: str
    created_at: datetime
    updated_at: datetime


@dataclass
class ExecutionRow:
    """A row of `executions`; None where no event has told the field yet."""

    execution_id: str
    status: str = "QUEUED"
    session_id: str | None = None
    language_id: str | None = None
    language_key: str | None = None
    language_name: str | None = None
    language_version: str | None = None
    source_code: str | None = None
    stdin: str | None = None
    time_limit_ms: int | None = None
    memory_mb: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    compile_output: str | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    execution_time_ms: int | None = None
    compile_time_ms: int | None = None
    cpu_time_ms: int | None = None
    memory_peak_kb: int | None = None
    attempt: int = 0
    worker_id: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


EXECUTION_COLUMNS = tuple(f.name for f in dataclasses.fields(ExecutionRow))
SESSION_COLUMNS = tuple(f.name for f in dataclasses.fields(SessionRow))


def fold_session(row: SessionRow | None, event: events.Event) -> SessionRow | None:
    if isinstance(event, events.SessionCreated):
        if row is not None:
            return row  # a replayed duplicate
        return SessionRow(
            event.session_id,
            event.language_id,
            "ACTIVE",
            event.source_code,
            event.created_at,
            event.created_at,
        )
    if row is None:
        return None  # events of one session share a partition: created always comes first
    if isinstance(event, events.SessionCodeUpdated) and row.status == "ACTIVE":
        return dataclasses.replace(
            row, source_code=event.source_code, updated_at=max(row.updated_at, event.updated_at)
        )
    if isinstance(event, events.SessionClosed):
        return dataclasses.replace(
            row, status="INACTIVE", updated_at=max(row.updated_at, event.closed_at)
        )
    return row


def _advance(row: ExecutionRow, status: str, **fields: Any) -> ExecutionRow:
    """Move to `status` unless that would go backwards; a terminal row never changes again."""
    if row.terminal or RANK[status] < RANK[row.status]:
        return row
    return dataclasses.replace(row, status=status, **fields)


def fold_execution(row: ExecutionRow | None, event: events.Event) -> ExecutionRow:
    assert isinstance(event, events.ExecutionEvent)
    row = row or ExecutionRow(execution_id=event.execution_id)
    if isinstance(event, events.RunRequested):
        if row.queued_at is not None:
            return row
        return dataclasses.replace(
            row,
            session_id=event.session_id,
            language_id=event.language.id,
            language_key=event.language.key,
            language_name=event.language.name,
            language_version=event.language.version,
            source_code=event.source_code,
            stdin=event.stdin,
            time_limit_ms=event.limits.time_limit_ms,
            memory_mb=event.limits.memory_mb,
            queued_at=event.requested_at,
        )
    if isinstance(event, events.RunStarted):
        if row.terminal:
            # A dead letter (another topic) can be replayed before the attempts it ends: keep the
            # latest start of those attempts, as the live projection did, so the fold commutes.
            if event.attempt <= row.attempt and (
                row.started_at is None or event.started_at > row.started_at
            ):
                return dataclasses.replace(
                    row, worker_id=event.worker_id, started_at=event.started_at
                )
            return row
        if row.status == "RUNNING" and event.attempt <= row.attempt:
            return row
        return _advance(
            row,
            "RUNNING",
            attempt=event.attempt,
            worker_id=event.worker_id,
            started_at=event.started_at,
        )
    if isinstance(event, events.RunFinished):
        return _advance(
            row,
            event.status,
            attempt=event.attempt,
            worker_id=event.worker_id,
            error_code=event.error_code,
            exit_code=event.exit_code,
            signal=event.signal,
            stdout=event.stdout,
            stderr=event.stderr,
            compile_output=event.compile_output,
            stdout_truncated=event.stdout_truncated,
            stderr_truncated=event.stderr_truncated,
            execution_time_ms=event.execution_time_ms,
            compile_time_ms=event.compile_time_ms,
            cpu_time_ms=event.cpu_time_ms,
            memory_peak_kb=event.memory_peak_kb,
            started_at=event.started_at,
            finished_at=event.finished_at,
        )
    if isinstance(event, events.RunRejected):
        return _advance(
            row,
            "FAILED",
            error_code=event.error_code,
            error_message=event.reason,
            finished_at=event.rejected_at,
        )
    if isinstance(event, events.DeadLettered):
        return _advance(
            row,
            "FAILED",
            error_code="E005",
            error_message=event.reason,
            attempt=event.attempts,
            finished_at=event.dead_lettered_at,
        )
    return row  # RunAccepted, RetryScheduled, OutputChunk: no change to the row
