"""The analytics fold: known events in, known figures out, in any order across topics."""

from __future__ import annotations

import random
from datetime import timedelta

from projections.analytics import Figures, percentile
from schemas import events
from tests.samples import T0, run_finished, run_requested


def language(key: str) -> events.LanguageRef:
    return events.LanguageRef(id=key, key=key, name=key, version="1")


def known_events() -> list[events.Event]:
    """Ten python runs (waits 10..100 ms, run times 1..10 ms, two fail), a rejected python run,
    a dead-lettered java run, and a javascript run still running."""
    found: list[events.Event] = []
    for i in range(1, 11):
        request = run_requested(f"py{i}", language=language("python"), requested_at=T0)
        started = T0 + timedelta(milliseconds=10 * i)
        found += [
            request,
            events.RunStarted(execution_id=f"py{i}", attempt=1, worker_id="w", started_at=started),
            run_finished(
                f"py{i}",
                status="FAILED" if i in (3, 7) else "COMPLETED",
                exit_code=1 if i in (3, 7) else 0,
                execution_time_ms=i,
                started_at=started,
                finished_at=started + timedelta(milliseconds=i),
            ),
        ]
    found += [
        run_requested("rejected", language=language("python"), requested_at=T0),
        events.RunRejected(execution_id="rejected", reason="loop", rejected_at=T0),
    ]
    java = run_requested("j1", language=language("java"), requested_at=T0)
    found += [
        java,
        events.RunStarted(
            execution_id="j1", attempt=1, worker_id="w", started_at=T0 + timedelta(seconds=2)
        ),
        events.DeadLettered(
            execution_id="j1", attempts=3, reason="worker lost", request=java,
            dead_lettered_at=T0 + timedelta(seconds=9), worker_id="w",
            started_at=T0 + timedelta(seconds=8),
        ),
        run_requested("js1", language=language("javascript"), requested_at=T0),
        events.RunStarted(execution_id="js1", attempt=1, worker_id="w", started_at=T0),
    ]  # fmt: skip
    return found


EXPECTED = {
    "java": {
        "executions": 1,
        "by_status": {"FAILED": 1},
        "success_rate": 0.0,
        "queue_wait_ms": {"p50": 2000.0, "p90": 2000.0, "p99": 2000.0},
        "run_time_ms": {"p50": None, "p90": None, "p99": None},
    },
    "python": {
        "executions": 11,
        "by_status": {"COMPLETED": 8, "FAILED": 3},
        "success_rate": round(8 / 11, 4),
        "queue_wait_ms": {"p50": 50.0, "p90": 90.0, "p99": 100.0},
        "run_time_ms": {"p50": 5.0, "p90": 9.0, "p99": 10.0},
    },
}


def test_known_events_give_known_figures() -> None:
    figures = Figures()
    for event in known_events():
        figures.apply(event)
    assert figures.report() == EXPECTED
    assert "javascript" not in figures.report()  # not finished: not counted yet


def interleaved(seed: int) -> list[events.Event]:
    """The known events as a consumer may read them: each topic in its order (RunRequested in
    one, the rest in another), the two interleaved at random."""
    requested = [e for e in known_events() if isinstance(e, events.RunRequested)]
    others = [e for e in known_events() if not isinstance(e, events.RunRequested)]
    rng = random.Random(seed)
    merged: list[events.Event] = []
    while requested or others:
        source = requested if requested and (not others or rng.random() < 0.5) else others
        merged.append(source.pop(0))
    return merged


def test_order_across_topics_and_duplicates_do_not_change_the_figures() -> None:
    for seed in range(20):
        figures = Figures()
        read = interleaved(seed)
        for event in read + read:  # a redelivery of everything
            figures.apply(event)
        assert figures.report() == EXPECTED, seed


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([float(v) for v in range(1, 101)], 90) == 90.0
    assert percentile([1.0, 2.0], 50) == 1.0
