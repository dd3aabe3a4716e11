"""Dead letters: runs that failed for reasons of ours after their last attempt (E005).

An operator can list them, look at one, and requeue it: a RunRequeued event (to the retry
agent, which records it in the execution's history and dispatches it) runs it again as a new
attempt of the same execution, with the limits it was accepted with.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import orjson
from litestar import Response, get, post
from litestar.params import Body, FromPath, QueryParameter

from api.contract import DeadLetter, DeadLetterPage, Requeued, errors
from api.dto import OptionalBody, RequeueOptions, StrictBody, body_or_default
from api.errors import Conflict, InvalidInput, NotFound, ProjectionBehind
from api.routes.sessions import parse_id
from api.services import Services, ServicesDep
from api.snapshot import request_of
from api.stdin import open_input
from api.tracing import trace_headers
from eventlog import topics
from schemas import events, new_event


def entry(row: asyncpg.Record) -> DeadLetter:
    return DeadLetter(
        execution_id=str(row["execution_id"]),
        attempts=row["attempts"],
        reason=row["reason"],
        dead_lettered_at=row["dead_lettered_at"],
        status=row["status"],
        attempt=row["attempt"],
        session_id=str(row["session_id"]) if row["session_id"] else None,
        language=row["language_key"],
    )


def _cursor(row: asyncpg.Record) -> str:
    raw = orjson.dumps([row["dead_lettered_at"].isoformat(), str(row["execution_id"])])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID]:
    if not cursor:
        return datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1)
    try:
        at, execution_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), uuid.UUID(execution_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("cursor is not one this API gave", cursor=cursor) from None


@get("/dead-letters", responses=errors(422, 503))
async def list_dead_letters(
    services: ServicesDep,
    limit: Annotated[int, QueryParameter(description="How many, 1 to 100; 422 outside.")] = 20,
    cursor: Annotated[
        str | None, QueryParameter(description="`next_cursor` of the previous page; 422 if forged.")
    ] = None,
) -> DeadLetterPage:
    """Runs that failed for reasons of ours (E005) after their last attempt, newest first;
    `next_cursor` fetches the next page."""
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be between 1 and 100", limit=limit)
    at, execution_id = _after(cursor)
    rows = await services.db.dead_letters(at, execution_id, limit + 1)
    page = rows[:limit]
    return DeadLetterPage(
        dead_letters=[entry(r) for r in page],
        next_cursor=_cursor(page[-1]) if len(rows) > limit else None,
    )


async def _load(services: Services, execution_id: str) -> asyncpg.Record:
    row = await services.db.dead_letter(parse_id(execution_id, "dead letter"))
    if row is None:
        raise NotFound(f"no dead letter for execution {execution_id!r}", execution_id=execution_id)
    return row


@get("/dead-letters/{execution_id:str}", responses=errors(404, 503))
async def get_dead_letter(services: ServicesDep, execution_id: FromPath[str]) -> DeadLetter:
    """One dead letter, by its execution's id."""
    return entry(await _load(services, execution_id))


async def requeue_visible(services: Services, execution_id: uuid.UUID, attempt: int) -> None:
    """Until the execution shows the new attempt (a 2xx means the next read sees it)."""
    deadline = time.monotonic() + services.settings.read_your_writes_timeout_s
    while True:
        row = await services.db.execution(execution_id)
        if row is not None and row["attempt"] >= attempt:
            return
        if time.monotonic() > deadline:
            raise ProjectionBehind(
                "the requeue is recorded but not yet visible; read it again shortly",
                execution_id=str(execution_id),
            )
        await asyncio.sleep(0.02)


@post(
    "/dead-letters/{execution_id:str}/requeue",
    status_code=202,
    dto=StrictBody[RequeueOptions],
    return_dto=None,
    operation_class=OptionalBody,
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def requeue_dead_letter(
    services: ServicesDep,
    execution_id: FromPath[str],
    data: Annotated[RequeueOptions | None, Body(description="Why; may be empty.")] = None,
) -> Response[Requeued]:
    """Run it again as a new attempt of the same execution (202); 409 unless it is dead-lettered."""
    options = body_or_default(data, RequeueOptions, optional=True)
    row = await _load(services, execution_id)
    if row["status"] != "FAILED" or row["error_code"] != "E005":
        raise Conflict(
            f"execution {execution_id} is {row['status']}, not dead-lettered: nothing to requeue",
            execution_id=execution_id,
            status=row["status"],
        )
    attempt = row["attempt"] + 1
    headers, traceparent = trace_headers("RunRequeued", str(row["execution_id"]))
    requeued = events.RunRequeued(
        execution_id=str(row["execution_id"]),
        attempt=attempt,
        reason=options.reason or "requeued by an operator",
        request=request_of(row, str(row["execution_id"]), row["queued_at"], traceparent),
        requeued_at=datetime.now(UTC),
    )
    # An interactive run's stdin channel may have expired meanwhile: made again, so that a
    # client can drive the new attempt over the WebSocket.
    await open_input(services, requeued.request)
    # To the retry agent, which records it in the execution's history and dispatches it.
    await services.eventlog.append(topics.RETRY, new_event(requeued), headers)
    await requeue_visible(services, row["execution_id"], attempt)
    return Response(
        Requeued(execution_id=str(row["execution_id"]), status="QUEUED", attempt=attempt),
        status_code=202,
    )
