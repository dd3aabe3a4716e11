"""The safety rules: a pure decision on a RunRequested, before anything runs.

The sandbox is the defence against hostile code; these rules refuse what no sandbox should be
asked to run at all: unknown languages, oversized inputs, limits outside the allowed range, and
(per deployment: off, warn or block) a loop that can never end.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from config.limits import RunPolicy
from processors.loops import find_infinite_loop
from sandbox.registry import registry
from schemas.events import RunAccepted, RunRejected, RunRequested
from verdicts import tolerance_error

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
            judge0=request.judge0,
        )
    warnings = []
    if loop_rule != "off":
        for name, source in _sources(request):
            loop = find_infinite_loop(request.language.key, source)
            if loop is None:
                continue
            message = loop.message if name is None else f"{loop.message} (in {name})"
            if loop_rule == "block":
                return RunRejected(
                    execution_id=request.execution_id,
                    reason=message,
                    rejected_at=now,
                    rule=loop.rule,
                    callback_url=request.callback_url,
                    judge0=request.judge0,
                )
            warnings.append(message)
            break
    return RunAccepted(
        execution_id=request.execution_id, attempt=1, request=request, warnings=warnings
    )


def _sources(request: RunRequested) -> Iterator[tuple[str | None, str]]:
    """The entry point (named None), then the program's other files of its language: those
    ending like the entry point or like the sources its compiler builds."""
    yield None, request.source_code
    language = registry().get(request.language.key)
    if language is None:
        return
    endings = (PurePosixPath(language.file_name).suffix, *language.sources)
    for name in sorted(request.files):
        if name.endswith(endings):
            yield name, request.files[name]


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
        files=request.files,
        entry_point=_entry_point(request.language.key),
        case_count=len(request.test_cases),
        case_bytes=request.test_case_bytes,
    )
    if broken is not None:
        return "limits", broken.message
    if request.comparison is not None:
        comparison = request.comparison
        problem = tolerance_error(comparison.absolute_tolerance, comparison.relative_tolerance)
        if problem is not None:
            return "limits", problem
    return None


def _entry_point(language: str) -> str | None:
    known = registry().get(language)
    return known.file_name if known is not None else None
