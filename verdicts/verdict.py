"""The verdict of one test case, from how its run ended and whether its output matched, and the
verdict of a whole run: accepted if every case is, else the first case's that is not."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Verdict(StrEnum):
    """What a test case (or a run, over all its cases) came to."""

    ACCEPTED = "ACCEPTED"
    WRONG_ANSWER = "WRONG_ANSWER"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    COMPILATION_ERROR = "COMPILATION_ERROR"


# runbox's error codes of a program's own failures (README); E005 (ours) and E006 (refused
# before running) say nothing about the program's answer.
_BY_ERROR_CODE = {
    "E001": Verdict.COMPILATION_ERROR,
    "E002": Verdict.RUNTIME_ERROR,
    "E003": Verdict.MEMORY_LIMIT_EXCEEDED,
    "E004": Verdict.TIME_LIMIT_EXCEEDED,
}


def verdict_for(error_code: str | None, output_matches: bool) -> Verdict:
    """A case's verdict: its run's error code decides (None: the program exited 0), then whether
    its output matched. ValueError for E005 and E006, which are no verdict on the program."""
    if error_code is None:
        return Verdict.ACCEPTED if output_matches else Verdict.WRONG_ANSWER
    try:
        return _BY_ERROR_CODE[error_code]
    except KeyError:
        raise ValueError(f"{error_code} is no verdict on the program") from None


def deciding_index(verdicts: Sequence[Verdict]) -> int:
    """The case that decides a run's verdict: the first one not accepted, else the last one.
    ValueError for no cases."""
    if not verdicts:
        raise ValueError("no test cases")
    for index, verdict in enumerate(verdicts):
        if verdict is not Verdict.ACCEPTED:
            return index
    return len(verdicts) - 1


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    """ACCEPTED when every case is; else the verdict of the first case that is not."""
    return verdicts[deciding_index(verdicts)]
