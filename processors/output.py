"""Turns the program's output, as the sandbox reads it, into OutputChunk events while it runs.

The run's RunStarted goes through here too, first: it leaves with the first flush, which comes
OUTPUT_COALESCE_MS after the run started (or at its end, if sooner), so a short program's
RunStarted, output and RunFinished leave together, in one produce request, and reach the
projector as one batch, rather than making the broker, the projector, PostgreSQL, Redis and the
API carry them one by one while the program runs (on a small machine, CPU it waits for). A live
client is told RUNNING that much later; the row's `started_at` is when the run started.

The bounds, so that a flood costs Kafka, the projector and the API a bounded amount:
- size: no chunk carries more than OUTPUT_CHUNK_BYTES (16 KiB) of output; more pending is split;
- rate: pending output is flushed OUTPUT_COALESCE_MS (25 ms) after its first byte, but never
  sooner than OUTPUT_FLUSH_MS (50 ms) after the last flush, or early once a full chunk is pending,
  so a trickle makes at most 1000 / OUTPUT_FLUSH_MS chunks a second per stream, and a flood makes
  full chunks only. The short wait after the first byte keeps what a program writes together in
  one chunk (print's text and its newline are two writes, which a flush could fall between),
  and a program that ends within it (most short programs) sends its output once, beside its
  RunFinished in the same produce request, rather than making the broker, the projector, Redis
  and the API carry a chunk while it is still running (on a small machine, CPU it would wait for);
- total: each stream stops at the run's own output cap (the sandbox's STDOUT_BYTES /
  STDERR_BYTES, 1 MiB by default), the same bytes the result keeps. The chunk that reaches the
  cap says `truncated`, so a live client is told that the rest was cut.
A run therefore makes at most 2 x (cap / OUTPUT_CHUNK_BYTES + time limit / OUTPUT_FLUSH_MS)
chunks: 2 x (64 + 100) for the defaults' 1 MiB and 5 s.
An interactive run's input is recorded here too (StdinReceived, StdinClosed), after the output
read before it, so the log tells the exchange in the order it happened.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from processors.publisher import send
from schemas import Envelope, events

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
        opening: Envelope[events.RunStarted] | None = None,
    ) -> None:
        """`opening`: the run's RunStarted, sent before anything else (its ack in `input_acks`:
        unlike live output's, its failure is the attempt's)."""
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
        self.forced = False  # flush now: a full chunk, a cut stream, recorded input, the end
        # Loop time of the first byte pending since a flush (or of the start: RunStarted waits).
        self.since: float | None = None
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self.acks: list[Awaitable[Any]] = []
        # RunStarted, then an interactive run's input, each record after the output pending
        # when it was given; sent in this order by the next flush.
        self.ready: list[events.Event | Envelope[Any]] = [] if opening is None else [opening]
        self.input_acks: list[Awaitable[Any]] = []
        self.stdin_seq = 0
        self.stdin_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def start(self) -> None:
        if self.ready:  # RunStarted waits as output does: the first flush is due from now
            self.since = asyncio.get_running_loop().time()
        self.task = asyncio.create_task(self._run())

    def feed(self, stream: str, data: bytes) -> None:
        room = self.caps[stream] - self.sent_bytes[stream] - sum(map(len, self.pending[stream]))
        if self.cut[stream]:
            return
        if not data or len(data) > room:  # the sandbox's word that the cap was reached, or ours
            self.cut[stream] = True
            self._force()
        if room <= 0 or not data:
            return
        self.pending[stream].append(data[:room])
        self.pending_bytes += min(len(data), room)
        if self.pending_bytes >= self.worker.settings.output_chunk_bytes:
            self._force()
        elif self.since is None:
            self.since = asyncio.get_running_loop().time()
            self.wakeup.set()

    def _force(self) -> None:
        self.forced = True
        self.wakeup.set()

    def record_stdin(self, data: bytes) -> None:
        """The program was given `data` (it is in its stdin pipe)."""
        text = self.stdin_decoder.decode(data)
        if text:
            self.stdin_seq += 1
            self._record(
                events.StdinReceived(
                    execution_id=self.execution_id,
                    attempt=self.attempt,
                    seq=self.stdin_seq,
                    data=text,
                )
            )

    def record_stdin_closed(self, reason: str, bytes_given: int) -> None:
        self._record(
            events.StdinClosed(
                execution_id=self.execution_id,
                attempt=self.attempt,
                reason=reason,
                bytes_given=bytes_given,
            )
        )

    def _record(self, event: events.Event) -> None:
        # The output read so far goes first: the log tells the exchange in the order it happened.
        self.ready.extend(self._take_pending(final=False))
        self.ready.append(event)
        self._force()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.worker.settings
        every_s = settings.output_flush_ms / 1000
        coalesce_s = settings.output_coalesce_ms / 1000
        last = float("-inf")
        while not self.closed:
            now = loop.time()
            due = None if self.since is None else max(self.since + coalesce_s, last + every_s)
            if not self.forced and (due is None or due > now):
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), None if due is None else due - now)
                continue
            self.forced = False
            last = now
            await self._flush(final=False)

    def _take_pending(self, final: bool) -> list[events.Event | Envelope[Any]]:
        """The output pending now, as numbered chunks of at most OUTPUT_CHUNK_BYTES; the one
        that reaches a stream's cap says `truncated`."""
        limit = self.worker.settings.output_chunk_bytes
        chunks: list[events.Event | Envelope[Any]] = []
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
                self.seq += 1
                chunks.append(
                    events.OutputChunk(
                        execution_id=self.execution_id,
                        attempt=self.attempt,
                        stream=stream,
                        seq=self.seq,
                        data=text,
                        truncated=tell_cut,
                    )
                )
        self.pending_bytes = 0
        self.since = None
        return chunks

    async def _flush(self, final: bool) -> None:
        ready, self.ready = self.ready, []
        for event in [*ready, *self._take_pending(final)]:
            try:
                ack = await send(self.worker.events, event, self.headers)
            except Exception as exc:
                if isinstance(event, events.OutputChunk):
                    # Live output is a convenience; the result carries it all.
                    log.warning("output chunk not sent: %s", exc,
                                extra={"execution_id": self.execution_id})  # fmt: skip
                    continue
                ack = asyncio.get_running_loop().create_future()
                ack.set_exception(exc)
            # The log's record that the run started and of what the program was given: unlike
            # live output, its failure is the attempt's (the executor awaits `input_acks`).
            (self.acks if isinstance(event, events.OutputChunk) else self.input_acks).append(ack)

    async def close(self) -> None:
        """Flush the rest; the acks of every chunk are then in `acks`, for the caller to await."""
        self.closed = True
        self._force()
        if self.task is not None:
            await self.task
        await self._flush(final=True)
