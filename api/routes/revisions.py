"""A code session's revisions: each applied session event (created, every autosave, closed) is
one, with the code it left; an old one can be restored as a new autosave."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar import Request, Response, get, post
from litestar.params import FromPath

from api.errors import NotFound
from api.routes.sessions import (
    load_session,
    lost_to,
    require_active,
    require_revision,
    revision_of,
    session_response,
    write_session_event,
)
from api.services import Services, ServicesDep
from schemas import events


def revision_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "revision": row["revision"],
        "event_id": str(row["event_id"]),
        "kind": row["kind"],
        "at": row["at"],
    }


async def load_revision(services: Services, session: asyncpg.Record, n: int) -> asyncpg.Record:
    row = await services.db.revision_with_code(session["session_id"], n)
    if row is None:
        raise NotFound(
            f"code session {session['session_id']} has no revision {n}",
            session_id=str(session["session_id"]),
            revision=n,
        )
    return row


@get("/code-sessions/{session_id:str}/revisions")
async def list_revisions(services: ServicesDep, session_id: FromPath[str]) -> dict[str, Any]:
    session = await load_session(services, session_id)
    rows = await services.db.revisions(session["session_id"])
    return {
        "session_id": str(session["session_id"]),
        "revision": session["revision"],
        "revisions": [{**revision_view(r), "source_bytes": r["source_length"]} for r in rows],
    }


@get("/code-sessions/{session_id:str}/revisions/{n:int}")
async def get_revision(
    services: ServicesDep, session_id: FromPath[str], n: FromPath[int]
) -> dict[str, Any]:
    session = await load_session(services, session_id)
    row = await load_revision(services, session, n)
    return {
        "session_id": str(session["session_id"]),
        **revision_view(row),
        "source_code": row["source_code"],
    }


@post("/code-sessions/{session_id:str}/revisions/{n:int}/restore")
async def restore_revision(
    services: ServicesDep,
    session_id: FromPath[str],
    n: FromPath[int],
    request: Request[Any, Any, Any],
) -> Response[dict[str, Any]]:
    """An autosave of revision n's code: answered like PATCH /code-sessions/{id}, with its 409s
    (If-Match naming another revision, or another change that came first)."""
    session = await load_session(services, session_id)
    old = await load_revision(services, session, n)
    require_active(session)
    require_revision(session, revision_of(request))
    update = events.SessionCodeUpdated(
        session_id=str(session["session_id"]),
        source_code=old["source_code"],
        updated_at=datetime.now(UTC),
        expected_revision=session["revision"],
    )
    if not await write_session_event(services, session, update):
        lost_to(await load_session(services, session_id))
    return session_response(
        {"session_id": str(session["session_id"]), "status": "ACTIVE", "restored": n},
        session["revision"] + 1,
    )
