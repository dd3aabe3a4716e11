"""Kafka topic names and their retention: the event log is kept, work queues may expire."""

from __future__ import annotations

from dataclasses import dataclass

# The largest event: a RunFinished with 1 MiB each of stdout and stderr, or a RunRequested with
# 256 KiB of source and 1 MiB of stdin, JSON-escaped (a control byte takes 6). Every producer,
# consumer and topic of the engine allows this much.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Topic:
    """A topic and whether it is part of the kept event log."""

    name: str
    log: bool  # True: source of truth, never deleted by time (retention.ms=-1)
    retention_days: int = 7  # for the others: how long a message is kept

    @property
    def config(self) -> dict[str, str]:
        size = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if self.log:
            return {"retention.ms": "-1", "retention.bytes": "-1", **size}
        return {"retention.ms": str(self.retention_days * 24 * 3600 * 1000), **size}


SESSIONS = Topic("sessions", log=True)
REQUESTED = Topic("executions.requested", log=True)
EVENTS = Topic("executions.events", log=True)
DISPATCH = Topic("executions.dispatch", log=False)
RETRY = Topic("executions.retry", log=False)
# The operators' queue of runs that failed for reasons of ours. Each DeadLettered is also
# appended to executions.events, which keeps it for good: the projector reads this copy too (the
# same event: it changes nothing twice), but no replay depends on it, so its expiry is harmless.
DEAD_LETTER = Topic("executions.dead-letter", log=False, retention_days=30)

ALL = (SESSIONS, REQUESTED, EVENTS, DISPATCH, RETRY, DEAD_LETTER)
