"""The safety rules: a pure decision on a RunRequested, before anything runs.

The sandbox is the defence against hostile code; these rules refuse what no sandbox should be
asked to run at all: unknown languages, oversized inputs, limits outside the allowed range.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from config.limits import RunPolicy
from schemas.events import RunAccepted, RunRejected, RunRequested


def check(
    request: RunRequested, languages: Collection[str], policy: RunPolicy, now: datetime
) -> RunAccepted | RunRejected:
    reason = _violation(request, languages, policy)
    if reason is not None:
        return RunRejected(execution_id=request.execution_id, reason=reason, rejected_at=now)
    return RunAccepted(execution_id=request.execution_id, attempt=1, request=request)


def _violation(request: RunRequested, languages: Collection[str], policy: RunPolicy) -> str | None:
    if request.language.key not in languages:
        return f"language {request.language.name!r} is not available on this engine"
    if "\x00" in request.source_code:
        return "source code contains a NUL byte"
    broken = policy.violation(
        time_limit_ms=request.limits.time_limit_ms,
        memory_mb=request.limits.memory_mb,
        source_bytes=len(request.source_code.encode()),
        stdin_bytes=len(request.stdin.encode()),
    )
    return broken.message if broken is not None else None
