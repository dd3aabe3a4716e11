"""The fault harness's oracle: lost and run-twice decided from the log alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaos.oracle import Run, judge, verdict
from schemas import Envelope, events, new_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REQUEST = events.RunRequested(
    execution_id="e1",
    session_id="s1",
    language=events.LanguageRef(id="l", key="python", name="Python", version="3"),
    source_code="print('tok')",
    stdin="",
    limits=events.RunLimits(time_limit_ms=5000, memory_mb=256),
    requested_at=T0,
)


def run(token: str = "tok") -> Run:
    return Run("f", token, "python", "", accepted_at=T0.timestamp(), execution_id="e1")


def at(seconds: float, payload: events.Event) -> Envelope[events.Event]:
    return new_event(payload, T0 + timedelta(seconds=seconds))


def started(seconds: float, attempt: int = 1, worker: str = "w") -> Envelope[events.Event]:
    return at(seconds, events.RunStarted(execution_id="e1", attempt=attempt, worker_id=worker,
                                         started_at=T0))  # fmt: skip


def finished(seconds: float, stdout: str = "tok\n", attempt: int = 1) -> Envelope[events.Event]:
    outcome = events.Outcome(status="COMPLETED", exit_code=0, stdout=stdout)
    return at(seconds, events.RunFinished(execution_id="e1", attempt=attempt, worker_id="w",
                                          started_at=T0, finished_at=T0, outcome=outcome))  # fmt: skip


def dead(seconds: float) -> Envelope[events.Event]:
    return at(seconds, events.DeadLettered(execution_id="e1", attempts=3, reason="bwrap",
                                           request=REQUEST, dead_lettered_at=T0))  # fmt: skip


NOW = T0.timestamp() + 100


def test_a_run_that_printed_its_token_once_is_completed_with_its_time() -> None:
    found = verdict(run(), [started(0.1), finished(1.5)], NOW, 90)
    assert (found.completed, found.twice, found.why_lost) == (True, False, None)
    assert abs(found.stuck_s - 1.5) < 1e-6


def test_the_same_attempt_started_twice_is_a_run_twice_even_with_one_result() -> None:
    found = verdict(run(), [started(0.1, worker="a"), started(30, worker="b"), finished(31)],
                    NOW, 90)  # fmt: skip
    assert (found.completed, found.twice) == (True, True)
    assert found.why_twice == "attempt 1 started 2 times"


def test_two_results_are_a_run_twice() -> None:
    found = verdict(run(), [started(0.1), finished(1), started(2, 2), finished(3, attempt=2)],
                    NOW, 90)  # fmt: skip
    assert found.why_twice == "2 RunFinished"


def test_one_event_read_twice_is_not_a_second_run() -> None:
    once = started(0.1)
    assert not verdict(run(), [once, once, finished(1)], NOW, 90).twice


def test_without_a_terminal_event_a_run_is_lost_and_stuck_until_now() -> None:
    found = verdict(run(), [started(0.1)], NOW, 90)
    assert (found.completed, found.why_lost, found.stuck_s) == (False, "no terminal event", 100)


def test_a_wrong_output_or_a_dead_letter_is_lost() -> None:
    assert verdict(run(), [finished(1, stdout="other\n")], NOW, 90).why_lost == (
        "wrong result (COMPLETED)"
    )
    assert verdict(run(), [dead(5)], NOW, 90).why_lost == "dead-lettered E005"


def test_a_result_after_the_deadline_is_lost() -> None:
    found = verdict(run(), [finished(95)], NOW, 90)
    assert (found.completed, found.why_lost) == (False, "finished after the deadline")


def test_a_requeued_dead_letter_that_then_completes_is_completed_once() -> None:
    history = [started(0, 1), started(1, 2), started(2, 3), dead(3), started(10, 4), finished(11)]
    found = verdict(run(), history, NOW, 90)
    assert (found.completed, found.twice, found.stuck_s) == (True, False, 11)


def test_judge_counts_only_accepted_runs() -> None:
    refused = Run("f", "t2", "bash", "")
    summary = judge([run(), refused], {"e1": [started(0), finished(2)]}, NOW, 90)
    assert (summary.accepted, summary.completed, summary.lost, summary.twice) == (1, 1, 0, 0)
    assert summary.worst_stuck_s == 2
