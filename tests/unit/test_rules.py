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
    ],
)
def test_unsafe_requests_are_rejected_with_e006(change: dict[str, object], reason: str) -> None:
    decision = check(msgspec.structs.replace(REQUEST, **change), {"python"}, POLICY, NOW)
    assert isinstance(decision, events.RunRejected)
    assert decision.error_code == "E006"
    assert reason in decision.reason


def test_limits_follow_the_settings() -> None:
    strict = RunPolicy.from_env({"MAX_TIME_LIMIT_MS": "1000", "DEFAULT_TIME_LIMIT_MS": "500"})
    assert isinstance(check(REQUEST, {"python"}, strict, NOW), events.RunRejected)
