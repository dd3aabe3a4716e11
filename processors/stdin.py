"""An interactive run's live input: read from its Redis channel (fleet/stdin.py) for the sandbox.

The sandbox asks for the next chunk only once the last one is in the program's stdin pipe, so
what a client sends beyond the pipe and one chunk waits in Redis, where the API bounds it. Reads
are at most one per OUTPUT_FLUSH_MS while input keeps coming (a person typing never waits; a
flood is taken in a few large chunks), and each chunk given is recorded in the log by the output
pump (StdinReceived), as is the end of the input (StdinClosed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import redis.asyncio as aioredis

from fleet.stdin import StdinChannel
from processors.output import OutputPump

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.stdin")

READ_BLOCK_MS = 1000  # below the Redis client's 3 s socket timeout
T = TypeVar("T")


class LiveStdin:
    """The `sandbox.StdinFeed` of one attempt of an interactive run."""

    def __init__(self, worker: Worker, execution_id: str, pump: OutputPump) -> None:
        self.channel = StdinChannel(worker.redis, execution_id)
        self.pump = pump
        self.interval = worker.settings.output_flush_ms / 1000
        self.extra = {"execution_id": execution_id, "attempt": pump.attempt}
        self.after = "0-0"  # every attempt reads the run's input from its start
        self.taken = 0
        self.given = 0
        self.ended: str | None = None  # why no more input comes, once recorded
        self.ending: str | None = None  # read with the last chunk: recorded after it
        self.checked = False
        self.next_read = 0.0

    async def next_chunk(self) -> bytes | None:
        loop = asyncio.get_running_loop()
        if not self.checked:
            self.checked = True
            if not await self._retrying(self.channel.exists):
                self._end("expired")
        if self.ending is not None and self.ended is None:
            self._end(self.ending)
        while self.ended is None:
            await asyncio.sleep(max(0.0, self.next_read - loop.time()))
            taken = await self._retrying(lambda: self.channel.read(self.after, READ_BLOCK_MS))
            if taken is None:
                continue
            self.after = taken.last_id
            if taken.end is not None and not taken.data:
                self._end(taken.end)
            elif taken.data:
                self.ending = taken.end
                self.taken += len(taken.data)
                self.next_read = loop.time() + self.interval
                try:
                    await self.channel.mark_taken(self.taken)
                except (aioredis.RedisError, OSError) as exc:  # only the bound's bookkeeping
                    log.warning("could not record the input taken: %s", exc, extra=self.extra)
                return taken.data
        return None

    def delivered(self, data: bytes) -> None:
        self.given += len(data)
        self.pump.record_stdin(data)

    def finish(self) -> None:
        """The run ended: record the end of its input if no client ended it first."""
        if self.ended is None:
            self._end(self.ending or "run_ended")

    def _end(self, reason: str) -> None:
        self.ended = reason
        self.pump.record_stdin_closed(reason, self.given)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Redis being away is waited out (the run's wall limit bounds the wait)."""
        delay = 0.2
        while True:
            try:
                return await call()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("stdin channel unreachable, retrying in %.1fs: %s", delay, exc,
                            extra=self.extra)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
