"""Failures of ours: retried with backoff, then dead-lettered as E005, never lost or silent; the
program's own failures are final at their attempt.

Faults are real where they can be: an unknown language makes every attempt fail in the
executor, and a topic whose `max.message.bytes` is tiny makes the broker refuse what an agent
publishes there (restored by the test). The oracle is the event log read back from Kafka.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from eventlog import topics
from schemas import events
from tests.e2e.conftest import Engine, Workers
from tests.e2e.fixtures_fleet import (
    PYTHON,
    VANISHED,
    accepted_run,
    history,
    of,
    produce,
    refusing_writes,
    wait_consumed,
    wait_logged,
    wait_terminal,
)
from tests.e2e.fixtures_runs import open_session, run_to_end, submit, wait_result
from tests.samples import run_requested

BASE_S = 0.3  # RETRY_BACKOFF_MS of the e2e engine
MAX_ATTEMPTS = 4  # the product's: the first attempt and 3 retries


async def test_a_failure_of_ours_is_retried_after_base_2x_4x_then_dead_lettered(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    # Straight onto the dispatch topic, past the safety agent: the executor cannot run this
    # language, which is a failure of the engine's, not of the program.
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    accepted = accepted_run(language=VANISHED)
    await produce(bootstrap, topics.DISPATCH, accepted)

    result = await wait_terminal(client, accepted.execution_id)
    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    assert result["attempt"] == MAX_ATTEMPTS
    assert "UnknownLanguage" in result["error_message"]

    found = await history(bootstrap, accepted.execution_id)
    started = {s.attempt: s for s in of(events.RunStarted, found)}
    assert sorted(started) == [1, 2, 3, 4]
    retries = {r.attempt: r for r in of(events.RetryScheduled, found)}
    assert sorted(retries) == [2, 3, 4]
    for attempt, factor in ((2, 1), (3, 2), (4, 4)):
        due = retries[attempt].not_before
        # Never early; late only by the hops from the retry agent to the executor.
        assert 0 <= (started[attempt].started_at - due).total_seconds() < 1.0
        gap = (started[attempt].started_at - started[attempt - 1].started_at).total_seconds()
        assert BASE_S * factor <= gap < BASE_S * factor + 1.0, (attempt, gap)
    (dead,) = of(events.DeadLettered, found)
    assert dead.attempts == MAX_ATTEMPTS
    # The dead letter alone makes the terminal row whole: the last attempt's worker and start.
    assert (dead.worker_id, dead.started_at) == (started[4].worker_id, started[4].started_at)

    conn = await asyncpg.connect(engine.env["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT attempts FROM dead_letters WHERE execution_id = $1",
            uuid.UUID(accepted.execution_id),
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["attempts"] == MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("source", "options", "status", "error_code"),
    [
        ("import sys\nsys.exit(1)", {}, "FAILED", "E002"),
        # Not a loop the safety rule can prove endless: the sandbox's time limit ends it.
        (
            "import itertools\nfor _ in itertools.count():\n    pass",
            {"time_limit_ms": 500},
            "TIMEOUT",
            "E004",
        ),
        (
            "chunks = []\nfor _ in range(10**6):\n    chunks.append(bytearray(16 * 1024 * 1024))",
            {"memory_mb": 64},
            "FAILED",
            "E003",
        ),
    ],
    ids=["exit-1", "timeout", "out-of-memory"],
)
async def test_the_program_s_own_failure_is_final_at_attempt_1(
    engine: Engine,
    client: httpx.AsyncClient,
    source: str,
    options: dict[str, int],
    status: str,
    error_code: str,
) -> None:
    result = await run_to_end(client, "python", source, options)
    assert (result["status"], result["error_code"], result["attempt"]) == (status, error_code, 1)

    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    await wait_consumed(bootstrap, topics.DISPATCH)  # anything it would schedule is out
    found = await history(bootstrap, result["execution_id"])
    assert len(of(events.RunStarted, found)) == 1
    assert of(events.RetryScheduled, found) == []
    assert of(events.DeadLettered, found) == []


async def test_a_retry_the_broker_refuses_is_published_once_it_takes_it(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    accepted = accepted_run(language=VANISHED)
    async with refusing_writes(bootstrap, topics.RETRY) as restore:
        await produce(bootstrap, topics.DISPATCH, accepted)
        # The attempt has failed: its retry is being refused now.
        await wait_logged(
            "processors", msg="attempt failed", execution_id=accepted.execution_id, attempt=1
        )
        await restore()
        result = await wait_terminal(client, accepted.execution_id, deadline_s=30)

    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    assert result["attempt"] == MAX_ATTEMPTS
    found = await history(bootstrap, accepted.execution_id)
    assert sorted(r.attempt for r in of(events.RetryScheduled, found)) == [2, 3, 4]


async def test_a_dead_letter_the_broker_refuses_is_published_once_it_takes_it(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    accepted = accepted_run(language=VANISHED)
    async with refusing_writes(bootstrap, topics.DEAD_LETTER) as restore:
        await produce(bootstrap, topics.DISPATCH, accepted)
        await wait_logged(
            "processors",
            msg="attempt failed",
            execution_id=accepted.execution_id,
            attempt=MAX_ATTEMPTS,
        )
        await restore()
        result = await wait_terminal(client, accepted.execution_id, deadline_s=30)

    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    found = await history(bootstrap, accepted.execution_id)
    assert [d.attempts for d in of(events.DeadLettered, found)] == [MAX_ATTEMPTS]


# A worker that does not start runs itself (LOCAL_DISPATCH=false, or every slot busy): the
# dispatch record is the run's only way on, so the broker refusing it fails the screening. (One
# that starts the run itself goes on without it: tests/e2e/test_dispatch.py.)
TOPIC_ONLY = {"LOCAL_DISPATCH": "false"}


async def test_a_safety_check_that_fails_is_retried_and_the_run_completes(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    own_workers.start("topic-only", TOPIC_ONLY)
    session_id = await open_session(client, "python", "print('screened')")
    async with refusing_writes(bootstrap, topics.DISPATCH) as restore:
        execution_id = await submit(client, session_id)
        await wait_logged("topic-only", msg="safety check failed", execution_id=execution_id)
        await restore()
        result = await wait_result(client, execution_id, deadline_s=30)

    assert (result["status"], result["stdout"], result["attempt"]) == (
        "COMPLETED",
        "screened\n",
        1,
    )
    assert of(events.DeadLettered, await history(bootstrap, execution_id)) == []


async def test_a_safety_check_that_keeps_failing_is_dead_lettered_after_its_attempts(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    own_workers.start("topic-only", TOPIC_ONLY)
    session_id = await open_session(client, "python", "print('never')")
    async with refusing_writes(bootstrap, topics.DISPATCH):
        execution_id = await submit(client, session_id)
        result = await wait_result(client, execution_id, deadline_s=30)

    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    (dead,) = of(events.DeadLettered, await history(bootstrap, execution_id))
    assert dead.attempts == 0  # the program never ran
    assert f"{MAX_ATTEMPTS} times" in dead.reason
    # Screened MAX_ATTEMPTS times, the backoff between them: base, 2x, 4x.
    waited = (dead.dead_lettered_at - dead.request.requested_at).total_seconds()
    assert waited >= BASE_S * (1 + 2 + 4)


async def test_a_redispatch_the_broker_refuses_uses_up_the_attempts_then_dead_letters(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    request = run_requested(language=PYTHON, requested_at=datetime.now(UTC))
    retry = events.RetryScheduled(
        execution_id=request.execution_id,
        attempt=2,
        not_before=datetime.now(UTC),
        reason="attempt 1 failed (test)",
        request=request,
    )
    async with refusing_writes(bootstrap, topics.DISPATCH):
        await produce(bootstrap, topics.RETRY, retry)
        result = await wait_terminal(client, request.execution_id, deadline_s=30)

    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    found = await history(bootstrap, request.execution_id)
    assert sorted(r.attempt for r in of(events.RetryScheduled, found)) == [2, 3, 4]
    assert [d.attempts for d in of(events.DeadLettered, found)] == [MAX_ATTEMPTS]


async def test_without_redis_no_attempt_can_be_claimed_so_none_runs_and_it_ends_e005(
    engine: Engine, own_workers: Workers, client: httpx.AsyncClient
) -> None:
    # A worker whose Redis is gone: it cannot claim an attempt, so it runs none (a run could
    # otherwise run twice) and treats each as a failure of ours.
    own_workers.start(
        "no-redis", {"REDIS_URL": "redis://127.0.0.1:1/0", "CLAIM_PATIENCE_S": "0.5"}, wait=False
    )
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    accepted = accepted_run("print('never')")
    await produce(bootstrap, topics.DISPATCH, accepted)

    result = await wait_terminal(client, accepted.execution_id, deadline_s=60)
    assert (result["status"], result["error_code"]) == ("FAILED", "E005")
    assert "claim" in result["error_message"]
    found = await history(bootstrap, accepted.execution_id)
    assert of(events.RunStarted, found) == []
    assert sorted(r.attempt for r in of(events.RetryScheduled, found)) == [2, 3, 4]
