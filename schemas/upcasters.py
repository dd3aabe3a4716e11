"""Upcasters turn the payload of an older event version into the next one, step by step.

Register one per (type, from_version). The field lists here are history: they describe what an
old version looked like and never change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

# RunFinished v1 carried the outcome's fields inline; v2 nests them in `outcome`.
_RUN_FINISHED_V1_OUTCOME = (
    "status", "error_code", "exit_code", "signal", "stdout", "stderr", "compile_output",
    "stdout_truncated", "stderr_truncated", "execution_time_ms", "compile_time_ms",
    "cpu_time_ms", "memory_peak_kb",
)  # fmt: skip


def _run_finished_v1(payload: Payload) -> Payload:
    rest = {k: v for k, v in payload.items() if k not in _RUN_FINISHED_V1_OUTCOME}
    outcome = {k: payload[k] for k in _RUN_FINISHED_V1_OUTCOME if k in payload}
    return {**rest, "outcome": outcome}


UPCASTERS: dict[tuple[str, int], Upcaster] = {("RunFinished", 1): _run_finished_v1}


def upcast(
    event_type: str,
    version: int,
    target: int,
    payload: Payload,
    table: dict[tuple[str, int], Upcaster] | None = None,
) -> Payload:
    """Apply upcasters from `version` up to `target`; raise KeyError where a step is missing."""
    steps = UPCASTERS if table is None else table
    while version < target:
        payload = steps[(event_type, version)](payload)
        version += 1
    return payload
