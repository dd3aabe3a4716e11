"""Executions: the result when done, the status while not; live events over SSE."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from litestar import get
from litestar.params import FromPath
from litestar.response import ServerSentEvent

from api.contract import errors
from api.dto import ExecutionResult, ExecutionState
from api.errors import NotFound
from api.results import present, with_rerun
from api.routes.sessions import parse_id
from api.services import Services, ServicesDep
from api.streams import LAST_EVENT_ID, event_stream_spec, open_stream, resume_after, server_sent


async def load_execution(services: Services, execution_id: str) -> asyncpg.Record:
    row = await services.db.execution(parse_id(execution_id, "execution"))
    if row is None:
        raise NotFound(f"no execution with id {execution_id!r}", execution_id=execution_id)
    return row


@get("/executions/{execution_id:str}", responses=errors(404, 503))
async def get_execution(
    services: ServicesDep, execution_id: FromPath[str]
) -> ExecutionState | ExecutionResult:
    """QUEUED or RUNNING: `{execution_id, status}`; COMPLETED, FAILED or TIMEOUT: the result."""
    row = await load_execution(services, execution_id)
    return await with_rerun(services, row, present(row))


EVENT_STREAM = event_stream_spec(
    "`event: status` (data: the status) on each change, `event: output` (data: JSON `{stream, "
    "data, attempt}`) as the program prints, `event: truncated` (data: JSON `{stream, attempt}`) "
    "when a stream reaches the run's output cap (the rest of it is dropped), then `event: "
    "result` (data: the JSON of GET /executions/{execution_id}) and the end of the stream."
)


@get(
    "/executions/{execution_id:str}/events", responses={200: EVENT_STREAM, **errors(404, 422, 503)}
)
async def execution_events(
    services: ServicesDep,
    execution_id: FromPath[str],
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
) -> ServerSentEvent:
    """Server-sent events, resumable: `status` on each change, `output` chunks live,
    `truncated` when output is cut, `result` at the end."""
    after = resume_after(last_event_id)
    row = await load_execution(services, execution_id)
    return server_sent(await open_stream(services, "execution", row["execution_id"], after))
