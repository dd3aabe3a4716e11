"""One Redis subscription per API process for all the live streams it serves.

The projector publishes each recorded stream event on `execution:{id}` or `session:{id}`
(projections/fanout.py). Each client following a stream used to get a Redis connection of its
own (connect, HELLO, SUBSCRIBE, then close, for every SSE request). Here one connection holds
every channel some client of this process follows, and one reader task hands each message to the
followers of its channel.

A follower is subscribed when `follow` returns: Redis has confirmed the SUBSCRIBE (each one sent
is confirmed in turn), so a message published after that reaches it. Redis failing ends every
follower with the error (each client resumes from its last event, as before) and the next
`follow` connects again. A follower that falls MAX_PENDING messages behind is told to read the
table (`None`), as for a message Redis dropped. The last follower of a channel leaving sends its
UNSUBSCRIBE without waiting for Redis to confirm it (a message arriving meanwhile has no one to go
to). A follower dropped without `aclose` (a stream never started) is forgotten when it is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

log = logging.getLogger("api.live")

MAX_PENDING = 1000  # messages kept for one follower; past that it reads the table instead


class Follower:
    """One client's subscription to one channel: its messages in order, then `aclose`."""

    def __init__(self, channels: LiveChannels, channel: str) -> None:
        self.channels = channels
        self.channel = channel
        self.pending: deque[bytes | None] = deque()
        self.failure: BaseException | None = None
        self.wakeup = asyncio.Event()
        self.closed = False

    def put(self, data: bytes | None) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.pending.clear()
            data = None  # too far behind: the table has what was dropped
        self.pending.append(data)
        self.wakeup.set()

    def fail(self, exc: BaseException) -> None:
        self.failure = exc
        self.wakeup.set()

    async def next(self, timeout: float) -> bytes | None:
        """The next message; None after `timeout` s of silence, or when messages were dropped
        (read the table). Raises what ended the subscription (Redis failing)."""
        if not self.pending and self.failure is None:
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wakeup.wait()
        if self.pending:
            return self.pending.popleft()
        if self.failure is not None:
            raise self.failure
        return None

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.channels.leave(self)


class LiveChannels:
    """The process's one subscription to the projector's live channels."""

    def __init__(self, redis: aioredis.Redis, timeout_s: float) -> None:
        self.redis = redis
        self.timeout_s = timeout_s
        # Held weakly: a follower its client dropped without closing it does not stay subscribed.
        self.followers: dict[str, weakref.WeakSet[Follower]] = {}
        # Per channel, one future per SUBSCRIBE sent and not yet confirmed, oldest first.
        self.confirming: dict[str, deque[asyncio.Future[None]]] = {}
        self.pubsub: PubSub | None = None
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()  # one command at a time on the connection, in order
        self.tasks: set[asyncio.Task[None]] = set()  # closing a connection, forgetting a channel

    async def follow(self, channel: str) -> Follower:
        """A follower of `channel`, subscribed; raises what Redis raises (or TimeoutError)."""
        follower = Follower(self, channel)
        async with self.lock:
            pubsub = self.pubsub or self.redis.pubsub()
            self.pubsub = pubsub
            followers = self.followers.setdefault(channel, weakref.WeakSet())
            first = not followers
            followers.add(follower)
            weakref.finalize(follower, self._dropped, channel)
            confirmed = self.confirming.get(channel)
            waiting = confirmed[-1] if confirmed else None
            if first:
                waiting = asyncio.get_running_loop().create_future()
                self.confirming.setdefault(channel, deque()).append(waiting)
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await pubsub.subscribe(channel)
                except BaseException as exc:
                    self._fail(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
                    raise
            if self.reader is None or self.reader.done():
                self.reader = asyncio.create_task(self._read(pubsub))
        if waiting is not None:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await asyncio.shield(waiting)
            except BaseException:
                await follower.aclose()
                raise
        return follower

    async def leave(self, follower: Follower) -> None:
        """`follower` is done: the channel is unsubscribed when it was the last one."""
        followers = self.followers.get(follower.channel)
        if followers is not None:  # else ended by a failure, which dropped every follower
            followers.discard(follower)
            await self._unsubscribe_if_unfollowed(follower.channel)

    def _dropped(self, channel: str) -> None:
        """A follower was collected (its stream dropped unclosed): maybe unsubscribe."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the loop is gone: so is the connection
            return
        task = loop.create_task(self._unsubscribe_if_unfollowed(channel))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _unsubscribe_if_unfollowed(self, channel: str) -> None:
        async with self.lock:
            followers = self.followers.get(channel)
            if followers is None or followers or self.pubsub is None:
                return
            del self.followers[channel]
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.pubsub.unsubscribe(channel)
            except (aioredis.RedisError, OSError, TimeoutError) as exc:
                self._fail(exc)

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message["type"]
                channel = message["channel"]
                channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                if kind == "message":
                    for follower in self.followers.get(channel, ()):
                        follower.put(message["data"])
                elif kind == "subscribe":
                    waiting = self.confirming.get(channel)
                    if waiting:
                        done = waiting.popleft()
                        if not done.done():
                            done.set_result(None)
                        if not waiting:
                            del self.confirming[channel]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.pubsub is pubsub:
                log.warning("live updates lost their Redis subscription: %s", exc)
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """Every follower ends with `exc`; the next `follow` starts on a new connection."""
        for followers in self.followers.values():
            for follower in followers:
                follower.fail(exc)
        for waiting in self.confirming.values():
            for done in waiting:
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # retrieved: a follower may have given up on it already
        self.followers.clear()
        self.confirming.clear()
        pubsub, self.pubsub = self.pubsub, None
        reader, self.reader = self.reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if pubsub is not None:
            closing = asyncio.get_running_loop().create_task(_close(pubsub))
            self.tasks.add(closing)
            closing.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            await _close(pubsub)
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def _close(pubsub: PubSub) -> None:
    with contextlib.suppress(aioredis.RedisError, OSError):  # it goes with its connection
        await pubsub.aclose()  # type: ignore[no-untyped-call]
