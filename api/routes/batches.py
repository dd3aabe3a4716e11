"""Batches: several runs queued in one request, several executions read in one."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Body, QueryParameter

from api.contract import BatchEntry, BatchQueued, ErrorBody, errors
from api.dto import BatchRun, ExecutionBatch, RunBatch, StrictBody, body_or_default
from api.errors import ApiError, InvalidInput, error_body
from api.results import present, with_rerun
from api.routes.sessions import confirmed, load_session, require_active
from api.runs import Queued, queue_session_run
from api.services import Services, ServicesDep

log = logging.getLogger("api.batches")


def refused(error: ApiError, execution_id: str | None = None) -> BatchEntry:
    body = error_body(error.code, error.message, error.details)
    return BatchEntry(
        status_code=error.status_code,
        execution_id=execution_id,
        error=ErrorBody(**body),
    )


async def queue_entry(services: Services, run: BatchRun, client: str) -> Queued | BatchEntry:
    try:
        row = await load_session(services, run.session_id)
        require_active(row)
        return await queue_session_run(services, row, run.options(), client, run.idempotency_key)
    except ApiError as exc:
        return refused(exc)


async def answer(services: Services, queued: Queued | BatchEntry) -> BatchEntry:
    if isinstance(queued, BatchEntry):
        return queued
    try:
        done = await confirmed(services, queued)
    except ApiError as exc:  # projection_behind: recorded, not yet visible
        return refused(exc, queued.execution_id)
    return BatchEntry(status_code=202, execution_id=done.execution_id, status=done.status)


@post(
    "/runs/batch",
    status_code=200,
    dto=StrictBody[RunBatch],
    return_dto=None,
    responses=errors(413, 422, 503),
)
async def run_batch(
    services: ServicesDep,
    request: Request[Any, Any, Any],
    data: Annotated[RunBatch | None, Body(description="The runs, each naming its session.")] = None,
) -> BatchQueued:
    """Queue up to MAX_BATCH_RUNS runs at once (200): each entry, in the position of its run, is
    what POST /code-sessions/{id}/run would have answered for it (202 and its execution, or
    the error: a 429 for a run over the session's rate, for instance); one refused run refuses
    no other. The whole batch is refused only when malformed (400), too large (413) or
    holding no or too many runs (422)."""
    body = body_or_default(data, RunBatch, optional=False)
    limit = services.settings.max_batch_runs
    if not 1 <= len(body.runs) <= limit:
        raise InvalidInput(f"a batch holds 1 to {limit} runs", field="runs", value=len(body.runs))
    client = services.proxies.client_of(request)
    # One after the other, in order: rate limits and queue caps count the runs in their places.
    queued = [await queue_entry(services, run, client) for run in body.runs]
    entries = await asyncio.gather(*(answer(services, q) for q in queued))
    log.info(
        "batch queued",
        extra={"runs": len(entries), "queued": sum(e.status_code == 202 for e in entries)},
    )
    return BatchQueued(runs=list(entries))


@get("/executions", responses=errors(422, 503))
async def get_executions(
    services: ServicesDep,
    ids: Annotated[
        str,
        QueryParameter(
            description="Comma-separated execution ids, 1 to MAX_BATCH_RUNS (20); 422 outside."
        ),
    ],
) -> ExecutionBatch:
    """Several executions at once, in the order asked for: each as GET /executions/{id}
    answers it, or null for an id that names none (listed in `unknown`, not an error)."""
    wanted = [part.strip() for part in ids.split(",")]
    limit = services.settings.max_batch_runs
    if not 1 <= len(wanted) <= limit or not all(wanted):
        raise InvalidInput(f"ids must be 1 to {limit} comma-separated execution ids", ids=ids)
    parsed: dict[str, uuid.UUID] = {}
    for raw in wanted:
        try:
            parsed[raw] = uuid.UUID(raw)
        except ValueError:
            continue  # no execution has it: unknown, like any other
    rows = {r["execution_id"]: r for r in await services.db.executions(list(parsed.values()))}
    found: list[Any] = []
    unknown = []
    for raw in wanted:
        row = rows.get(parsed[raw]) if raw in parsed else None
        if row is None:
            found.append(None)
            unknown.append(raw)
        else:
            found.append(await with_rerun(services, row, present(row)))
    return ExecutionBatch(executions=found, unknown=unknown)
