"""Projection folds: state only moves forward, and any interleaving of topics gives one row."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import timedelta

import msgspec
import orjson

from projections.fold import ExecutionRow, fold_execution, fold_session
from schemas import events
from tests.samples import T0, run_finished, run_requested
from verdicts import Mode, Verdict

EXECUTION = str(uuid.uuid4())
REQUEST = run_requested(EXECUTION)
STARTED = events.RunStarted(
    execution_id=EXECUTION, attempt=1, worker_id="w1", started_at=T0 + timedelta(seconds=1)
)


def finished(status: str = "COMPLETED", error_code: str | None = None) -> events.RunFinished:
    return run_finished(EXECUTION, status=status, error_code=error_code)


def fold_all(sequence: Sequence[events.Event]) -> ExecutionRow:
    row: ExecutionRow | None = None
    for event in sequence:
        row = fold_execution(row, event)
    assert row is not None
    return row


def test_lifecycle_queued_running_completed() -> None:
    row = fold_execution(None, REQUEST)
    assert (row.status, row.queued_at, row.source_code) == ("QUEUED", T0, "print(1)")
    row = fold_execution(row, STARTED)
    assert (row.status, row.worker_id, row.attempt) == ("RUNNING", "w1", 1)
    row = fold_execution(row, finished())
    assert row.outcome is not None
    assert (row.status, row.outcome.stdout, row.outcome.execution_time_ms) == (
        "COMPLETED",
        "1\n",
        20,
    )


def test_every_interleaving_gives_the_same_row() -> None:
    chunk = events.OutputChunk(
        execution_id=EXECUTION, attempt=1, stream="stdout", seq=1, data="1\n"
    )
    sequence: list[events.Event] = [REQUEST, STARTED, chunk, finished()]
    rows = {repr(fold_all(list(order))) for order in itertools.permutations(sequence)}
    assert len(rows) == 1
    assert "COMPLETED" in rows.pop()


def test_a_terminal_execution_never_moves_back() -> None:
    done = fold_all([REQUEST, STARTED, finished("TIMEOUT", "E004")])
    late_start = events.RunStarted(execution_id=EXECUTION, attempt=2, worker_id="w2", started_at=T0)
    assert fold_execution(done, late_start) == done
    assert fold_execution(done, finished("COMPLETED")) == done
    assert fold_execution(done, REQUEST) == done


def test_duplicates_change_nothing() -> None:
    once = fold_all([REQUEST, STARTED, finished()])
    assert fold_all([REQUEST, REQUEST, STARTED, STARTED, finished(), finished()]) == once


def test_a_retry_attempt_moves_running_forward_not_back() -> None:
    second = events.RunStarted(
        execution_id=EXECUTION, attempt=2, worker_id="w2", started_at=T0 + timedelta(seconds=5)
    )
    row = fold_all([REQUEST, STARTED, second])
    assert (row.attempt, row.worker_id) == (2, "w2")
    assert fold_execution(row, STARTED) == row


def test_rejection_and_dead_letter_are_failures_with_codes() -> None:
    rejected = fold_all(
        [REQUEST, events.RunRejected(execution_id=EXECUTION, reason="no", rejected_at=T0)]
    )
    assert rejected.outcome is not None
    assert (rejected.status, rejected.outcome.error_code, rejected.error_message) == (
        "FAILED",
        "E006",
        "no",
    )
    dead = fold_all(
        [
            REQUEST,
            STARTED,
            events.DeadLettered(
                execution_id=EXECUTION,
                attempts=3,
                reason="sandbox broke",
                request=REQUEST,
                dead_lettered_at=T0,
            ),
        ]
    )
    assert dead.outcome is not None
    assert (dead.status, dead.outcome.error_code, dead.attempt) == ("FAILED", "E005", 3)


def test_session_updates_stop_when_closed() -> None:
    created = events.SessionCreated(session_id="s", language_id="l", source_code="a", created_at=T0)
    updated = events.SessionCodeUpdated(
        session_id="s", source_code="b", updated_at=T0 + timedelta(seconds=1)
    )
    closed = events.SessionClosed(session_id="s", closed_at=T0 + timedelta(seconds=2))
    late = events.SessionCodeUpdated(
        session_id="s", source_code="c", updated_at=T0 + timedelta(seconds=3)
    )
    row = None
    for event in (created, updated, closed, late):
        row = fold_session(row, event)
    assert row is not None
    assert (row.status, row.source_code, row.updated_at) == (
        "INACTIVE",
        "b",
        T0 + timedelta(seconds=2),
    )
    assert fold_session(row, created) == row


def test_a_dead_letter_read_before_its_attempts_gives_the_live_row() -> None:
    """The dead-letter topic may be replayed before the events topic: same row either way."""
    second = events.RunStarted(
        execution_id=EXECUTION, attempt=2, worker_id="w2", started_at=T0 + timedelta(seconds=5)
    )
    dead = events.DeadLettered(
        execution_id=EXECUTION, attempts=2, reason="x", request=REQUEST, dead_lettered_at=T0,
        worker_id="w2", started_at=second.started_at,
    )  # fmt: skip
    live = fold_all([REQUEST, STARTED, second, dead])
    assert fold_all([dead, REQUEST, STARTED, second]) == live
    assert fold_all([REQUEST, dead, second, STARTED]) == live
    assert (live.status, live.worker_id, live.started_at) == ("FAILED", "w2", second.started_at)


def test_a_redelivered_start_never_changes_a_finished_row() -> None:
    done = fold_all([REQUEST, STARTED, finished()])
    redelivered = events.RunStarted(
        execution_id=EXECUTION, attempt=1, worker_id="w9", started_at=T0 + timedelta(seconds=10)
    )
    assert fold_execution(done, redelivered) == done
    assert done.started_at is not None and done.finished_at is not None
    assert done.started_at <= done.finished_at


def test_a_requeued_dead_letter_runs_as_a_new_attempt_and_old_attempts_stay_out() -> None:
    dead = events.DeadLettered(
        execution_id=EXECUTION, attempts=2, reason="x", request=REQUEST,
        dead_lettered_at=T0 + timedelta(seconds=3), worker_id="w1",
        started_at=T0 + timedelta(seconds=2),
    )  # fmt: skip
    requeued = events.RunRequeued(
        execution_id=EXECUTION, attempt=3, reason="operator", request=REQUEST,
        requeued_at=T0 + timedelta(seconds=60),
    )  # fmt: skip
    third = events.RunStarted(
        execution_id=EXECUTION, attempt=3, worker_id="w3", started_at=T0 + timedelta(seconds=61)
    )
    done = run_finished(
        EXECUTION, attempt=3, worker_id="w3", started_at=third.started_at,
        finished_at=T0 + timedelta(seconds=62),
    )  # fmt: skip
    history: list[events.Event] = [REQUEST, STARTED, dead, requeued, third, done]
    row = fold_all(history)
    assert (row.status, row.attempt, row.worker_id) == ("COMPLETED", 3, "w3")
    # Replays read the topics in other orders (the dead letter has a topic of its own).
    for order in ([dead, REQUEST, STARTED, requeued, third, done],
                  [REQUEST, requeued, third, done, STARTED, dead]):  # fmt: skip
        assert fold_all(order) == row
    queued = fold_all([REQUEST, STARTED, dead, requeued])
    assert (queued.status, queued.attempt, queued.outcome) == ("QUEUED", 3, None)
    assert fold_execution(queued, STARTED) == queued


def test_a_session_event_applies_only_at_the_revision_its_writer_read() -> None:
    created = events.SessionCreated(session_id="s", language_id="l", source_code="a", created_at=T0)
    row = fold_session(None, created)
    assert row is not None and row.revision == 1
    first = events.SessionCodeUpdated(
        session_id="s", source_code="b", updated_at=T0, expected_revision=1
    )
    racing_close = events.SessionClosed(session_id="s", closed_at=T0, expected_revision=1)
    row = fold_session(row, first)
    assert row is not None and (row.source_code, row.revision) == ("b", 2)
    # The close was written against revision 1, which the update has moved past: it lost.
    assert fold_session(row, racing_close) == row
    closed = fold_session(row, events.SessionClosed(session_id="s", closed_at=T0))
    assert closed is not None and (closed.status, closed.revision) == ("INACTIVE", 3)


def test_test_cases_and_their_results_are_stored_as_json_and_read_back() -> None:
    cases = [events.Case(stdin="1\x00", expected_output="2"), events.Case(expected_output="")]
    comparison = events.Comparison(mode=Mode.FLOAT, absolute_tolerance=0.5)
    judged = events.Judgement(
        verdict=Verdict.WRONG_ANSWER, passed=1, total=2,
        cases=[
            events.CaseResult(status="COMPLETED", stdout="2\n", verdict=Verdict.ACCEPTED),
            events.CaseResult(status="COMPLETED", stdout="\x00", verdict=Verdict.WRONG_ANSWER),
        ],
    )  # fmt: skip
    request = msgspec.structs.replace(REQUEST, test_cases=cases, comparison=comparison)
    row = fold_all([request, STARTED, run_finished(EXECUTION, test_results=judged)])
    columns = row.columns()
    assert orjson.loads(columns["test_cases"]) == [
        {"stdin": "1\ufffd", "expected_output": "2"},  # NUL as in the text columns
        {"stdin": "", "expected_output": ""},
    ]
    assert orjson.loads(columns["test_results"])["cases"][1]["verdict"] == "WRONG_ANSWER"
    back = ExecutionRow.from_columns(columns)
    assert back.comparison == comparison
    assert back.outcome is not None and back.outcome.test_results is not None
    assert back.outcome.test_results.cases[0] == judged.cases[0]


def test_a_run_without_test_cases_stores_none() -> None:
    columns = fold_all([REQUEST, STARTED, finished()]).columns()
    assert (columns["test_cases"], columns["comparison"], columns["test_results"]) == (
        None,
        None,
        None,
    )
