"""Comparison modes and verdicts (verdicts/): what a judge accepts and what it refuses."""

from __future__ import annotations

import math

import pytest

from verdicts import Mode, Verdict, deciding_index, matches, overall, verdict_for


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("1 2\n", "1 2\n", True),
        ("1 2\n", "1 2", False),  # the newline is a character like any other
        ("1 2 \n", "1 2\n", False),
        ("1\r\n", "1\n", False),
        ("", "", True),
    ],
)
def test_exact(actual: str, expected: str, result: bool) -> None:
    assert matches(actual, expected, Mode.EXACT) is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("1 2\n3\n", "1 2\n3\n", True),
        ("1 2  \n3\t\n", "1 2\n3", True),  # trailing spaces and tabs of each line
        ("1 2\r\n3\r\n", "1 2\n3\n", True),  # Windows line ends
        ("1\n2\n\n\n", "1\n2", True),  # trailing newlines
        ("1\n2\n \n\t\n", "1\n2\n", True),  # trailing lines of whitespace only
        ("", "\n\n", True),
        (" 1\n2\n", "1\n2\n", False),  # leading whitespace counts
        ("1\n\n2\n", "1\n2\n", False),  # a blank line inside counts
        ("1 2\n", "1  2\n", False),  # whitespace inside a line counts
        ("12\n", "1\n2\n", False),
        ("1\n2\n", "1\n2\n3\n", False),
    ],
)
def test_trailing_whitespace_is_the_default(actual: str, expected: str, result: bool) -> None:
    assert matches(actual, expected) is result
    assert matches(actual, expected, "trailing_whitespace") is result


@pytest.mark.parametrize(
    ("actual", "expected", "result"),
    [
        ("1 2 3", "1\n2\n3\n", True),
        ("  1\t\t2\n\n3  ", "1 2 3", True),
        ("", " \n ", True),
        ("1 2", "1 2 3", False),
        ("1.0", "1", False),  # tokens are text
        ("a b", "b a", False),
    ],
)
def test_tokens(actual: str, expected: str, result: bool) -> None:
    assert matches(actual, expected, Mode.TOKENS) is result


@pytest.mark.parametrize(
    ("actual", "expected", "absolute", "relative", "result"),
    [
        ("3.1415927", "3.14159265", 1e-6, 0.0, True),
        ("3.1416", "3.14159265", 1e-6, 0.0, False),
        ("1.1", "1.0", 0.1, 0.0, True),  # at the bound exactly (1.1 - 1.0 is 0.10000000000000009)
        ("1.2", "1.0", 0.1, 0.0, False),
        ("1000001", "1000000", 0.0, 1e-6, True),  # relative to the expected value
        ("1000002", "1000000", 0.0, 1e-6, False),
        ("1e6", "1000000.0", 0.0, 0.0, True),  # the same number written otherwise
        ("-0", "0", 0.0, 0.0, True),
        (".5", "0.50", 0.0, 0.0, True),
        ("0.30000000000000004", "0.3", 0.0, 0.0, True),  # rounding of doubles
        ("0.3001", "0.3", 0.0, 0.0, False),
        ("2 x 3.0", "2.0000001 x 3", 1e-6, 0.0, True),  # words must be identical
        ("2 y 3.0", "2 x 3", 1e-6, 0.0, False),
        ("1 2", "1 2 3", 1.0, 1.0, False),
        ("nan", "nan", 0.0, 0.0, True),  # only the same text
        ("nan", "1", 1e300, 1e300, False),
        ("inf", "1e999", 1e300, 1e300, False),
        ("0x10", "16", 0.0, 0.0, False),  # not decimal
        ("1_000", "1000", 0.0, 0.0, False),
    ],
)
def test_floats_within_a_tolerance(
    actual: str, expected: str, absolute: float, relative: float, result: bool
) -> None:
    assert matches(actual, expected, Mode.FLOAT, absolute, relative) is result


def test_float_default_tolerance_is_one_millionth() -> None:
    assert matches("0.1234565", "0.123456", "float")
    assert not matches("0.123458", "0.123456", "float")


@pytest.mark.parametrize("bad", [-1e-9, math.inf, math.nan])
def test_unusable_tolerances_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        matches("1", "1", Mode.FLOAT, absolute_tolerance=bad)
    with pytest.raises(ValueError, match="tolerance"):
        matches("1", "1", Mode.FLOAT, relative_tolerance=bad)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="nearly"):
        matches("1", "1", "nearly")


@pytest.mark.parametrize(
    ("error_code", "output_matches", "verdict"),
    [
        (None, True, Verdict.ACCEPTED),
        (None, False, Verdict.WRONG_ANSWER),
        ("E001", False, Verdict.COMPILATION_ERROR),
        ("E002", True, Verdict.RUNTIME_ERROR),  # right output, but it crashed
        ("E003", False, Verdict.MEMORY_LIMIT_EXCEEDED),
        ("E004", True, Verdict.TIME_LIMIT_EXCEEDED),
    ],
)
def test_a_case_verdict_comes_from_the_run_then_the_output(
    error_code: str | None, output_matches: bool, verdict: Verdict
) -> None:
    assert verdict_for(error_code, output_matches) is verdict


@pytest.mark.parametrize("error_code", ["E005", "E006"])
def test_failures_of_ours_and_refusals_are_no_verdict(error_code: str) -> None:
    with pytest.raises(ValueError, match=error_code):
        verdict_for(error_code, True)


def test_a_run_is_accepted_only_if_every_case_is() -> None:
    a, wa, tle = Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.TIME_LIMIT_EXCEEDED
    assert (overall([a, a, a]), deciding_index([a, a, a])) == (a, 2)
    assert (overall([a, tle, wa]), deciding_index([a, tle, wa])) == (tle, 1)
    assert (overall([wa]), deciding_index([wa])) == (wa, 0)
    with pytest.raises(ValueError, match="no test cases"):
        overall([])
