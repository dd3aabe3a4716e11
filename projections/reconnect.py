"""What a dependency outage looks like to the projector, and how long it waits before retrying.

An outage (PostgreSQL, Kafka or Redis refusing, restarting, hanging or dropping the connection)
never stops the projector: it logs, waits, reconnects and carries on from its stored offsets.
Anything else is a bug and still stops it, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiokafka.errors import KafkaError

log = logging.getLogger("projections.reconnect")

T = TypeVar("T")


class TopicsMissing(Exception):
    """The event log's topics do not exist (yet): run the topic setup (`python -m eventlog.admin`)."""


OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # a connect or query that got no answer in time
    asyncpg.PostgresConnectionError,  # class 08, and a connection lost mid-query
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, recovering
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    # The server's goodbye to an idle connection can leave asyncpg's protocol in a state it
    # refuses to leave ("cannot switch to state ..."): only a new connection cures it.
    asyncpg.InternalClientError,
    KafkaError,
    TopicsMissing,  # Kafka came back empty, or the setup has not run yet
)


def is_outage(exc: BaseException, conn: asyncpg.Connection[Any] | None = None) -> bool:
    """True if `exc` says a dependency went away, not that our code is wrong."""
    if isinstance(exc, OUTAGES):
        return True
    # asyncpg reports the use of a connection it already knows is dead as an interface error.
    return isinstance(exc, asyncpg.InterfaceError) and conn is not None and conn.is_closed()


def describe(exc: BaseException) -> str:
    """The error for a log line: the original one when asyncpg's clean-up masked it."""
    if isinstance(exc, asyncpg.InterfaceError) and exc.__context__ is not None:
        return describe(exc.__context__)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Backoff:
    """Waits between attempts: 0.2 s, doubling, at most 5 s; from the start again once connected."""

    def __init__(self, first_s: float = 0.2, cap_s: float = 5.0) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next = first_s

    def next(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less if `stop` is set; True if it is."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def patiently(
    what: str, step: Callable[[], Awaitable[T]], stop: asyncio.Event
) -> tuple[T] | None:
    """Run `step` until it gets through an outage; None if `stop` is set first."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            return (await step(),)
        except Exception as exc:
            if not is_outage(exc):
                raise
            delay = backoff.next()
            log.warning(
                "%s: a dependency is unavailable (%s); retrying in %.1fs",
                what,
                describe(exc),
                delay,
                extra={"retry_in_s": delay},
            )
            await pause(stop, delay)
    return None
