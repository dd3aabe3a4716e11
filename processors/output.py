"""Turns the program's output, as the sandbox reads it, into OutputChunk events while it runs.

The bounds, so that a flood costs Kafka, the projector and the API a bounded amount:
- size: no chunk carries more than OUTPUT_CHUNK_BYTES (16 KiB) of output; more pending is split;
- rate: pending output is flushed every OUTPUT_FLUSH_MS (50 ms), or early once a full chunk is
  pending, so a trickle makes at most 1000 / OUTPUT_FLUSH_MS chunks a second per stream, and a
  flood makes full chunks only;
- total: each stream stops at the run's own output cap (the sandbox's STDOUT_BYTES /
  STDERR_BYTES, 1 MiB by default), the same bytes the result keeps. The chunk that reaches the
  cap says `truncated`, so a live client is told that the rest was cut.
A run therefore makes at most 2 x (cap / OUTPUT_CHUNK_BYTES + time limit / OUTPUT_FLUSH_MS)
chunks: 2 x (64 + 100) for the defaults' 1 MiB and 5 s.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from processors.publisher import send
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.output")


class OutputPump:
    """Collects output per stream and flushes it as ordered chunks from one task."""

    def __init__(
        self,
        worker: Worker,
        execution_id: str,
        attempt: int,
        headers: dict[str, bytes],
        caps: dict[str, int],
    ) -> None:
        self.worker = worker
        self.execution_id = execution_id
        self.attempt = attempt
        self.headers = headers
        self.caps = caps  # per stream: what the sandbox keeps of it, so live matches the result
        self.pending: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        self.pending_bytes = 0
        self.sent_bytes = {"stdout": 0, "stderr": 0}
        self.cut = {"stdout": False, "stderr": False}  # reached its cap: tell it once, then stop
        self.told_cut = {"stdout": False, "stderr": False}
        self.decoders = {
            s: codecs.getincrementaldecoder("utf-8")(errors="replace") for s in self.pending
        }
        self.seq = 0
        self.wakeup = asyncio.Event()
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self.acks: list[Awaitable[Any]] = []

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def feed(self, stream: str, data: bytes) -> None:
        room = self.caps[stream] - self.sent_bytes[stream] - sum(map(len, self.pending[stream]))
        if self.cut[stream]:
            return
        if not data or len(data) > room:  # the sandbox's word that the cap was reached, or ours
            self.cut[stream] = True
            self.wakeup.set()
        if room <= 0 or not data:
            return
        self.pending[stream].append(data[:room])
        self.pending_bytes += min(len(data), room)
        if self.pending_bytes >= self.worker.settings.output_chunk_bytes:
            self.wakeup.set()

    async def _run(self) -> None:
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.wakeup.wait(), self.worker.settings.output_flush_ms / 1000
                )
            self.wakeup.clear()
            await self._flush(final=False)

    async def _flush(self, final: bool) -> None:
        limit = self.worker.settings.output_chunk_bytes
        for stream, parts in self.pending.items():
            data = b"".join(parts)
            parts.clear()
            pieces = [data[i : i + limit] for i in range(0, len(data), limit)] or [b""]
            for n, piece in enumerate(pieces):
                last = n == len(pieces) - 1
                text = self.decoders[stream].decode(piece, final=final and last)
                self.sent_bytes[stream] += len(piece)
                tell_cut = last and self.cut[stream] and not self.told_cut[stream]
                if not text and not tell_cut:
                    continue
                self.told_cut[stream] = self.told_cut[stream] or tell_cut
                await self._send(stream, text, tell_cut)
        self.pending_bytes = 0

    async def _send(self, stream: str, text: str, truncated: bool) -> None:
        self.seq += 1
        try:
            self.acks.append(
                await send(
                    self.worker.events,
                    events.OutputChunk(
                        execution_id=self.execution_id,
                        attempt=self.attempt,
                        stream=stream,
                        seq=self.seq,
                        data=text,
                        truncated=truncated,
                    ),
                    self.headers,
                )
            )
        except Exception as exc:  # live output is a convenience; the result carries it all
            log.warning("output chunk not sent: %s", exc, extra={"execution_id": self.execution_id})

    async def close(self) -> None:
        """Flush the rest; the acks of every chunk are then in `acks`, for the caller to await."""
        self.closed = True
        self.wakeup.set()
        if self.task is not None:
            await self.task
        await self._flush(final=True)
