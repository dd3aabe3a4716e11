"""Live fan-out on Redis after each commit: best effort, never holding the projection back.

The stream table is the truth (`projections.streams`): a client that misses a message reads it
there, as the API does on a gap in the numbers. Each committed batch's messages are
queued for one sending task (so they keep their order) and the projector never waits for Redis.
While Redis is away (refusing or hanging: each attempt is bounded by `REDIS_TIMEOUT_S`) the
sender retries with backoff and the queue keeps the newest `MAX_QUEUED_BYTES`; older messages
are dropped and counted. A batch cut off mid-send is sent again whole, so after a Redis failure a
message may come twice: the API drops what it has already delivered by its number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from projections.reconnect import Backoff, describe
from projections.streams import Recorded

log = logging.getLogger("projections.fanout")

REDIS_TIMEOUT_S = 1.0
MAX_QUEUED_BYTES = 16 * 1024 * 1024  # live messages kept while Redis is away


Message = tuple[str, bytes]


class Fanout:
    """Publishes each recorded stream event on `execution:{id}` or `session:{id}`."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.from_url(
            redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # our own backoff decides when to try again
        )
        self.pending: deque[tuple[list[Message], int]] = deque()
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.sender: asyncio.Task[None] | None = None
        self.dropped = 0

    async def close(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender
        await self.redis.aclose()

    def publish(self, recorded: Sequence[Recorded]) -> None:
        """Queue the stream events of a committed batch, so a client told "done" finds the row
        done; each message carries its number in its stream (`projections.streams`)."""
        messages = [(event.channel, event.message()) for event in recorded]
        if not messages:
            return
        size = sum(len(body) for _, body in messages)
        self.pending.append((messages, size))
        self.pending_bytes += size
        while self.pending_bytes > MAX_QUEUED_BYTES and len(self.pending) > 1:
            old, old_size = self.pending.popleft()
            self.pending_bytes -= old_size
            self.dropped += len(old)
        if self.sender is None:
            self.sender = asyncio.create_task(self._send_forever())
        self.wake.set()

    async def _send_forever(self) -> None:
        backoff = Backoff()
        away = False
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                messages, size = self.pending[0]
                try:
                    async with asyncio.timeout(REDIS_TIMEOUT_S):
                        async with self.redis.pipeline(transaction=False) as pipe:
                            for channel, body in messages:
                                pipe.publish(channel, body)
                            await pipe.execute()
                except (aioredis.RedisError, OSError, TimeoutError) as exc:
                    away = True
                    delay = backoff.next()
                    log.warning(
                        "Redis is unavailable (%s): live updates wait; next try in %.1fs",
                        describe(exc),
                        delay,
                        extra={"retry_in_s": delay, "waiting": len(self.pending)},
                    )
                    await asyncio.sleep(delay)
                    continue
                if self.pending and self.pending[0][0] is messages:  # not dropped meanwhile
                    self.pending.popleft()
                    self.pending_bytes -= size
                if away:
                    away = False
                    log.info("Redis is back: live updates resumed", extra={"dropped": self.dropped})
                backoff.reset()
