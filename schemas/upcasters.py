"""Upcasters turn the payload of an older event version into the next one, step by step.

Register one per (type, from_version). Version 1 is the first of every event today, so the
table is empty; `tests/unit/test_schemas.py` exercises the mechanism with a test-only upcaster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


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
