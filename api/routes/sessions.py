"""Code sessions: create, read, autosave, close, list executions, and run."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery

from api import admission
from api.dto import CreateSession, RunOptions, UpdateSession, parse_body
from api.errors import InvalidInput, NotFound, SessionClosed, TooLarge
from api.services import Services, ServicesDep
from api.tracing import trace_headers
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


async def append_session_event(services: Services, payload: events.SessionEvent) -> None:
    appended = await services.eventlog.append(topics.SESSIONS, new_event(payload))
    await services.waiter.wait(appended)


@post("/code-sessions")
async def create_session(
    services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    body = parse_body(await request.body(), CreateSession)
    try:
        language = await services.catalogue.get(body.language_id)
    except NotFound as exc:
        raise InvalidInput(exc.message, language_id=body.language_id) from None
    source = body.source_code if body.source_code is not None else language.template_code
    check_source(services, source)
    session_id = str(uuid.uuid4())
    await append_session_event(
        services,
        events.SessionCreated(
            session_id=session_id,
            language_id=language.id,
            source_code=source,
            created_at=datetime.now(UTC),
        ),
    )
    log.info("session created", extra={"session_id": session_id, "language": language.key})
    return Response({"session_id": session_id, "status": "ACTIVE"}, status_code=201)


@get("/code-sessions/{session_id:str}")
async def get_session(services: ServicesDep, session_id: FromPath[str]) -> dict[str, Any]:
    row = await load_session(services, session_id)
    try:
        language: LanguageEntry | None = await services.catalogue.get(str(row["language_id"]))
    except NotFound:  # no executor runs it any more; the session itself still exists
        language = None
    return {
        "session_id": str(row["session_id"]),
        "status": row["status"],
        "language_id": str(row["language_id"]),
        "language_name": language.name if language else None,
        "source_code": row["source_code"],
        "runtime": language.runtime if language else None,
        "version": language.version if language else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


@patch("/code-sessions/{session_id:str}")
async def update_session(
    services: ServicesDep, session_id: FromPath[str], request: Request[Any, Any, Any]
) -> dict[str, Any]:
    body = parse_body(await request.body(), UpdateSession)
    check_source(services, body.source_code)
    row = await load_session(services, session_id)
    require_active(row)
    await append_session_event(
        services,
        events.SessionCodeUpdated(
            session_id=str(row["session_id"]),
            source_code=body.source_code,
            updated_at=datetime.now(UTC),
        ),
    )
    return {"session_id": str(row["session_id"]), "status": "ACTIVE"}


@patch("/code-sessions/{session_id:str}/close")
async def close_session(services: ServicesDep, session_id: FromPath[str]) -> dict[str, Any]:
    row = await load_session(services, session_id)
    if row["status"] == "ACTIVE":
        await append_session_event(
            services,
            events.SessionClosed(session_id=str(row["session_id"]), closed_at=datetime.now(UTC)),
        )
    return {"session_id": str(row["session_id"]), "status": "INACTIVE"}


@get("/code-sessions/{session_id:str}/executions")
async def list_executions(
    services: ServicesDep, session_id: FromPath[str], limit: FromQuery[int] = 10
) -> dict[str, Any]:
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", limit=limit)
    row = await load_session(services, session_id)
    executions = await services.db.session_executions(row["session_id"], limit)
    return {
        "session_id": str(row["session_id"]),
        "executions": [
            {
                "execution_id": str(e["execution_id"]),
                "status": e["status"],
                "execution_time_ms": e["execution_time_ms"],
                "exit_code": e["exit_code"],
                "created_at": e["queued_at"],
            }
            for e in executions
        ],
    }


@post("/code-sessions/{session_id:str}/run")
async def run_session(
    services: ServicesDep, session_id: FromPath[str], request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    options = parse_body(await request.body(), RunOptions, optional=True)
    row = await load_session(services, session_id)
    require_active(row)
    session_key = str(row["session_id"])
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key:
        previous = await admission.previous_run(services, session_key, idempotency_key)
        if previous is not None:
            return Response({"execution_id": previous, "status": "QUEUED"}, status_code=202)
    limits = admission.limits_for(services.settings, options)
    stdin = options.stdin or ""
    language = await services.catalogue.get(str(row["language_id"]))
    await admission.admit(services, session_key, admission.client_of(request))
    execution_id = str(uuid.uuid4())
    if idempotency_key and not await admission.claim(
        services, session_key, idempotency_key, execution_id
    ):
        # a concurrent request with the same key won the claim: answer as it did
        previous = await admission.previous_run(services, session_key, idempotency_key)
        return Response({"execution_id": previous, "status": "QUEUED"}, status_code=202)
    headers, traceparent = trace_headers("RunRequested", execution_id)
    requested = events.RunRequested(
        execution_id=execution_id,
        session_id=session_key,
        language=events.LanguageRef(
            id=language.id, key=language.key, name=language.name, version=language.version
        ),
        source_code=row["source_code"],
        stdin=stdin,
        limits=limits,
        requested_at=datetime.now(UTC),
        traceparent=traceparent,
    )
    appended = await services.eventlog.append(topics.REQUESTED, new_event(requested), headers)
    await services.waiter.wait(appended)
    log.info(
        "run requested",
        extra={"execution_id": execution_id, "session_id": session_key, "language": language.key},
    )
    return Response({"execution_id": execution_id, "status": "QUEUED"}, status_code=202)
