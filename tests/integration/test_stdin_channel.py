"""An interactive run's stdin channel on real Redis (fleet/stdin.py): the two bounds, the end,
and what the executor reads, including a second attempt reading the input from its start."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from fleet.stdin import CHANNEL_TTL_S, ENDED_TTL_S, Sent, StdinChannel


def channel(redis: aioredis.Redis) -> StdinChannel:
    return StdinChannel(redis, str(uuid.uuid4()))


async def test_what_waits_for_the_program_is_bounded_and_reading_frees_room(
    redis: aioredis.Redis,
) -> None:
    stdin = channel(redis)
    await stdin.open(0)
    sends = [await stdin.send(b"x" * 400, 10_000, 1000) for _ in range(3)]
    assert sends == [Sent(None), Sent(None), Sent("full", room=200)]  # refused whole
    taken = await stdin.read("0-0", block_ms=100)
    assert taken is not None and taken.data == b"x" * 800 and taken.end is None
    assert await stdin.send(b"y" * 400, 10_000, 1000) == Sent("full", room=200)  # not marked yet
    await stdin.mark_taken(800)
    assert await stdin.send(b"y" * 400, 10_000, 1000) == Sent(None)
    later = await stdin.read(taken.last_id, block_ms=100)
    assert later is not None and later.data == b"y" * 400


async def test_a_run_takes_at_most_the_stdin_limit_in_all_its_initial_stdin_included(
    redis: aioredis.Redis,
) -> None:
    stdin = channel(redis)
    await stdin.open(600)  # the run's initial stdin
    assert await stdin.send(b"a" * 300, 1000, 1000) == Sent(None)
    assert await stdin.send(b"b" * 101, 1000, 1000) == Sent("too_large", room=100)
    assert await stdin.send(b"b" * 100, 1000, 1000) == Sent(None)
    assert await stdin.send(b"c", 1000, 1000) == Sent("too_large", room=0)


async def test_after_the_end_nothing_is_taken_and_a_reader_sees_the_end_after_the_data(
    redis: aioredis.Redis,
) -> None:
    stdin = channel(redis)
    await stdin.open(0)
    await stdin.send(b"last\n", 1000, 1000)
    assert await stdin.close("eof") == "ok"
    assert await stdin.close("disconnected") == "eof"  # the first end holds
    assert await stdin.send(b"more", 1000, 1000) == Sent("closed", reason="eof")
    taken = await stdin.read("0-0", block_ms=100)
    assert taken is not None and (taken.data, taken.end) == (b"last\n", "eof")
    # A second attempt of the run reads the same input, and the same end, from the start.
    again = await stdin.read("0-0", block_ms=100)
    assert again is not None and (again.data, again.end) == (b"last\n", "eof")


async def test_a_reader_waits_for_input_and_wakes_when_it_comes(redis: aioredis.Redis) -> None:
    stdin = channel(redis)
    await stdin.open(0)
    assert await stdin.read("0-0", block_ms=50) is None
    reading = asyncio.ensure_future(stdin.read("0-0", block_ms=2000))
    await stdin.send(b"now", 1000, 1000)
    taken = await asyncio.wait_for(reading, 2)
    assert taken is not None and taken.data == b"now"


async def test_a_channel_that_was_never_opened_takes_nothing(redis: aioredis.Redis) -> None:
    stdin = channel(redis)
    assert await stdin.send(b"x", 1000, 1000) == Sent("missing")
    assert await stdin.close("eof") == "missing"
    assert not await stdin.exists()
    await stdin.mark_taken(5)  # leaves no key behind
    assert await redis.exists(*stdin.keys) == 0


async def test_the_keys_expire_and_sooner_once_the_run_ended(redis: aioredis.Redis) -> None:
    stdin = channel(redis)
    await stdin.open(0)
    await stdin.send(b"x", 1000, 1000)
    assert 0 < await redis.ttl(stdin.keys[0]) <= CHANNEL_TTL_S
    assert 0 < await redis.ttl(stdin.keys[1]) <= CHANNEL_TTL_S
    await stdin.close("run_ended")
    assert 0 < await redis.ttl(stdin.keys[0]) <= ENDED_TTL_S
    assert 0 < await redis.ttl(stdin.keys[1]) <= ENDED_TTL_S
