"""Judging a run's test cases in the executor (processors/judging.py), without a sandbox."""

from __future__ import annotations

import dataclasses

from processors.judging import judge_case, judgement, not_compiled, summary
from sandbox import ErrorCode, Result, Status
from schemas import events
from verdicts import Mode, Verdict

DEFAULT = events.Comparison()


def ran(stdout: str = "", status: Status = Status.COMPLETED, code: ErrorCode | None = None,
        **changes: object) -> Result:  # fmt: skip
    base = Result(
        status=status, error_code=code, exit_code=0 if code is None else 1, signal=None,
        stdout=stdout, stderr="", compile_output="cc warning", stdout_truncated=False,
        stderr_truncated=False, execution_time_ms=10, compile_time_ms=300, cpu_time_ms=8,
        memory_peak_kb=1000,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def case(expected: str) -> events.Case:
    return events.Case(stdin="", expected_output=expected)


def test_right_and_wrong_answers_by_the_default_comparison() -> None:
    right = judge_case(ran("42  \n\n"), case("42"), DEFAULT, 1024, 1024)
    assert (right.verdict, right.status, right.stdout) == (
        Verdict.ACCEPTED,
        "COMPLETED",
        "42  \n\n",
    )
    wrong = judge_case(ran("43\n"), case("42"), DEFAULT, 1024, 1024)
    assert wrong.verdict is Verdict.WRONG_ANSWER


def test_the_run_decides_before_the_output() -> None:
    crashed = ran("42\n", Status.FAILED, ErrorCode.RUNTIME, signal=11, exit_code=None)
    judged = judge_case(crashed, case("42"), DEFAULT, 1024, 1024)
    assert (judged.verdict, judged.error_code, judged.signal) == (Verdict.RUNTIME_ERROR, "E002", 11)
    slow = judge_case(ran("42\n", Status.TIMEOUT, ErrorCode.TIME), case("42"), DEFAULT, 99, 99)
    assert slow.verdict is Verdict.TIME_LIMIT_EXCEEDED
    hog = judge_case(ran("", Status.FAILED, ErrorCode.MEMORY), case(""), DEFAULT, 99, 99)
    assert hog.verdict is Verdict.MEMORY_LIMIT_EXCEEDED


def test_the_comparison_of_the_run_is_used() -> None:
    floats = events.Comparison(mode=Mode.FLOAT, absolute_tolerance=0.01)
    assert judge_case(ran("3.14\n"), case("3.1416"), floats, 99, 99).verdict is Verdict.ACCEPTED
    exact = events.Comparison(mode=Mode.EXACT)
    assert judge_case(ran("1\n"), case("1"), exact, 99, 99).verdict is Verdict.WRONG_ANSWER


def test_output_is_judged_whole_and_kept_up_to_its_share() -> None:
    long = "é" * 1000 + "\n"  # 2001 bytes
    judged = judge_case(ran(long), case(long), DEFAULT, 101, 1024)
    assert judged.verdict is Verdict.ACCEPTED  # on the whole output
    assert (judged.stdout, judged.stdout_truncated) == ("é" * 50, True)  # a whole character
    assert judged.stderr_truncated is False


def test_the_run_reports_the_deciding_case_and_totals() -> None:
    results = [
        ran("1\n"),
        ran("x\n", Status.TIMEOUT, ErrorCode.TIME, execution_time_ms=2500, cpu_time_ms=1000),
        ran("3\n", memory_peak_kb=5000),
    ]
    cases = [judge_case(r, case(e), DEFAULT, 99, 99) for r, e in zip(results, "123", strict=True)]
    judged = judgement(cases)
    assert (judged.verdict, judged.passed, judged.total) == (Verdict.TIME_LIMIT_EXCEEDED, 2, 3)
    overall = summary(results, judged)
    assert (overall.status, overall.error_code) == (Status.TIMEOUT, ErrorCode.TIME)
    assert (overall.stdout, overall.stderr) == ("", "")
    assert (overall.execution_time_ms, overall.cpu_time_ms) == (2520, 1016)
    assert overall.memory_peak_kb == 5000
    assert (overall.compile_output, overall.compile_time_ms) == ("cc warning", 300)


def test_all_accepted_is_reported_as_the_last_case() -> None:
    results = [ran("1\n", exit_code=0), ran("2\n", exit_code=0)]
    judged = judgement(
        [judge_case(r, case(e), DEFAULT, 99, 99) for r, e in zip(results, "12", strict=True)]
    )
    assert (judged.verdict, judged.passed) == (Verdict.ACCEPTED, 2)
    assert summary(results, judged).status is Status.COMPLETED


def test_a_compile_error_is_every_cases_verdict() -> None:
    failed = ran("", Status.FAILED, ErrorCode.COMPILE)
    judged = not_compiled(failed, 3)
    assert (judged.verdict, judged.passed, judged.total) == (Verdict.COMPILATION_ERROR, 0, 3)
    assert [c.verdict for c in judged.cases] == [Verdict.COMPILATION_ERROR] * 3
    assert {c.error_code for c in judged.cases} == {"E001"}
