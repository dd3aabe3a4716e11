"""A code session's live stream over SSE: its revisions and its runs, for every editor open on it."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from api.contract import errors
from api.routes.sessions import load_session
from api.services import ServicesDep
from api.streams import LAST_EVENT_ID, event_stream_spec, open_stream, resume_after, server_sent

SESSION_STREAM = event_stream_spec(
    "`event: revision` (data: JSON `{revision, kind, source_code, at}`) for each change of the "
    "session (created, autosaved, closed); for each of its runs `event: status` (data: JSON "
    "`{execution_id, status}`; QUEUED is a new run), `event: output` (JSON `{execution_id, "
    "stream, data, attempt}`), `event: truncated` (JSON `{execution_id, stream, attempt}`) and "
    "`event: result` (the JSON of GET /executions/{id}). The stream does not end by itself."
)


@get(
    "/code-sessions/{session_id:str}/events",
    responses={200: SESSION_STREAM, **errors(404, 422, 503)},
)
async def session_events(
    services: ServicesDep,
    session_id: FromPath[str],
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
) -> ServerSentEvent:
    """Server-sent events of a session, resumable: autosaves, runs queued, their status,
    output and results, so that two editors on one session stay in step."""
    after = resume_after(last_event_id)
    row = await load_session(services, session_id)
    return server_sent(await open_stream(services, "session", row["session_id"], after))
