"""The events of the engine: immutable, past tense, versioned. Their payloads travel in an Envelope.

Every event about one execution is keyed by its execution_id; session events by session_id.
A new field with a default is a compatible change; anything else bumps VERSION and adds an
upcaster in `schemas.upcasters`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

QUEUED = "QUEUED"
RUNNING = "RUNNING"
TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMEOUT"})  # an execution in one never changes again


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event payload."""

    VERSION: ClassVar[int] = 1

    @property
    def key(self) -> str:
        raise NotImplementedError


class SessionEvent(Event, frozen=True, kw_only=True):
    """An event about one code session."""

    session_id: str

    @property
    def key(self) -> str:
        return self.session_id


class ExecutionEvent(Event, frozen=True, kw_only=True):
    """An event about one execution."""

    execution_id: str

    @property
    def key(self) -> str:
        return self.execution_id


class LanguageRef(msgspec.Struct, frozen=True, kw_only=True):
    """The language a run uses, as it was when the run was requested."""

    id: str
    key: str
    name: str
    version: str


class RunLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Limits a run was requested with."""

    time_limit_ms: int
    memory_mb: int


class SessionCreated(SessionEvent, frozen=True, kw_only=True):
    language_id: str
    source_code: str
    created_at: datetime


class SessionCodeUpdated(SessionEvent, frozen=True, kw_only=True):
    """An autosave. Applied only if the session is still at `expected_revision` (the revision
    its writer read): the API tells a writer whose update lost a race (409), never drops it silently."""

    source_code: str
    updated_at: datetime
    expected_revision: int | None = None  # None (older events): applied to an active session


class SessionClosed(SessionEvent, frozen=True, kw_only=True):
    closed_at: datetime
    expected_revision: int | None = None


class RunRequested(ExecutionEvent, frozen=True, kw_only=True):
    """A snapshot of everything needed to run: replay never needs the session table."""

    session_id: str
    language: LanguageRef
    source_code: str
    stdin: str
    limits: RunLimits
    requested_at: datetime
    args: list[str] = []  # command-line arguments for the program
    traceparent: str | None = None  # W3C trace context of the request that asked for the run
    rerun_of: str | None = None  # the execution whose logged snapshot this run runs again
    callback_url: str | None = None  # where the result is POSTed when the run ends (callbacks/)


class RunAccepted(ExecutionEvent, frozen=True, kw_only=True):
    """Passed the safety rules; carried on the dispatch topic to an executor."""

    attempt: int
    request: RunRequested
    warnings: list[str] = []  # rules in "warn" mode that the run broke; shown in its result


class RunRejected(ExecutionEvent, frozen=True, kw_only=True):
    reason: str
    error_code: str = "E006"
    rejected_at: datetime
    rule: str | None = None  # which safety rule: limits, language, infinite_loop, failure_streak
    callback_url: str | None = None  # the request's, so that the deliverer needs no other event


class RunStarted(ExecutionEvent, frozen=True, kw_only=True):
    attempt: int
    worker_id: str
    started_at: datetime


class OutputChunk(ExecutionEvent, frozen=True, kw_only=True):
    """Output the program wrote while it ran; seq orders the chunks of one attempt."""

    attempt: int
    stream: str  # "stdout" | "stderr"
    seq: int
    data: str


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt produced: declared once, carried by RunFinished, stored one column per
    field by the projection, and returned by the API (whose result type inherits it).

    A new field needs a default (old events lack it) and a column in a new migration; a test
    fails when the event, the table and the HTTP answer disagree.
    """

    status: str  # COMPLETED | FAILED | TIMEOUT
    error_code: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    compile_output: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    execution_time_ms: int | None = None  # wall time of the run step
    compile_time_ms: int | None = None
    cpu_time_ms: int | None = None
    memory_peak_kb: int | None = None
    warnings: list[str] = []  # from the safety rules in "warn" mode (e.g. a likely infinite loop)


class RunFinished(ExecutionEvent, frozen=True, kw_only=True):
    """An attempt ended with an outcome of the program's own (never for a failure of ours)."""

    VERSION: ClassVar[int] = 2  # v1 had the outcome's fields inline (see schemas.upcasters)

    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    callback_url: str | None = None  # the request's, so that the deliverer needs no other event


class RetryScheduled(ExecutionEvent, frozen=True, kw_only=True):
    """An attempt failed for reasons of ours; the next attempt waits until not_before."""

    attempt: int  # the attempt to run next
    not_before: datetime
    reason: str
    request: RunRequested


class DeadLettered(ExecutionEvent, frozen=True, kw_only=True):
    """The last attempt failed for reasons of ours; the execution ends with E005.

    It carries the worker and start of that attempt, so that the terminal row it makes is whole
    without the RunStarted events (read from another topic, perhaps later).
    """

    attempts: int
    reason: str
    request: RunRequested
    dead_lettered_at: datetime
    worker_id: str | None = None  # of the last attempt, if it started
    started_at: datetime | None = None


class RunRequeued(ExecutionEvent, frozen=True, kw_only=True):
    """An operator sent a dead-lettered execution back to run: the one way a terminal execution
    moves again, as a new attempt (events of earlier attempts no longer change it)."""

    attempt: int  # the attempt to run next
    reason: str
    request: RunRequested
    requeued_at: datetime


class CallbackAttempted(ExecutionEvent, frozen=True, kw_only=True):
    """One attempt to POST an ended execution's result to its callback URL (callbacks/).

    `status_code` is the receiver's answer; `error` says why there was none or why it was not
    accepted (refused address, timeout, connection refused, redirect). `final`: no attempt follows.
    """

    delivery_id: str  # the same for every attempt of one delivery: receivers deduplicate on it
    url: str
    attempt: int  # of the delivery (1, 2, ...), not of the run
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    delivered: bool
    final: bool
    attempted_at: datetime


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        SessionCreated,
        SessionCodeUpdated,
        SessionClosed,
        RunRequested,
        RunAccepted,
        RunRejected,
        RunStarted,
        OutputChunk,
        RunFinished,
        RetryScheduled,
        DeadLettered,
        RunRequeued,
        CallbackAttempted,
    )
}
