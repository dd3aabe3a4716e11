"""The events of the engine: immutable, past tense, versioned. Their payloads travel in an Envelope.

Every event about one execution is keyed by its execution_id; session events by session_id.
A new field with a default is a compatible change; anything else bumps VERSION and adds an
upcaster in `schemas.upcasters`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

from verdicts import (
    DEFAULT_ABSOLUTE_TOLERANCE,
    DEFAULT_MODE,
    DEFAULT_RELATIVE_TOLERANCE,
    Mode,
    Verdict,
)

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


class Case(msgspec.Struct, frozen=True, kw_only=True):
    """A test case: the program's stdin, and the output it must print (see `Comparison`)."""

    stdin: str = ""
    expected_output: str


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    """How each test case's stdout is compared with its expected output (verdicts.compare)."""

    mode: Mode = DEFAULT_MODE
    absolute_tolerance: float = DEFAULT_ABSOLUTE_TOLERANCE  # float mode only
    relative_tolerance: float = DEFAULT_RELATIVE_TOLERANCE


class SessionCreated(SessionEvent, frozen=True, kw_only=True):
    language_id: str
    source_code: str  # the entry point's (the language's file_name)
    created_at: datetime
    files: dict[str, str] = {}  # the program's other files, by relative name ("lib/util.py")


class SessionCodeUpdated(SessionEvent, frozen=True, kw_only=True):
    """An autosave. Applied only if the session is still at `expected_revision` (the revision
    its writer read): the API tells a writer whose update lost a race (409), never drops it silently."""

    source_code: str
    updated_at: datetime
    expected_revision: int | None = None  # None (older events): applied to an active session
    files: dict[str, str] | None = None  # the whole set of other files; None: left as they are


class SessionFileSaved(SessionEvent, frozen=True, kw_only=True):
    """An autosave of one file besides the entry point (created or replaced), applied like
    SessionCodeUpdated only at `expected_revision`."""

    path: str
    content: str
    updated_at: datetime
    expected_revision: int | None = None


class SessionFileDeleted(SessionEvent, frozen=True, kw_only=True):
    """One file besides the entry point removed, applied only at `expected_revision`."""

    path: str
    deleted_at: datetime
    expected_revision: int | None = None


class SessionClosed(SessionEvent, frozen=True, kw_only=True):
    closed_at: datetime
    expected_revision: int | None = None


class Judge0Attributes(msgspec.Struct, frozen=True, kw_only=True):
    """What a submission through the Judge0-compatible API (api/compat/judge0.py) asked for
    beyond our own request, as the client sent it: its Judge0 answers are rebuilt from these
    and the run's outcome. Only some are applied (see the README); all are echoed back."""

    language_id: int  # Judge0's id (C is 48, 49 or 50): answered as sent
    expected_output: str | None = None
    redirect_stderr_to_stdout: bool = False
    callback_url: str | None = None
    command_line_arguments: str | None = None
    compiler_options: str | None = None
    cpu_time_limit: float | None = None
    cpu_extra_time: float | None = None
    wall_time_limit: float | None = None
    memory_limit: int | None = None
    stack_limit: int | None = None
    max_processes_and_or_threads: int | None = None
    max_file_size: int | None = None
    number_of_runs: int | None = None
    enable_per_process_and_thread_time_limit: bool = False
    enable_per_process_and_thread_memory_limit: bool = False
    enable_network: bool = False


class RunRequested(ExecutionEvent, frozen=True, kw_only=True):
    """A snapshot of everything needed to run: replay never needs the session table."""

    session_id: str
    language: LanguageRef
    source_code: str
    stdin: str
    limits: RunLimits
    requested_at: datetime
    args: list[str] = []  # command-line arguments for the program
    files: dict[str, str] = {}  # the program's files besides the entry point (source_code)
    traceparent: str | None = None  # W3C trace context of the request that asked for the run
    rerun_of: str | None = None  # the execution whose logged snapshot this run runs again
    judge0: Judge0Attributes | None = None  # a submission through the Judge0-compatible API
    # Interactive: `stdin` is only the start; clients send the rest over GET /executions/{id}/ws
    # while it runs, each chunk recorded as a StdinReceived.
    interactive: bool = False
    # Compiled once, run once per case (each with its own stdin, under `limits`), each judged.
    test_cases: list[Case] = []
    comparison: Comparison | None = None  # None: the default comparison
    callback_url: str | None = None  # where the result is POSTed when the run ends (callbacks/)

    @property
    def test_case_bytes(self) -> int:
        """UTF-8 bytes of the test cases' stdin and expected output together (RunPolicy)."""
        return sum(len(c.stdin.encode()) + len(c.expected_output.encode()) for c in self.test_cases)


def files_json(files: dict[str, str] | None) -> str | None:
    """A program's files as the tables store them (a JSON object, names sorted; JSON escapes
    NUL, which PostgreSQL text cannot hold)."""
    return None if files is None else msgspec.json.encode(files, order="sorted").decode()


def files_from_json(text: str | None) -> dict[str, str] | None:
    return None if text is None else msgspec.json.decode(text, type=dict[str, str])


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
    judge0: Judge0Attributes | None = None  # the request's: a Judge0 callback is in its form


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
    truncated: bool = False  # the stream reached the run's output cap: nothing more of it follows


class StdinReceived(ExecutionEvent, frozen=True, kw_only=True):
    """Input a client sent an interactive run, as the executor gave it to the program (written
    into its stdin pipe, readable by it); seq orders one attempt's chunks."""

    attempt: int
    seq: int
    data: str


class StdinClosed(ExecutionEvent, frozen=True, kw_only=True):
    """No more input goes to this attempt of an interactive run: the client said so (`eof`),
    its WebSocket closed (`disconnected`), the run ended first (`run_ended`), or its channel was
    gone (`expired`). From `eof`, `disconnected` and `expired` on the program reads end of file."""

    attempt: int
    reason: str
    bytes_given: int  # live input the program was given in this attempt (its StdinReceived data)


class Measured(msgspec.Struct, frozen=True, kw_only=True):
    """How one run of the program ended and what it used: of a whole attempt (`Outcome`) or of
    one test case (`CaseResult`)."""

    status: str  # COMPLETED | FAILED | TIMEOUT
    error_code: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    execution_time_ms: int | None = None  # wall time of the run step
    cpu_time_ms: int | None = None
    memory_peak_kb: int | None = None
    # Of the run step, counted by the kernel over every process of the run (sandbox.spawn.Usage):
    # bytes through read/write system calls (files, pipes, stdin, stdout), context switches.
    read_bytes: int | None = None
    written_bytes: int | None = None
    voluntary_context_switches: int | None = None
    involuntary_context_switches: int | None = None


class CaseResult(Measured, frozen=True, kw_only=True):
    """One test case's run and its verdict; its stdout and stderr are kept up to a share of the
    run's output caps (the verdict was decided on all the sandbox kept)."""

    verdict: Verdict


class Judgement(msgspec.Struct, frozen=True, kw_only=True):
    """A run's test cases, judged: the overall verdict (ACCEPTED if every case is, else the
    first case's that is not), how many passed, and each case in order."""

    verdict: Verdict
    passed: int
    total: int
    cases: list[CaseResult]


class Outcome(Measured, frozen=True, kw_only=True):
    """What one attempt produced: declared once, carried by RunFinished, stored one column per
    field by the projection, and returned by the API (whose result type inherits it).

    A new field needs a default (old events lack it) and a column in a new migration; a test
    fails when the event, the table and the HTTP answer disagree. With test cases, the measured
    fields are those of the case that decided the verdict (stdout and stderr stay empty: each
    case has its own), but the times, which are the sum over the cases, and the memory, their
    peak.
    """

    compile_output: str = ""
    compile_time_ms: int | None = None
    warnings: list[str] = []  # from the safety rules in "warn" mode (e.g. a likely infinite loop)
    test_results: Judgement | None = None  # None for a run without test cases
    # The outputs (stdout, stderr, compile_output) that held bytes which are not UTF-8, shown
    # as U+FFFD in their text (what Judge0's API must know to ask for Base64).
    invalid_utf8: list[str] = []


class RunFinished(ExecutionEvent, frozen=True, kw_only=True):
    """An attempt ended with an outcome of the program's own (never for a failure of ours)."""

    VERSION: ClassVar[int] = 2  # v1 had the outcome's fields inline (see schemas.upcasters)

    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    callback_url: str | None = None  # the request's, so that the deliverer needs no other event
    judge0: Judge0Attributes | None = None  # the request's: a Judge0 callback is in its form


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
        SessionFileSaved,
        SessionFileDeleted,
        SessionClosed,
        RunRequested,
        RunAccepted,
        RunRejected,
        RunStarted,
        OutputChunk,
        StdinReceived,
        StdinClosed,
        RunFinished,
        RetryScheduled,
        DeadLettered,
        RunRequeued,
        CallbackAttempted,
    )
}
