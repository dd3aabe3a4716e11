"""The API's one Redis subscription for every live stream (api/live.py), on real Redis: each
follower gets each message of its channel, on one connection; Redis failing ends every follower
and the next one connects again; a follower dropped unclosed does not stay subscribed."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from api.live import LiveChannels
from tests.conftest import Stack


@pytest.fixture
async def live(stack: Stack) -> AsyncIterator[LiveChannels]:
    client = aioredis.from_url(stack.redis_url, client_name=f"live-{uuid.uuid4().hex[:8]}")
    channels = LiveChannels(client, timeout_s=2.0)
    try:
        yield channels
    finally:
        await channels.close()
        await client.aclose()


async def subscribers(redis: aioredis.Redis, channel: str) -> int:
    answer = await redis.pubsub_numsub(channel)
    return int(answer[0][1])


def name_of(live: LiveChannels) -> str:
    return str(live.redis.connection_pool.connection_kwargs["client_name"])


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_every_follower_gets_every_message_of_its_channel_on_one_connection(
    redis: aioredis.Redis, live: LiveChannels
) -> None:
    one, other = f"execution:{uuid.uuid4()}", f"execution:{uuid.uuid4()}"
    followers = [await live.follow(one) for _ in range(5)] + [await live.follow(other)]
    # Subscribed when follow returns: a message published now is not missed.
    for n in range(3):
        await redis.publish(one, f"m{n}")
    await redis.publish(other, "x")
    for follower in followers[:5]:
        assert [await follower.next(2.0) for _ in range(3)] == [b"m0", b"m1", b"m2"]
    assert await followers[5].next(2.0) == b"x"
    assert await followers[5].next(0.05) is None  # silence: nothing else was published
    ours = [c for c in await redis.client_list() if c["name"] == name_of(live)]
    assert len(ours) == 1, ours
    for follower in followers:
        await follower.aclose()

    async def unsubscribed() -> bool:
        return await subscribers(redis, one) == 0 and await subscribers(redis, other) == 0

    # UNSUBSCRIBE is written, not awaited: this connection's PUBSUB NUMSUB may reach Redis first.
    await until(unsubscribed, "a channel stayed subscribed after its last follower closed")


async def test_redis_dropping_the_connection_ends_every_follower_and_the_next_connects_again(
    redis: aioredis.Redis, live: LiveChannels
) -> None:
    channel = f"session:{uuid.uuid4()}"
    followers = [await live.follow(channel) for _ in range(3)]
    ours = [c for c in await redis.client_list() if c["name"] == name_of(live)]
    assert len(ours) == 1, ours
    await redis.client_kill_filter(_id=ours[0]["id"])
    for follower in followers:
        with pytest.raises((aioredis.RedisError, OSError)):
            await follower.next(5.0)
    again = await live.follow(channel)
    await redis.publish(channel, "after")
    assert await again.next(2.0) == b"after"
    await again.aclose()


async def test_a_follower_dropped_without_closing_is_unsubscribed(
    redis: aioredis.Redis, live: LiveChannels
) -> None:
    channel = f"execution:{uuid.uuid4()}"
    follower = await live.follow(channel)
    assert await subscribers(redis, channel) == 1
    del follower
    gc.collect()

    async def gone() -> bool:
        return await subscribers(redis, channel) == 0

    await until(gone, "the channel stayed subscribed after its only follower was dropped")
