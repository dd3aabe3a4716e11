"""The safety rules: a pure decision on a RunRequested, before anything runs.

The sandbox is the defence against hostile code; these rules refuse what no sandbox should be
asked to run at all: unknown languages, oversized inputs, limits outside the allowed range, and
(per deployment: off, warn or block) a loop that can never end.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Literal

from config.limits import RunPolicy
from processors.loops import find_infinite_loop
from schemas.events import RunAccepted, RunRejected, RunRequested

LoopRule = Literal["off", "warn", "block"]


def check(
    request: RunRequested,
    languages: Collection[str],
    policy: RunPolicy,
    now: datetime,
    loop_rule: LoopRule = "block",
) -> RunAccepted | RunRejected:
    broken = _violation(request, languages, policy)
    if broken is not None:
        rule, reason = broken
        return RunRejected(
            execution_id=request.execution_id,
            reason=reason,
            rejected_at=now,
            rule=rule,
            callback_url=request.callback_url,
        )
    warnings = []
    if loop_rule != "off":
        loop = find_infinite_loop(request.language.key, request.source_code)
        if loop is not None and loop_rule == "block":
            return RunRejected(
                execution_id=request.execution_id,
                reason=loop.message,
                rejected_at=now,
                rule=loop.rule,
                callback_url=request.callback_url,
            )
        if loop is not None:
            warnings.append(loop.message)
    return RunAccepted(
        execution_id=request.execution_id, attempt=1, request=request, warnings=warnings
    )


def _violation(
    request: RunRequested, languages: Collection[str], policy: RunPolicy
) -> tuple[str, str] | None:
    if request.language.key not in languages:
        return "language", f"language {request.language.name!r} is not available on this engine"
    if "\x00" in request.source_code:
        return "limits", "source code contains a NUL byte"
    broken = policy.violation(
        time_limit_ms=request.limits.time_limit_ms,
        memory_mb=request.limits.memory_mb,
        source_bytes=len(request.source_code.encode()),
        stdin_bytes=len(request.stdin.encode()),
        args=request.args,
    )
    return ("limits", broken.message) if broken is not None else None
