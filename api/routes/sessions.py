"""Code sessions: create, read, autosave (the whole program or one file), close, list
executions, and run."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response, get, patch, post
from litestar.params import Body, FromPath, HeaderParameter, QueryParameter

from api import admission
from api.contract import (
    ETAG,
    RATE_LIMIT_HEADERS,
    ExecutionSummary,
    RunQueued,
    SessionExecutions,
    SessionFiles,
    SessionRevision,
    SessionView,
    errors,
)
from api.dto import (
    CreateSession,
    OptionalBody,
    RunOptions,
    SaveFile,
    StrictBody,
    UpdateSession,
    body_or_default,
)
from api.errors import Conflict, InvalidInput, NotFound, ProjectionBehind, SessionClosed, TooLarge
from api.eventlog import Appended
from api.runs import Queued, queue_session_run
from api.services import Services, ServicesDep
from api.snapshot import files_of
from eventlog import topics
from fleet.catalogue import LanguageEntry
from schemas import events, new_event

log = logging.getLogger("api.sessions")


def parse_id(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no {what} with id {raw!r}", id=raw) from None


async def load_session(services: Services, session_id: str) -> asyncpg.Record:
    row = await services.db.session(parse_id(session_id, "code session"))
    if row is None:
        raise NotFound(f"no code session with id {session_id!r}", session_id=session_id)
    return row


def require_active(row: asyncpg.Record) -> None:
    if row["status"] != "ACTIVE":
        raise SessionClosed(
            f"code session {row['session_id']} is closed", session_id=str(row["session_id"])
        )


def check_source(services: Services, source: str) -> None:
    if "\x00" in source:
        raise InvalidInput("source code must not contain NUL characters", field="source_code")
    policy = services.settings.policy
    size = len(source.encode())
    if size > policy.max_source_bytes:
        raise TooLarge(
            f"source code is {size} bytes; the limit is {policy.max_source_bytes}",
            limit=policy.max_source_bytes,
        )


async def entry_point_of(services: Services, row: asyncpg.Record) -> str | None:
    """The file name of the session's source_code (None if no executor runs its language)."""
    try:
        return (await services.catalogue.get(str(row["language_id"]))).file_name
    except NotFound:
        return None


async def visible(services: Services, appended: Appended, **details: Any) -> None:
    """A 2xx means the next read sees the write: 503 (Retry-After) if the projector is behind."""
    if not await services.waiter.wait(appended):
        raise ProjectionBehind(
            "the change is recorded but the projection is behind; read it again shortly",
            **details,
        )


def revision_of(raw: str | None) -> int | None:
    """The revision named by If-Match (`"3"` or `3`), if any."""
    if raw is None or raw.strip() == "*":
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):  # "²".isdigit(), but int("²") fails
        raise InvalidInput('If-Match must name a revision, e.g. "3"', value=raw)
    return int(text)


async def write_session_event(
    services: Services, row: asyncpg.Record, payload: events.Event
) -> bool:
    """Append and wait until visible; True if the event became the next revision, False if
    another change to the session came first (the event then changed nothing)."""
    envelope = new_event(payload)
    appended = await services.eventlog.append(topics.SESSIONS, envelope)
    session_id = str(row["session_id"])
    await visible(services, appended, session_id=session_id)
    applied = await services.db.revision(row["session_id"], row["revision"] + 1)
    return applied is not None and applied == envelope.event_id


def session_response(
    session_id: str, status: str, revision: int, status_code: int = 200
) -> Response[SessionRevision]:
    body = SessionRevision(session_id=session_id, status=status, revision=revision)  # type: ignore[arg-type]
    return Response(body, status_code=status_code, headers={"ETag": f'"{revision}"'})


IF_MATCH = HeaderParameter(
    name="If-Match",
    required=False,
    # Documentation only: revision_of checks it, with our error.
    schema_extra={"pattern": r'^\s*(\*|(W/)?"*[0-9]+"*)\s*$'},
    description='The revision the write expects, e.g. "3" (409 conflict if it is not the '
    "session's current one); absent or * for any.",
)
IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    description="Makes retries safe: every request with the same key (and body) for this "
    "session names the same execution; another body with it is 422.",
)


@post(
    "/code-sessions",
    status_code=201,
    dto=StrictBody[CreateSession],
    return_dto=None,
    response_headers=[ETAG],
    responses=errors(400, 413, 422, 503),
)
async def create_session(
    services: ServicesDep,
    data: Annotated[
        CreateSession | None, Body(description="The session's language and first source.")
    ] = None,
) -> Response[SessionRevision]:
    """A new ACTIVE code session (201): readable at once, at revision 1."""
    body = body_or_default(data, CreateSession, optional=False)
    try:
        language = await services.catalogue.get(body.language_id)
    except NotFound as exc:
        raise InvalidInput(exc.message, language_id=body.language_id) from None
    source = body.source_code if body.source_code is not None else language.template_code
    check_source(services, source)
    files = body.files or {}
    admission.check_files(services, files, source, language.file_name)
    session_id = str(uuid.uuid4())
    created = events.SessionCreated(
        session_id=session_id,
        language_id=language.id,
        source_code=source,
        created_at=datetime.now(UTC),
        files=files,
    )
    appended = await services.eventlog.append(topics.SESSIONS, new_event(created))
    await visible(services, appended, session_id=session_id)
    log.info("session created", extra={"session_id": session_id, "language": language.key})
    return session_response(session_id, "ACTIVE", 1, 201)


@get("/code-sessions/{session_id:str}", response_headers=[ETAG], responses=errors(404, 503))
async def get_session(services: ServicesDep, session_id: FromPath[str]) -> Response[SessionView]:
    """The session's source, language and revision (also its ETag)."""
    row = await load_session(services, session_id)
    try:
        language: LanguageEntry | None = await services.catalogue.get(str(row["language_id"]))
    except NotFound:  # no executor runs it any more; the session itself still exists
        language = None
    view = SessionView(
        session_id=str(row["session_id"]),
        status=row["status"],
        language_id=str(row["language_id"]),
        language_name=language.name if language else None,
        source_code=row["source_code"],
        runtime=language.runtime if language else None,
        version=language.version if language else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revision=row["revision"],
    )
    return Response(view, headers={"ETag": f'"{row["revision"]}"'})


@patch(
    "/code-sessions/{session_id:str}",
    dto=StrictBody[UpdateSession],
    return_dto=None,
    response_headers=[ETAG],
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def update_session(
    services: ServicesDep,
    session_id: FromPath[str],
    data: Annotated[
        UpdateSession | None, Body(description="The whole new source code (and other files).")
    ] = None,
    if_match: Annotated[str | None, IF_MATCH] = None,
) -> Response[SessionRevision]:
    """Autosave: 409 if the session is closed or another write came first (If-Match)."""
    body = body_or_default(data, UpdateSession, optional=False)
    check_source(services, body.source_code)
    row = await load_session(services, session_id)
    files = files_of(row) if body.files is None else body.files
    admission.check_files(services, files, body.source_code, await entry_point_of(services, row))
    require_active(row)
    require_revision(row, revision_of(if_match))
    update = events.SessionCodeUpdated(
        session_id=str(row["session_id"]),
        source_code=body.source_code,
        updated_at=datetime.now(UTC),
        expected_revision=row["revision"],
        files=body.files,
    )
    if not await write_session_event(services, row, update):
        lost_to(await load_session(services, session_id))
    return session_response(str(row["session_id"]), "ACTIVE", row["revision"] + 1)


@get("/code-sessions/{session_id:str}/files", response_headers=[ETAG], responses=errors(404, 503))
async def get_files(services: ServicesDep, session_id: FromPath[str]) -> Response[SessionFiles]:
    """The session's program as files: the entry point's name and source, and the other files
    (GET /code-sessions/{id} shows the source alone, as before files existed)."""
    row = await load_session(services, session_id)
    view = SessionFiles(
        session_id=str(row["session_id"]),
        revision=row["revision"],
        entry_point=await entry_point_of(services, row),
        source_code=row["source_code"],
        files=files_of(row),
    )
    return Response(view, headers={"ETag": f'"{row["revision"]}"'})


@patch(
    "/code-sessions/{session_id:str}/files",
    dto=StrictBody[SaveFile],
    return_dto=None,
    response_headers=[ETAG],
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def save_file(
    services: ServicesDep,
    session_id: FromPath[str],
    data: Annotated[
        SaveFile | None, Body(description="One file's name and whole new content (null: delete).")
    ] = None,
    if_match: Annotated[str | None, IF_MATCH] = None,
) -> Response[SessionRevision]:
    """Autosave of one file: creates, replaces or (content null) deletes it; the entry point's
    name saves `source_code`. 409 like PATCH /code-sessions/{id}; 404 deleting a file that is
    not there; 422 for a name or a program the policy refuses."""
    body = body_or_default(data, SaveFile, optional=False)
    row = await load_session(services, session_id)
    entry_point = await entry_point_of(services, row)
    files = files_of(row)
    now = datetime.now(UTC)
    update: events.Event
    if body.path == entry_point:
        if body.content is None:
            raise InvalidInput(
                f"{entry_point!r} is the entry point; it cannot be deleted", field="path"
            )
        check_source(services, body.content)
        admission.check_files(services, files, body.content, entry_point)
        update = events.SessionCodeUpdated(
            session_id=str(row["session_id"]),
            source_code=body.content,
            updated_at=now,
            expected_revision=row["revision"],
        )
    elif body.content is None:
        if body.path not in files:
            raise NotFound(f"the session has no file {body.path!r}", path=body.path)
        update = events.SessionFileDeleted(
            session_id=str(row["session_id"]),
            path=body.path,
            deleted_at=now,
            expected_revision=row["revision"],
        )
    else:
        admission.check_files(
            services, {**files, body.path: body.content}, row["source_code"], entry_point
        )
        update = events.SessionFileSaved(
            session_id=str(row["session_id"]),
            path=body.path,
            content=body.content,
            updated_at=now,
            expected_revision=row["revision"],
        )
    require_active(row)
    require_revision(row, revision_of(if_match))
    if not await write_session_event(services, row, update):
        lost_to(await load_session(services, session_id))
    return session_response(str(row["session_id"]), "ACTIVE", row["revision"] + 1)


@patch(
    "/code-sessions/{session_id:str}/close",
    response_headers=[ETAG],
    responses=errors(404, 409, 422, 503),
)
async def close_session(
    services: ServicesDep,
    session_id: FromPath[str],
    if_match: Annotated[str | None, IF_MATCH] = None,
) -> Response[SessionRevision]:
    """Closing does not conflict with an autosave (it applies at any revision) unless If-Match
    names the revision it expects."""
    row = await load_session(services, session_id)
    expected = revision_of(if_match)  # malformed is a 422 even when already closed
    if row["status"] == "ACTIVE":
        require_revision(row, expected)
        closed = events.SessionClosed(
            session_id=str(row["session_id"]),
            closed_at=datetime.now(UTC),
            expected_revision=expected,
        )
        appended = await services.eventlog.append(topics.SESSIONS, new_event(closed))
        await visible(services, appended, session_id=str(row["session_id"]))
        row = await load_session(services, session_id)
        if row["status"] == "ACTIVE":
            lost_to(row)
    return session_response(str(row["session_id"]), "INACTIVE", row["revision"])


def require_revision(row: asyncpg.Record, expected: int | None) -> None:
    if expected is not None and expected != row["revision"]:
        raise Conflict(
            f"the session is at revision {row['revision']}, not {expected}",
            session_id=str(row["session_id"]),
            revision=row["revision"],
        )


def lost_to(current: asyncpg.Record) -> None:
    """Our event lost a race: say what the session is now (409), never pretend it was saved."""
    require_active(current)
    raise Conflict(
        "another change to this session came first; read it again and retry",
        session_id=str(current["session_id"]),
        revision=current["revision"],
    )


@get("/code-sessions/{session_id:str}/executions", responses=errors(404, 422, 503))
async def list_executions(
    services: ServicesDep,
    session_id: FromPath[str],
    limit: Annotated[int, QueryParameter(description="How many, 1 to 100; 422 outside.")] = 10,
) -> SessionExecutions:
    """The session's runs, newest first."""
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", limit=limit)
    row = await load_session(services, session_id)
    executions = await services.db.session_executions(row["session_id"], limit)
    return SessionExecutions(
        session_id=str(row["session_id"]),
        executions=[
            ExecutionSummary(
                execution_id=str(e["execution_id"]),
                status=e["status"],
                execution_time_ms=e["execution_time_ms"],
                exit_code=e["exit_code"],
                created_at=e["queued_at"],
            )
            for e in executions
        ],
    )


@post(
    "/code-sessions/{session_id:str}/run",
    status_code=202,
    dto=StrictBody[RunOptions],
    return_dto=None,
    operation_class=OptionalBody,
    response_headers=RATE_LIMIT_HEADERS,
    responses=errors(400, 404, 409, 413, 422, 429, 503),
)
async def run_session(
    services: ServicesDep,
    session_id: FromPath[str],
    request: Request[Any, Any, Any],
    data: Annotated[
        RunOptions | None, Body(description="The run's limits and stdin; may be empty.")
    ] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> Response[RunQueued]:
    """Queue a run of the session's current source (202)."""
    options = body_or_default(data, RunOptions, optional=True)
    row = await load_session(services, session_id)
    require_active(row)
    client = services.proxies.client_of(request)
    queued = await queue_session_run(services, row, options, client, idempotency_key)
    answer = await confirmed(services, queued)
    if not queued.replayed:
        log.info(
            "run requested",
            extra={"execution_id": queued.execution_id, "session_id": str(row["session_id"])},
        )
    headers = admission.rate_headers(queued.admitted) if queued.admitted else {}
    return Response(answer, status_code=202, headers=headers)


async def confirmed(services: Services, queued: Queued) -> RunQueued:
    """The answer once the run is visible (503 projection_behind if it is not in time): QUEUED,
    or for a retry of a keyed run, the execution's current status."""
    await visible(services, queued.appended, execution_id=queued.execution_id)
    status = events.QUEUED
    if queued.replayed:
        row = await services.db.execution(uuid.UUID(queued.execution_id))
        status = row["status"] if row is not None else events.QUEUED
    return RunQueued(execution_id=queued.execution_id, status=status)
