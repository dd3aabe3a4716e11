"""Live standard input for an interactive run: a pipe the parent feeds while the program runs.

A run that is not interactive gets its whole stdin as a memfd (step.py): nothing to feed, nothing
that can block. An interactive run gets the read end of a pipe instead; the parent keeps the
write end, non-blocking, and writes each chunk its `StdinFeed` gives only when the pipe has room,
so a program that never reads costs a waiting task, never a blocked worker. The write end is
close-on-exec and never passed to a child: the program cannot write into its own input, and all
the parent ever does with the pipe is write to it (nothing flows back). It is closed (end of
file for the program) when the feed ends, when the program closes its end, or when the step ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Protocol

log = logging.getLogger(__name__)


class StdinFeed(Protocol):
    """Where an interactive run's input comes from, and who hears what the program was given."""

    async def next_chunk(self) -> bytes | None:
        """The next input to give the program; None at its end (the program then reads EOF).
        Called again only once the previous chunk is all in the pipe."""
        ...

    def delivered(self, data: bytes) -> None:
        """`data` is in the pipe: the program can read it now. Called once per chunk (or with
        the part of it written when the step ended first); never for the initial stdin."""
        ...


class PipeFeeder:
    """Writes the initial stdin, then the feed's chunks, into the write end of a stdin pipe."""

    def __init__(self, write_fd: int, initial: bytes, feed: StdinFeed) -> None:
        self._fd: int | None = write_fd
        os.set_blocking(write_fd, False)
        self._initial = initial
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            await self._write(self._initial, report=False)
            while (chunk := await self._feed.next_chunk()) is not None:
                await self._write(chunk, report=True)
        except BrokenPipeError:
            pass  # the program closed its stdin (or exited): nothing more to give it
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failing feed ends the input (EOF), never the run; the wall limit still holds.
            log.exception("sandbox: the stdin feed failed; closing the program's stdin")
        finally:
            self._close()

    async def _write(self, data: bytes, report: bool) -> None:
        """Write all of `data` as the pipe makes room, then report it (also the part written
        when cancelled or refused midway)."""
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                assert self._fd is not None
                try:
                    done += os.write(self._fd, view[done:])
                except BlockingIOError:
                    await self._writable(self._fd)
        finally:
            if report and done:
                self._feed.delivered(bytes(view[:done]))

    async def _writable(self, fd: int) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def stop(self) -> None:
        """The step is over: stop feeding, and close the pipe if the feed has not ended."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._close()
