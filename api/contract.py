"""The answers of the HTTP API as declared types, and the error answers each route documents.

Every route returns one of these (or `api.dto.ExecutionResult`), so the OpenAPI document at
/schema/openapi.json describes what a client really gets. Errors are answered by api.errors in
the shape of `ErrorBody`; `errors(...)` documents them per route with that schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from msgspec import Meta

from api.errors import (
    ApiError,
    Backpressure,
    BadRequest,
    Conflict,
    DependencyDown,
    IdempotencyKeyReused,
    InvalidInput,
    NoExecutors,
    NotFound,
    ProjectionBehind,
    RateLimited,
    SessionClosed,
    TooLarge,
    error_body,
)

Revision = Annotated[
    int,
    Meta(
        ge=1,
        description="The session's revision: 1 when created, +1 for each saved change or close. "
        'Also the `ETag` header; send it back as `If-Match: "<revision>"`.',
    ),
]
ExecutionId = Annotated[str, Meta(description="The execution's id (a UUID).")]
SessionId = Annotated[str, Meta(description="The code session's id (a UUID).")]
SessionStatus = Annotated[
    Literal["ACTIVE", "INACTIVE"],
    Meta(description="ACTIVE until closed; a closed (INACTIVE) session refuses writes and runs."),
]


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer: a message, a stable code, and details that depend on the code."""

    error: Annotated[str, Meta(description="What went wrong, for people.")]
    code: Annotated[
        str,
        Meta(
            description="For programs: bad_request, invalid_input, idempotency_key_reused, "
            "not_found, method_not_allowed, session_closed, conflict, too_large, rate_limited, "
            "unavailable, backpressure, no_executors, projection_behind, internal_error (and "
            "unsupported_media_type or http_error for what Litestar refuses itself)."
        ),
    ]
    details: Annotated[
        dict[str, Any],
        Meta(
            description="Depends on the code: e.g. the field and value refused, the session's "
            "current `revision` (conflict), the id of a write not yet visible "
            "(projection_behind), the `reason` of a 429 or 503."
        ),
    ]
    retryAfter: (  # camelCase: the name clients already read
        Annotated[
            int,
            Meta(ge=0, description="Seconds to wait before retrying (429, 503 backpressure)."),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


RATE_LIMIT_HEADERS = [
    ResponseHeader(name=name, description=text, documentation_only=True)
    for name, text in (
        ("X-RateLimit-Limit", "Runs this session may start in a burst."),
        ("X-RateLimit-Remaining", "Runs left in the burst."),
        ("X-RateLimit-Reset", "Seconds until the burst is whole again."),
    )
]
ETAG = ResponseHeader(
    name="ETag", description='The session\'s revision, quoted: `"3"`.', documentation_only=True
)

# What each documented error status means, and the exceptions whose answers are its examples.
_ERRORS: dict[int, tuple[str, tuple[type[ApiError], ...]]] = {
    400: (
        "A malformed request: malformed JSON, no body where one is required, a malformed header.",
        (BadRequest,),
    ),
    404: ("No resource with this id (also for an id that is no UUID).", (NotFound,)),
    409: (
        "The session is closed (session_closed), or another write came first (conflict: "
        "`details.revision` is the session's current revision).",
        (SessionClosed, Conflict),
    ),
    413: ("Source code or stdin over its limit, or a body larger than any legal one.", (TooLarge,)),
    422: (
        "A field missing, unknown, of the wrong type or out of range (invalid_input), or an "
        "Idempotency-Key already used for another request (idempotency_key_reused).",
        (InvalidInput, IdempotencyKeyReused),
    ),
    429: (
        "Too many runs for this session or client, or the session cools down after a streak "
        "of failures (`details.reason`); retry after Retry-After seconds.",
        (RateLimited,),
    ),
    503: (
        "A dependency is down (unavailable), too many runs wait (backpressure), no live "
        "executor runs the language (no_executors), or the write is recorded but not yet "
        "visible (projection_behind); retry after Retry-After seconds.",
        (DependencyDown, Backpressure, NoExecutors, ProjectionBehind),
    ),
}


def _example(kind: type[ApiError]) -> Example:
    error = kind()
    return Example(summary=kind.code, value=error_body(error.code, error.message, error.details))


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route can give, documented with `ErrorBody`; 400 always (a malformed
    request, e.g. a bad Content-Length, is refused before any route)."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=_ERRORS[status][0],
            generate_examples=False,
            examples=[_example(kind) for kind in _ERRORS[status][1]],
        )
        for status in sorted({400, *statuses})
    }


class HealthStatus(msgspec.Struct, kw_only=True):
    """The API process answers."""

    status: Literal["ok"]


class ServiceStates(msgspec.Struct, kw_only=True):
    """Each dependency: up or down, as seen within DEPENDENCY_TIMEOUT_S."""

    kafka: Literal["up", "down"]
    postgres: Literal["up", "down"]
    redis: Literal["up", "down"]
    executors: Annotated[
        Literal["up", "down"],
        Meta(description="down when no worker has sent a heartbeat for WORKER_DEAD_AFTER_S"),
    ]


class Readiness(msgspec.Struct, kw_only=True):
    """Whether the engine can take runs (200) or not (503), and which dependency is down."""

    status: Literal["ok", "unavailable"]
    services: ServiceStates


class LanguageSummary(msgspec.Struct, kw_only=True):
    """A language the engine runs."""

    id: Annotated[str, Meta(description="Stable UUID, the same on every install.")]
    name: Annotated[str, Meta(examples=["Python 3"])]
    runtime: Annotated[str, Meta(examples=["python3"])]
    version: Annotated[str, Meta(description="Read from the installed runtime.")]
    default_time_limit_ms: Annotated[
        int, Meta(description="CPU time limit of a run that asks for none.")
    ]
    default_memory_mb: Annotated[int, Meta(description="Memory limit of a run that asks for none.")]


class LanguageList(msgspec.Struct, kw_only=True):
    """Every language some live executor runs."""

    total: int
    languages: list[LanguageSummary]


class Library(msgspec.Struct, kw_only=True):
    """Extra packages a language's programs can import (installed by the operator)."""

    name: Annotated[str, Meta(description="The package's name.", examples=["numpy"])]
    version: Annotated[str, Meta(description="Its exact version.", examples=["2.2.6"])]
    description: Annotated[str, Meta(description="What it is for.")] = ""


class LanguageDetail(LanguageSummary, kw_only=True):
    """A language, with what an editor needs to open a session in it."""

    key: Annotated[
        str, Meta(description="Short name, accepted wherever an id is.", examples=["python"])
    ]
    template_code: Annotated[str, Meta(description="A new session's source when none is given.")]
    file_name: Annotated[str, Meta(description="The file the source is saved as.")]
    libraries: Annotated[
        list[Library],
        Meta(description="Extra packages installed for it, importable by every run."),
    ] = []


class SessionRevision(msgspec.Struct, kw_only=True):
    """A code session after a write: created (201), saved, or closed."""

    session_id: SessionId
    status: SessionStatus
    revision: Revision


class SessionView(msgspec.Struct, kw_only=True):
    """A code session as it is now."""

    session_id: SessionId
    status: SessionStatus
    language_id: str
    language_name: Annotated[
        str | None, Meta(description="null when no live executor runs the language any more.")
    ]
    source_code: str
    runtime: str | None
    version: str | None
    created_at: datetime
    updated_at: datetime
    revision: Revision


class SessionFiles(msgspec.Struct, kw_only=True):
    """A code session's program as files: the entry point and the others."""

    session_id: SessionId
    revision: Revision
    entry_point: Annotated[
        str | None,
        Meta(
            description="The name `source_code` is saved and run as (the language's "
            "`file_name`); null when no live executor runs the language any more."
        ),
    ]
    source_code: str
    files: Annotated[
        dict[str, str], Meta(description="The program's other files, by relative name.")
    ]


class ExecutionSummary(msgspec.Struct, kw_only=True):
    """One run of a session."""

    execution_id: ExecutionId
    status: Annotated[str, Meta(description="QUEUED, RUNNING, COMPLETED, FAILED or TIMEOUT.")]
    execution_time_ms: int | None
    exit_code: int | None
    created_at: Annotated[datetime | None, Meta(description="When the run was requested.")]


class SessionExecutions(msgspec.Struct, kw_only=True):
    """A session's runs, newest first."""

    session_id: SessionId
    executions: list[ExecutionSummary]


class RunQueued(msgspec.Struct, kw_only=True):
    """A run accepted (202): poll GET /executions/{execution_id} or follow its events."""

    execution_id: ExecutionId
    status: Annotated[
        str,
        Meta(
            description="QUEUED; a retry with the same Idempotency-Key answers the execution's "
            "current status."
        ),
    ]


class BatchEntry(msgspec.Struct, kw_only=True):
    """One run of a batch, in its position: what POST /code-sessions/{id}/run would have
    answered for it (202 and its execution, or the error), with that status code."""

    status_code: Annotated[int, Meta(description="202 when queued, else the error's status.")]
    execution_id: Annotated[
        str | None,
        Meta(description="The run's execution; also with projection_behind (the run is recorded)."),
    ] = None
    status: Annotated[
        str | None,
        Meta(description="QUEUED (a retried key: the execution's current status); null on error."),
    ] = None
    error: ErrorBody | None = None


class BatchQueued(msgspec.Struct, kw_only=True):
    """The runs of a batch, in the order they were given."""

    runs: list[BatchEntry]


class RunningAttempt(msgspec.Struct, kw_only=True):
    """An attempt a worker is running."""

    execution_id: ExecutionId
    attempt: int
    started_at: datetime


class WorkerView(msgspec.Struct, kw_only=True):
    """A processors worker, as its last heartbeat describes it."""

    worker_id: str
    state: Annotated[str, Meta(description="running, draining (finishing, taking nothing), dead")]
    last_heartbeat_at: datetime
    heartbeat_age_s: float
    slots: Annotated[int, Meta(description="Runs it can execute at once.")]
    free_slots: int
    running: list[RunningAttempt]
    memory_rss_kb: int | None
    languages: Annotated[list[str], Meta(description="Keys of the languages it runs.")]
    started_at: datetime


class WorkerList(msgspec.Struct, kw_only=True):
    """Every worker that has sent a heartbeat."""

    total: int
    alive: int
    workers: list[WorkerView]


class DeadLetter(msgspec.Struct, kw_only=True):
    """A run that failed for reasons of ours (E005) after its last attempt."""

    execution_id: ExecutionId
    attempts: Annotated[int, Meta(description="Attempts made before it was dead-lettered.")]
    reason: str
    dead_lettered_at: datetime
    status: Annotated[str, Meta(description="The execution's status now (FAILED until requeued).")]
    attempt: Annotated[int, Meta(description="The execution's current attempt.")]
    session_id: SessionId | None
    language: Annotated[str, Meta(description="The language's key.")]


class DeadLetterPage(msgspec.Struct, kw_only=True):
    """Dead letters, newest first."""

    dead_letters: list[DeadLetter]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as `cursor` for the next page; null on the last.")
    ]


class Requeued(msgspec.Struct, kw_only=True):
    """A dead letter queued again (202) as a new attempt of the same execution."""

    execution_id: ExecutionId
    status: Literal["QUEUED"]
    attempt: Annotated[int, Meta(description="The new attempt's number.")]


class HistoryEvent(msgspec.Struct, kw_only=True):
    """One event of an execution as the log recorded it."""

    topic: str
    partition: int
    offset: int
    event_id: str
    type: Annotated[str, Meta(description="RunRequested, RunStarted, OutputChunk, ...")]
    version: int
    occurred_at: datetime
    payload: Annotated[
        dict[str, Any], Meta(description="The event (its JSON Schema: schemas/json/).")
    ]


class ExecutionHistory(msgspec.Struct, kw_only=True):
    """Every event of an execution, in the order it happened (then by place in the log)."""

    execution_id: ExecutionId
    events: list[HistoryEvent]


class Rerun(msgspec.Struct, kw_only=True):
    """A re-run queued (202): a new execution of the original's logged snapshot."""

    execution_id: ExecutionId
    status: Annotated[str, Meta(description="QUEUED")]
    rerun_of: Annotated[str, Meta(description="The execution re-run.")]


class RevisionSummary(msgspec.Struct, kw_only=True):
    """One applied event of a session: created, an autosave, closed."""

    revision: Revision
    event_id: str
    kind: Annotated[
        str,
        Meta(
            description="SessionCreated, SessionCodeUpdated, SessionFileSaved, "
            "SessionFileDeleted or SessionClosed"
        ),
    ]
    at: datetime
    source_bytes: Annotated[int, Meta(description="Size of the code it left (characters).")]


class RevisionList(msgspec.Struct, kw_only=True):
    """A session's revisions, oldest first; `revision` is the current one."""

    session_id: SessionId
    revision: Revision
    revisions: list[RevisionSummary]


class RevisionDetail(msgspec.Struct, kw_only=True):
    """One revision of a session, with the code it left."""

    session_id: SessionId
    revision: Revision
    event_id: str
    kind: str
    at: datetime
    source_code: str
    files: Annotated[dict[str, str], Meta(description="The other files it left.")]
