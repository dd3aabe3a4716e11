"""A code session's revisions: each applied session event (created, every autosave, closed) is
one, with the code it left; an old one can be restored as a new autosave."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from litestar import Response, get, post
from litestar.params import FromPath

from api.contract import (
    ETAG,
    RevisionDetail,
    RevisionList,
    RevisionSummary,
    SessionRevision,
    errors,
)
from api.errors import NotFound
from api.routes.sessions import (
    IF_MATCH,
    load_session,
    lost_to,
    require_active,
    require_revision,
    revision_of,
    session_response,
    write_session_event,
)
from api.services import Services, ServicesDep
from api.snapshot import files_of
from schemas import events


async def load_revision(services: Services, session: asyncpg.Record, n: int) -> asyncpg.Record:
    # A revision is a PostgreSQL integer: anything beyond is no revision, not a server error.
    row = await services.db.revision_with_code(session["session_id"], n) if 1 <= n < 2**31 else None
    if row is None:
        raise NotFound(
            f"code session {session['session_id']} has no revision {n}",
            session_id=str(session["session_id"]),
            revision=n,
        )
    return row


@get("/code-sessions/{session_id:str}/revisions", responses=errors(404, 503))
async def list_revisions(services: ServicesDep, session_id: FromPath[str]) -> RevisionList:
    """Every applied event of the session (created, each autosave, closed), oldest first."""
    session = await load_session(services, session_id)
    rows = await services.db.revisions(session["session_id"])
    return RevisionList(
        session_id=str(session["session_id"]),
        revision=session["revision"],
        revisions=[
            RevisionSummary(
                revision=r["revision"],
                event_id=str(r["event_id"]),
                kind=r["kind"],
                at=r["at"],
                source_bytes=r["source_length"],
            )
            for r in rows
        ],
    )


@get("/code-sessions/{session_id:str}/revisions/{n:int}", responses=errors(404, 503))
async def get_revision(
    services: ServicesDep, session_id: FromPath[str], n: FromPath[int]
) -> RevisionDetail:
    """One revision of the session, with the code it left; 404 for an unknown one."""
    session = await load_session(services, session_id)
    row = await load_revision(services, session, n)
    return RevisionDetail(
        session_id=str(session["session_id"]),
        revision=row["revision"],
        event_id=str(row["event_id"]),
        kind=row["kind"],
        at=row["at"],
        source_code=row["source_code"],
        files=files_of(row),
    )


@post(
    "/code-sessions/{session_id:str}/revisions/{n:int}/restore",
    status_code=200,
    response_headers=[ETAG],
    responses=errors(404, 409, 422, 503),
)
async def restore_revision(
    services: ServicesDep,
    session_id: FromPath[str],
    n: FromPath[int],
    if_match: Annotated[str | None, IF_MATCH] = None,
) -> Response[SessionRevision]:
    """An autosave of revision n's code: answered like PATCH /code-sessions/{id}, with its 409s
    (If-Match naming another revision, or another change that came first)."""
    session = await load_session(services, session_id)
    old = await load_revision(services, session, n)
    require_active(session)
    require_revision(session, revision_of(if_match))
    update = events.SessionCodeUpdated(
        session_id=str(session["session_id"]),
        source_code=old["source_code"],
        updated_at=datetime.now(UTC),
        expected_revision=session["revision"],
        files=files_of(old),
    )
    if not await write_session_event(services, session, update):
        lost_to(await load_session(services, session_id))
    return session_response(str(session["session_id"]), "ACTIVE", session["revision"] + 1)
