"""Kafka topic names and their retention: the event log is kept, work queues may expire."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A topic and whether it is part of the kept event log."""

    name: str
    log: bool  # True: source of truth, never deleted by time (retention.ms=-1)

    @property
    def config(self) -> dict[str, str]:
        if self.log:
            return {"retention.ms": "-1", "retention.bytes": "-1"}
        return {"retention.ms": str(7 * 24 * 3600 * 1000)}


SESSIONS = Topic("sessions", log=True)
REQUESTED = Topic("executions.requested", log=True)
EVENTS = Topic("executions.events", log=True)
DISPATCH = Topic("executions.dispatch", log=False)
RETRY = Topic("executions.retry", log=False)
DEAD_LETTER = Topic("executions.dead-letter", log=True)

ALL = (SESSIONS, REQUESTED, EVENTS, DISPATCH, RETRY, DEAD_LETTER)
