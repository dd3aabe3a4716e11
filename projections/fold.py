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

import msgspec

from schemas import events

# Bump when a change here changes rows already written: the projector then rebuilds the tables
# from the log at start (projections.migrate.ensure_fold_version). 2: RunFinished v2, Outcome;
# 3: terminal rows never change (but by a requeue), dead letters carry their attempt's start;
# 4: Outcome.warnings; 5: args; 6: execution_history, rerun_of; 7: Outcome read and written
# bytes, context switches; 8: files; 9: Outcome.invalid_utf8, RunRequested.judge0; 10:
# stream_events; 11: interactive; 12: test cases; 13:
# callback_url; 14: RunFinished.judge0, RunRejected.judge0.
FOLD_VERSION = 14

RANK = {events.QUEUED: 0, events.RUNNING: 1} | dict.fromkeys(events.TERMINAL, 2)


@dataclass
class SessionRow:
    """A row of `sessions`."""

    session_id: str
    language_id: str
    status: str
    source_code: str
    created_at: datetime
    updated_at: datetime
    revision: int = 1  # applied session events; an update names the revision it expects
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # besides the entry point


@dataclass
class ExecutionRow:
    """A row of `executions`; None where no event has told the field yet.

    The outcome of the last attempt is `events.Outcome`, stored one column per field (its
    `status` is the row's own): `EXECUTION_COLUMNS` is derived from both declarations.
    """

    execution_id: str
    status: str = events.QUEUED
    session_id: str | None = None
    language_id: str | None = None
    language_key: str | None = None
    language_name: str | None = None
    language_version: str | None = None
    source_code: str | None = None
    stdin: str | None = None
    time_limit_ms: int | None = None
    memory_mb: int | None = None
    args: list[str] | None = None
    files: dict[str, str] | None = None
    error_message: str | None = None
    attempt: int = 0
    worker_id: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rerun_of: str | None = None  # the execution this one re-ran (POST /executions/{id}/rerun)
    judge0: str | None = None  # RunRequested.judge0 as JSON (api/compat/judge0.py reads it)
    interactive: bool | None = None  # stdin also comes live, over GET /executions/{id}/ws
    test_cases: list[events.Case] | None = None  # None: a run without test cases
    comparison: events.Comparison | None = None
    callback_url: str | None = None  # where its result is POSTed (callbacks/); not in answers
    outcome: events.Outcome | None = None

    @property
    def terminal(self) -> bool:
        return self.status in events.TERMINAL

    def columns(self) -> dict[str, Any]:
        """The row as the table stores it: one column per field, the outcome's flattened."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        outcome = values.pop("outcome")
        for name in OUTCOME_COLUMNS:
            values[name] = getattr(outcome, name) if outcome is not None else None
        for name in JSON_COLUMNS:
            values[name] = to_json(values[name])
        return values

    @classmethod
    def from_columns(cls, values: dict[str, Any]) -> ExecutionRow:
        values = {**values, **{n: from_json(values[n], kind) for n, kind in JSON_COLUMNS.items()}}
        outcome = None
        if values["status"] in events.TERMINAL:
            outcome = events.Outcome(
                status=values["status"], **{name: values[name] for name in OUTCOME_COLUMNS}
            )
        return cls(**{name: values[name] for name in ROW_FIELDS}, outcome=outcome)


ROW_FIELDS = tuple(f.name for f in dataclasses.fields(ExecutionRow) if f.name != "outcome")
OUTCOME_COLUMNS = tuple(
    f.name for f in msgspec.structs.fields(events.Outcome) if f.name != "status"
)
EXECUTION_COLUMNS = ROW_FIELDS + OUTCOME_COLUMNS
# Stored as jsonb (asyncpg reads and writes it as JSON text): the test cases and their results.
JSON_COLUMNS: dict[str, Any] = {
    "test_cases": list[events.Case] | None,
    "comparison": events.Comparison | None,
    "test_results": events.Judgement | None,
}


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> str | None:
    """A jsonb column's text; NUL as U+FFFD, as in the text columns (jsonb cannot hold \\u0000)."""
    if value is None:
        return None
    return msgspec.json.encode(_without_nul(msgspec.to_builtins(value))).decode()


def from_json(text: str | None, kind: Any) -> Any:
    return None if text is None else msgspec.json.decode(text, type=kind)


SESSION_COLUMNS = tuple(f.name for f in dataclasses.fields(SessionRow))


SESSION_CHANGES = (
    events.SessionCodeUpdated,
    events.SessionFileSaved,
    events.SessionFileDeleted,
    events.SessionClosed,
)


def fold_session(row: SessionRow | None, event: events.Event) -> SessionRow | None:
    """A session event applies only at the revision its writer read (optimistic concurrency);
    one that lost a race changes nothing, and the API tells its writer so (409)."""
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
            files=dict(event.files),
        )
    if row is None:
        return None  # events of one session share a partition: created always comes first
    if not isinstance(event, SESSION_CHANGES):
        return row
    if row.status != "ACTIVE" or event.expected_revision not in (None, row.revision):
        return row
    if isinstance(event, events.SessionCodeUpdated):
        return dataclasses.replace(
            row,
            source_code=event.source_code,
            files=row.files if event.files is None else dict(event.files),
            updated_at=max(row.updated_at, event.updated_at),
            revision=row.revision + 1,
        )
    if isinstance(event, events.SessionFileSaved):
        return dataclasses.replace(
            row,
            files={**row.files, event.path: event.content},
            updated_at=max(row.updated_at, event.updated_at),
            revision=row.revision + 1,
        )
    if isinstance(event, events.SessionFileDeleted):
        return dataclasses.replace(
            row,
            files={k: v for k, v in row.files.items() if k != event.path},
            updated_at=max(row.updated_at, event.deleted_at),
            revision=row.revision + 1,
        )
    return dataclasses.replace(
        row,
        status="INACTIVE",
        updated_at=max(row.updated_at, event.closed_at),
        revision=row.revision + 1,
    )


def _advance(row: ExecutionRow, status: str, **fields: Any) -> ExecutionRow:
    """Move to `status` unless that would go backwards; a terminal row never changes again."""
    if row.terminal or RANK[status] < RANK[row.status]:
        return row
    return dataclasses.replace(row, status=status, **fields)


def _snapshot(row: ExecutionRow, request: events.RunRequested) -> ExecutionRow:
    """The request's snapshot, from whichever event carrying it is read first (all carry the
    same one: RunRequested, and the request inside a dead letter)."""
    if row.queued_at is not None:
        return row
    return dataclasses.replace(
        row,
        session_id=request.session_id,
        language_id=request.language.id,
        language_key=request.language.key,
        language_name=request.language.name,
        language_version=request.language.version,
        source_code=request.source_code,
        stdin=request.stdin,
        time_limit_ms=request.limits.time_limit_ms,
        memory_mb=request.limits.memory_mb,
        args=request.args,
        files=request.files,
        queued_at=request.requested_at,
        rerun_of=request.rerun_of,
        judge0=msgspec.json.encode(request.judge0).decode() if request.judge0 else None,
        interactive=request.interactive,
        test_cases=request.test_cases or None,
        comparison=request.comparison,
        callback_url=request.callback_url,
    )


def fold_execution(row: ExecutionRow | None, event: events.Event) -> ExecutionRow:
    assert isinstance(event, events.ExecutionEvent)
    row = row or ExecutionRow(execution_id=event.execution_id)
    if isinstance(event, events.RunRequested):
        return _snapshot(row, event)
    if isinstance(event, events.RunRequeued):
        if event.attempt <= row.attempt:
            return row  # a duplicate, or a requeue an even later attempt has passed
        return dataclasses.replace(
            row,
            status=events.QUEUED,
            attempt=event.attempt,
            worker_id=None,
            started_at=None,
            finished_at=None,
            error_message=None,
            outcome=None,
        )
    attempt = getattr(event, "attempt", getattr(event, "attempts", None))
    if attempt is not None and attempt < row.attempt:
        return row  # an attempt that a later one (a retry, a requeue) has replaced
    if isinstance(event, events.RunStarted):
        if row.status == events.RUNNING and event.attempt <= row.attempt:
            return row
        return _advance(
            row,
            events.RUNNING,
            attempt=event.attempt,
            worker_id=event.worker_id,
            started_at=event.started_at,
        )
    if isinstance(event, events.RunFinished):
        return _advance(
            row,
            event.outcome.status,
            attempt=event.attempt,
            worker_id=event.worker_id,
            started_at=event.started_at,
            finished_at=event.finished_at,
            outcome=event.outcome,
        )
    if isinstance(event, events.RunRejected):
        return _advance(
            row,
            "FAILED",
            error_message=event.reason,
            finished_at=event.rejected_at,
            outcome=events.Outcome(status="FAILED", error_code=event.error_code),
        )
    if isinstance(event, events.DeadLettered):
        # Whole by itself: the RunStarted events of its attempts may be read after it.
        return _advance(
            _snapshot(row, event.request),
            "FAILED",
            error_message=event.reason,
            attempt=event.attempts,
            worker_id=event.worker_id,
            started_at=event.started_at,
            finished_at=event.dead_lettered_at,
            outcome=events.Outcome(status="FAILED", error_code="E005"),
        )
    return row  # RunAccepted, RetryScheduled, OutputChunk, Stdin*: no change to the row
