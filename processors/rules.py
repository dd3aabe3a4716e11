"""The safety rules: a pure decision on a RunRequested, before anything runs.

The sandbox is the defence against hostile code; these rules refuse what no sandbox should be
asked to run at all: unknown languages, oversized inputs, limits outside the allowed range.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from processors.settings import ProcessorSettings
from schemas.events import RunAccepted, RunRejected, RunRequested


def check(
    request: RunRequested, languages: Collection[str], settings: ProcessorSettings, now: datetime
) -> RunAccepted | RunRejected:
    reason = _violation(request, languages, settings)
    if reason is not None:
        return RunRejected(execution_id=request.execution_id, reason=reason, rejected_at=now)
    return RunAccepted(execution_id=request.execution_id, attempt=1, request=request)


def _violation(
    request: RunRequested, languages: Collection[str], settings: ProcessorSettings
) -> str | None:
    if request.language.key not in languages:
        return f"language {request.language.name!r} is not available on this engine"
    if len(request.source_code.encode()) > settings.max_source_bytes:
        return f"source code is larger than {settings.max_source_bytes} bytes"
    if len(request.stdin.encode()) > settings.max_stdin_bytes:
        return f"stdin is larger than {settings.max_stdin_bytes} bytes"
    if not settings.min_time_limit_ms <= request.limits.time_limit_ms <= settings.max_time_limit_ms:
        return f"time limit {request.limits.time_limit_ms} ms is outside the allowed range"
    if not settings.min_memory_mb <= request.limits.memory_mb <= settings.max_memory_mb:
        return f"memory limit {request.limits.memory_mb} MB is outside the allowed range"
    if "\x00" in request.source_code:
        return "source code contains a NUL byte"
    return None
