"""Reads a settings dataclass from the environment: each field from its upper-cased name."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_PARSERS: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": lambda v: v.lower() in {"1", "true", "yes"},
}


def settings_from_env(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Build `cls` (a dataclass with `from __future__ import annotations`) from the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = env.get(spec.name.upper())
        if raw is not None:
            values[spec.name] = _PARSERS[str(spec.type)](raw)
    return cls(**values)
