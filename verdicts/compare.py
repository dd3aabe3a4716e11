"""Whether a program's output matches the expected output, in one of four modes.

- `exact`: the same characters.
- `trailing_whitespace` (the default): the same lines once each line has lost its trailing
  spaces, tabs and carriage returns, and the text its trailing empty lines: `"1 \\r\\n2\\n\\n"`
  matches `"1\\n2"`. Leading whitespace, and blank lines before the last non-blank one, count.
- `tokens`: the same sequence of whitespace-separated tokens (any amount of any whitespace).
- `float`: tokens as above; where both tokens are decimal numbers (`-1`, `2.50`, `.5`, `6e-3`)
  they match when `|actual - expected| <= absolute_tolerance` or
  `<= relative_tolerance * |expected|` (as doubles, allowing a few units in the last place for
  rounding); any other pair of tokens (`nan`, `inf`, words) must be identical.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum


class Mode(StrEnum):
    """How output is compared with the expected output (see the module's docstring)."""

    EXACT = "exact"
    TRAILING_WHITESPACE = "trailing_whitespace"
    TOKENS = "tokens"
    FLOAT = "float"


DEFAULT_MODE = Mode.TRAILING_WHITESPACE
DEFAULT_ABSOLUTE_TOLERANCE = 1e-6
DEFAULT_RELATIVE_TOLERANCE = 1e-6

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_TRAILING = " \t\r\f\v"
_ROUNDING_ULPS = 4  # doubles differing by this much at most are the same number


def tolerance_error(absolute: float, relative: float) -> str | None:
    """Why these tolerances cannot be used (negative, infinite, NaN), or None."""
    for name, value in (("absolute_tolerance", absolute), ("relative_tolerance", relative)):
        if not (math.isfinite(value) and value >= 0):
            return f"{name} must be a finite number >= 0, not {value!r}"
    return None


def matches(
    actual: str,
    expected: str,
    mode: Mode | str = DEFAULT_MODE,
    absolute_tolerance: float = DEFAULT_ABSOLUTE_TOLERANCE,
    relative_tolerance: float = DEFAULT_RELATIVE_TOLERANCE,
) -> bool:
    """True if `actual` matches `expected` in `mode`; ValueError for an unknown mode or a
    tolerance `tolerance_error` refuses."""
    mode = Mode(mode)
    problem = tolerance_error(absolute_tolerance, relative_tolerance)
    if problem is not None:
        raise ValueError(problem)
    if mode is Mode.EXACT:
        return actual == expected
    if mode is Mode.TRAILING_WHITESPACE:
        return _lines(actual) == _lines(expected)
    got, wanted = actual.split(), expected.split()
    if mode is Mode.TOKENS:
        return got == wanted
    return len(got) == len(wanted) and all(
        _close(a, e, absolute_tolerance, relative_tolerance)
        for a, e in zip(got, wanted, strict=True)
    )


def _lines(text: str) -> list[str]:
    lines = [line.rstrip(_TRAILING) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close(actual: str, expected: str, absolute: float, relative: float) -> bool:
    if actual == expected:
        return True
    if not (_NUMBER.fullmatch(actual) and _NUMBER.fullmatch(expected)):
        return False
    a, e = float(actual), float(expected)
    if not (math.isfinite(a) and math.isfinite(e)):  # 1e999: only the same text matches
        return False
    allowed = max(absolute, relative * abs(e))
    return abs(a - e) - allowed <= _ROUNDING_ULPS * math.ulp(max(abs(a), abs(e)))
