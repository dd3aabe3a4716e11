"""The shared run bookkeeping on real Redis: GCRA limits, queue caps, failure streaks in
submission order, all atomic across concurrent callers."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from fleet.quota import COOLDOWN_KEY, Quota, admit, settle

QUOTA = Quota(session_per_minute=10, client_per_minute=1000, queued_per_session=50,
              queued_total=100_000)  # fmt: skip


async def test_a_burst_of_the_limit_then_one_per_interval_even_from_concurrent_callers(
    redis: aioredis.Redis,
) -> None:
    session = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(admit(redis, QUOTA, session, "c", str(uuid.uuid4())) for _ in range(25))
    )
    allowed = [a for a in answers if a.refused is None]
    assert len(allowed) == 10
    assert sorted(a.remaining for a in allowed) == list(range(10))
    refused = [a for a in answers if a.refused is not None]
    assert {a.refused for a in refused} == {"session_rate"}
    # The next run is due one interval (6 s) after the burst, not at a window boundary.
    assert {a.retry_after_s for a in refused} <= {5, 6}


async def test_the_queue_cap_refuses_without_using_rate_quota(redis: aioredis.Redis) -> None:
    session = str(uuid.uuid4())
    small = Quota(session_per_minute=10, client_per_minute=1000, queued_per_session=2,
                  queued_total=100_000)  # fmt: skip
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await admit(redis, small, session, "c", first)).refused is None
    assert (await admit(redis, small, session, "c", second)).refused is None
    full = await admit(redis, small, session, "c", str(uuid.uuid4()))
    assert (full.refused, full.retry_after_s) == ("session_queue", 2)
    await settle(redis, session, first, "ok", 5, 60)
    again = await admit(redis, small, session, "c", str(uuid.uuid4()))
    assert again.refused is None and again.remaining == 7  # the refusal used no quota


async def admitted(redis: aioredis.Redis, session: str, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for execution_id in ids:  # in submission order
        assert (await admit(redis, QUOTA, session, "c", execution_id)).refused is None
        await asyncio.sleep(0.002)
    return ids


async def test_the_failure_streak_counts_in_submission_order_whatever_the_finishing_order(
    redis: aioredis.Redis,
) -> None:
    session = str(uuid.uuid4())
    runs = await admitted(redis, session, 6)
    # Runs finish out of order; run 3 is still running, so 1, 2 and 4, 5 are two streaks of two.
    for index in (4, 1, 0, 3):
        assert await settle(redis, session, runs[index], "fail", 5, 60) <= 2
    assert not await redis.exists(COOLDOWN_KEY.format(session))
    # Run 3 was a failure of ours (E005): neutral, so 1, 2, 4, 5 join; run 6 makes five.
    assert await settle(redis, session, runs[2], "neutral", 5, 60) == 0
    assert await settle(redis, session, runs[5], "fail", 5, 60) == 5
    assert 55_000 <= await redis.pttl(COOLDOWN_KEY.format(session)) <= 60_000


async def test_a_success_in_submission_order_breaks_the_streak(redis: aioredis.Redis) -> None:
    session = str(uuid.uuid4())
    runs = await admitted(redis, session, 6)
    await settle(redis, session, runs[2], "ok", 5, 60)
    for index in (0, 1, 3, 4, 5):
        await settle(redis, session, runs[index], "fail", 5, 60)
    assert not await redis.exists(COOLDOWN_KEY.format(session))
