"""The safety rules refuse what no sandbox should be asked to run, and accept the rest."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from config.limits import RunPolicy
from processors.rules import check
from schemas import events
from tests.samples import run_requested

NOW = datetime(2026, 11, 28, tzinfo=UTC)
POLICY = RunPolicy()
REQUEST = run_requested("e1", limits=events.RunLimits(time_limit_ms=5000, memory_mb=256))


def test_a_fair_request_is_accepted_as_attempt_one() -> None:
    decision = check(REQUEST, {"python"}, POLICY, NOW)
    assert decision == events.RunAccepted(execution_id="e1", attempt=1, request=REQUEST)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"language": events.LanguageRef(id="x", key="cobol", name="COBOL", version="1")},
            "not available",
        ),
        ({"source_code": "x" * (POLICY.max_source_bytes + 1)}, "source code"),
        ({"stdin": "x" * (POLICY.max_stdin_bytes + 1)}, "stdin"),
        ({"limits": events.RunLimits(time_limit_ms=99, memory_mb=256)}, "time_limit_ms"),
        ({"limits": events.RunLimits(time_limit_ms=60001, memory_mb=256)}, "time_limit_ms"),
        ({"limits": events.RunLimits(time_limit_ms=5000, memory_mb=4096)}, "memory_mb"),
        ({"source_code": "print(1)\x00"}, "NUL"),
        # Test cases are re-checked here too (events may come from elsewhere than the API).
        ({"test_cases": [events.Case(expected_output="1")] * 33}, "at most 32 test cases"),
        (
            {"test_cases": [events.Case(stdin="x" * 1024, expected_output="y" * 1024)] * 513},
            "test cases",
        ),
        (
            {"test_cases": [events.Case(stdin="é" * (512 * 1024 + 1), expected_output="")]},
            "are 1048578 bytes",  # bytes, not characters
        ),
        ({"comparison": events.Comparison(absolute_tolerance=-1.0)}, "absolute_tolerance"),
        ({"comparison": events.Comparison(relative_tolerance=float("nan"))}, "relative_tolerance"),
    ],
)
def test_unsafe_requests_are_rejected_with_e006(change: dict[str, object], reason: str) -> None:
    decision = check(msgspec.structs.replace(REQUEST, **change), {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected)
    assert decision.error_code == "E006"
    assert reason in decision.reason


def test_test_cases_within_the_policy_are_accepted() -> None:
    cases = [events.Case(stdin="x" * 1024, expected_output="y" * 1024)] * 32
    request = msgspec.structs.replace(REQUEST, test_cases=cases)
    assert isinstance(check(request, {"python"}, POLICY, NOW), events.RunAccepted)


def test_limits_follow_the_settings() -> None:
    strict = RunPolicy.from_env({"MAX_TIME_LIMIT_MS": "1000", "DEFAULT_TIME_LIMIT_MS": "500"})
    assert isinstance(check(REQUEST, {"python"}, strict, NOW), events.RunRejected)


SPIN = run_requested("e2", source_code="import time\n\nwhile True:\n    time.sleep(1)\n")


def test_an_infinite_loop_is_rejected_with_its_rule_and_line() -> None:
    decision = check(SPIN, {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected)
    assert (decision.error_code, decision.rule) == ("E006", "infinite_loop")
    assert "line 3" in decision.reason and "while True" in decision.reason


def test_the_loop_rule_can_warn_or_be_off_per_deployment() -> None:
    warned = check(SPIN, {"python"}, POLICY, NOW, loop_rule="warn")
    assert isinstance(warned, events.RunAccepted)
    assert len(warned.warnings) == 1 and "line 3" in warned.warnings[0]
    off = check(SPIN, {"python"}, POLICY, NOW, loop_rule="off")
    assert isinstance(off, events.RunAccepted) and off.warnings == []
    fine = run_requested("e3", source_code="while True:\n    if input():\n        break\n")
    assert check(fine, {"python"}, POLICY, NOW) == events.RunAccepted(
        execution_id="e3", attempt=1, request=fine
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([str(i) for i in range(65)], "at most 64 arguments"),
        (["ok", "nul\x00byte"], "NUL"),
        (["x" * 16385], "the limit is 16384"),
    ],
)
def test_arguments_beyond_the_policy_are_rejected(args: list[str], reason: str) -> None:
    decision = check(msgspec.structs.replace(REQUEST, args=args), {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected) and reason in decision.reason
