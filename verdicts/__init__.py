"""Judging a program's output against the expected output: the comparison modes (`compare`) and
the verdict of each test case and of a whole run (`verdict`).

Pure functions, no I/O, and no import of the rest of runbox: another front end (a
Judge0-compatible API) can reuse them as they are.
"""

from __future__ import annotations

from verdicts.compare import (
    DEFAULT_ABSOLUTE_TOLERANCE,
    DEFAULT_MODE,
    DEFAULT_RELATIVE_TOLERANCE,
    Mode,
    matches,
    tolerance_error,
)
from verdicts.verdict import Verdict, deciding_index, overall, verdict_for

__all__ = [
    "DEFAULT_ABSOLUTE_TOLERANCE",
    "DEFAULT_MODE",
    "DEFAULT_RELATIVE_TOLERANCE",
    "Mode",
    "Verdict",
    "deciding_index",
    "matches",
    "overall",
    "tolerance_error",
    "verdict_for",
]
