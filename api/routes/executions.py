"""Executions: the result when done, the status while not; live events over SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import asyncpg
import msgspec
import orjson
import redis.asyncio as aioredis
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.contract import errors
from api.dto import (
    RESULT_COLUMNS,
    ExecutionResult,
    ExecutionState,
    LanguageView,
    RerunComparison,
)
from api.errors import DependencyDown, NotFound
from api.routes.sessions import parse_id
from api.services import Services, ServicesDep
from api.snapshot import from_json
from schemas.events import TERMINAL, Judgement


def present(row: asyncpg.Record) -> ExecutionState | ExecutionResult:
    execution_id = str(row["execution_id"])
    if row["status"] not in TERMINAL:
        return ExecutionState(execution_id=execution_id, status=row["status"])
    values = {name: row[name] for name in RESULT_COLUMNS}
    values["test_results"] = from_json(row, "test_results", Judgement)
    return ExecutionResult(
        **values,
        execution_id=execution_id,
        session_id=str(row["session_id"]) if row["session_id"] else None,
        language=LanguageView(
            id=str(row["language_id"]) if row["language_id"] else None,
            name=row["language_name"],
            version=row["language_version"],
        ),
    )


async def with_rerun(
    services: Services, row: asyncpg.Record, result: ExecutionState | ExecutionResult
) -> ExecutionState | ExecutionResult:
    """A finished re-run (POST /executions/{id}/rerun) says whether it reproduced the original:
    None where the original has no outcome (yet)."""
    if not isinstance(result, ExecutionResult) or row["rerun_of"] is None:
        return result
    original = await services.db.execution(row["rerun_of"])
    done = original is not None and original["status"] in TERMINAL

    def same(column: str) -> bool | None:
        return bool(row[column] == original[column]) if done and original is not None else None

    comparison = RerunComparison(
        of=str(row["rerun_of"]),
        stdout_matches=same("stdout"),
        stderr_matches=same("stderr"),
        exit_code_matches=same("exit_code"),
    )
    return msgspec.structs.replace(result, rerun=comparison)


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


EVENT_STREAM = ResponseSpec(
    data_container=str,
    media_type="text/event-stream",
    description="`event: status` (data: the status) now and on each change, `event: output` "
    "(data: JSON `{stream, data, ...}`) as the program prints, then `event: result` (data: "
    "the JSON of GET /executions/{execution_id}) and the end of the stream; a comment "
    "(keep-alive) every 15 s of silence.",
    generate_examples=False,
)


@get("/executions/{execution_id:str}/events", responses={200: EVENT_STREAM, **errors(404, 503)})
async def execution_events(services: ServicesDep, execution_id: FromPath[str]) -> ServerSentEvent:
    """Server-sent events: `status` on each change, `output` chunks live, `result` at the end."""
    row = await load_execution(services, execution_id)
    pubsub = services.redis.pubsub()
    try:
        await pubsub.subscribe(f"execution:{row['execution_id']}")
    except (aioredis.RedisError, OSError) as exc:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        raise DependencyDown("Redis is unavailable", service="redis") from exc

    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        try:
            # Subscribed before this read, so no change between the two is lost.
            current = await load_execution(services, execution_id)
            yield ServerSentEventMessage(event="status", data=current["status"])
            while current["status"] not in TERMINAL:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=15.0)
                if message is None:
                    yield ServerSentEventMessage(comment="keep-alive")
                    current = await load_execution(services, execution_id)
                    continue
                event = orjson.loads(message["data"])
                if event["event"] == "output":
                    yield ServerSentEventMessage(event="output", data=orjson.dumps(event).decode())
                elif event["event"] == "status":
                    yield ServerSentEventMessage(event="status", data=event["status"])
                    if event["status"] in TERMINAL:
                        current = await load_execution(services, execution_id)
            yield ServerSentEventMessage(
                # msgspec, as Litestar's own responses, so timestamps match GET /executions/{id}
                event="result",
                data=msgspec.json.encode(
                    await with_rerun(services, current, present(current))
                ).decode(),
            )
        finally:
            await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]

    return ServerSentEvent(stream())
