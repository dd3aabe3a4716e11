"""Claims on real Redis: one run per (execution, attempt), however many workers receive it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from fleet.workers import INFLIGHT_KEY, WORKERS_KEY, WorkerBeat, decode_beat
from processors import claims, monitor
from processors.settings import ProcessorSettings
from processors.worker import Worker
from sandbox import SandboxSettings
from schemas import encode, events, new_event
from tests.conftest import Stack
from tests.samples import run_requested


def worker_on(stack: Stack, worker_id: str) -> Worker:
    """A worker's shared state without its Faust app: what claims use."""
    nothing = cast(Any, None)
    return Worker(
        settings=ProcessorSettings(worker_id=worker_id, redis_url=stack.redis_url),
        sandbox_settings=SandboxSettings(slots=2),
        app=nothing,
        requested=nothing,
        dispatch=nothing,
        events=nothing,
        retry=nothing,
        dead_letter=nothing,
    )


@pytest.fixture
async def fleet(stack: Stack) -> AsyncIterator[list[Worker]]:
    workers = [worker_on(stack, f"claims-test-{uuid.uuid4().hex[:8]}") for _ in range(8)]
    yield workers
    await workers[0].redis.hdel(WORKERS_KEY, *(w.settings.worker_id for w in workers))
    for worker in workers:
        await worker.redis.aclose()


async def beat_of(worker: Worker) -> WorkerBeat:
    raw = await worker.redis.hget(WORKERS_KEY, worker.settings.worker_id)
    assert isinstance(raw, bytes)
    return decode_beat(raw)


def dispatch(attempt: int, execution_id: str | None = None) -> tuple[events.RunAccepted, bytes]:
    request = run_requested(execution_id)
    accepted = events.RunAccepted(
        execution_id=request.execution_id, attempt=attempt, request=request
    )
    return accepted, encode(new_event(accepted))


async def test_one_of_many_workers_receiving_the_same_attempt_at_once_runs_it(
    fleet: list[Worker],
) -> None:
    accepted, raw = dispatch(1)
    now = datetime.now(UTC)
    answers = await asyncio.gather(*(claims.claim(w, accepted, raw, now) for w in fleet))
    assert sorted(answers) == [0] + [1] * (len(fleet) - 1)
    owners = [w for w, answer in zip(fleet, answers, strict=True) if answer == 0]
    assert [list(w.running) for w in fleet if w not in owners] == [[]] * (len(fleet) - 1)


async def test_an_attempt_the_fleet_has_moved_past_is_not_run(fleet: list[Worker]) -> None:
    second, raw2 = dispatch(2)
    first, raw1 = dispatch(1, second.execution_id)
    now = datetime.now(UTC)
    assert await claims.claim(fleet[0], second, raw2, now) == 0
    assert await claims.claim(fleet[1], first, raw1, now) == 2  # a stale redelivery
    assert await claims.claim(fleet[1], second, raw2, now) == 2  # a duplicate
    third, raw3 = dispatch(3, second.execution_id)
    assert await claims.claim(fleet[1], third, raw3, now) == 0  # the next attempt runs


async def test_a_claim_leaves_what_the_monitor_needs_until_the_attempt_ends(
    fleet: list[Worker],
) -> None:
    worker = fleet[0]
    accepted, raw = dispatch(1)
    started = datetime.now(UTC)
    assert await claims.claim(worker, accepted, raw, started) == 0

    inflight = INFLIGHT_KEY.format(accepted.execution_id)
    assert await worker.redis.get(inflight) == raw
    beat = await beat_of(worker)
    assert [(r.execution_id, r.attempt, r.started_at) for r in beat.running] == [
        (accepted.execution_id, 1, started.timestamp())
    ]
    assert (beat.slots, beat.free_slots) == (2, 1)

    await claims.release(worker, accepted.execution_id, 1)
    assert await worker.redis.get(inflight) is None
    beat = await beat_of(worker)
    assert (beat.running, beat.free_slots) == ([], 2)
    assert await claims.claim(fleet[1], accepted, raw, started) == 1  # still claimed


async def test_a_restarted_workers_first_claim_does_not_hide_what_its_earlier_process_left(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker restarted under the same id (a supervisor's restart after SIGKILL): its agents
    # may claim a redelivered run before its start task has looked at the beat its earlier
    # process left; that claim writes the new process's beat, and the earlier process's run,
    # listed only in the old beat, would never be run again (found by test_chaos's kill9).
    worker_id = f"claims-test-{uuid.uuid4().hex[:8]}"
    earlier, later = worker_on(stack, worker_id), worker_on(stack, worker_id)
    later.started_at = earlier.started_at + 1
    taken: list[str] = []

    async def take_over(worker: Worker, dead_worker: str, run: Any) -> None:
        taken.append(run.execution_id)  # the retry's publication is not what is tested here

    monkeypatch.setattr(monitor, "take_over", take_over)
    left, raw_left = dispatch(1)
    fresh, raw_fresh = dispatch(1)
    now = datetime.now(UTC)
    try:
        assert await claims.claim(earlier, left, raw_left, now) == 0  # then it is killed
        assert await claims.claim(later, fresh, raw_fresh, now) == 0  # the new process's first
        await monitor.mend_earlier_self(later)  # its start task, after that claim
        assert taken == [left.execution_id], "the earlier process's run was not taken over"
        assert [r.execution_id for r in (await beat_of(later)).running] == [fresh.execution_id]
    finally:
        await later.redis.hdel(WORKERS_KEY, worker_id)
        for worker in (earlier, later):
            await worker.redis.aclose()
