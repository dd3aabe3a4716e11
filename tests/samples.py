"""Valid sample events for tests, built in one place; tests change only what they are about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from schemas import events

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def run_requested(execution_id: str | None = None, **changes: Any) -> events.RunRequested:
    request = events.RunRequested(
        execution_id=execution_id or str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        language=events.LanguageRef(
            id=str(uuid.uuid4()), key="python", name="Python 3", version="3.11"
        ),
        source_code="print(1)",
        stdin="",
        limits=events.RunLimits(time_limit_ms=1000, memory_mb=64),
        requested_at=T0,
    )
    return msgspec.structs.replace(request, **changes)


def run_finished(execution_id: str, **changes: Any) -> events.RunFinished:
    """A RunFinished; `changes` may name fields of the event or of its outcome."""
    outcome_fields = {f.name for f in msgspec.structs.fields(events.Outcome)}
    outcome = events.Outcome(
        status="COMPLETED",
        error_code=None,
        exit_code=0,
        signal=None,
        stdout="1\n",
        stderr="",
        compile_output="",
        stdout_truncated=False,
        stderr_truncated=False,
        execution_time_ms=20,
        compile_time_ms=None,
        cpu_time_ms=15,
        memory_peak_kb=8000,
    )
    outcome = msgspec.structs.replace(
        outcome, **{k: v for k, v in changes.items() if k in outcome_fields}
    )
    return events.RunFinished(
        execution_id=execution_id,
        attempt=changes.get("attempt", 1),
        worker_id=changes.get("worker_id", "w1"),
        started_at=changes.get("started_at", T0 + timedelta(seconds=1)),
        finished_at=changes.get("finished_at", T0 + timedelta(seconds=2)),
        outcome=outcome,
    )
