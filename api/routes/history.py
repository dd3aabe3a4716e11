"""An execution's history from the log, and re-running its logged snapshot.

The history comes from `execution_history`, which the projector fills with every execution event
and its place in the log (topic, partition, offset) as it applies it: a fast read for the API.
Auditors who must not trust the projection read Kafka itself (`python -m projections audit`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from litestar import Request, Response, get, post
from litestar.params import FromPath

from api import admission
from api.contract import ExecutionHistory, HistoryEvent, Rerun, errors
from api.errors import Conflict
from api.routes.executions import load_execution
from api.routes.sessions import visible
from api.services import ServicesDep
from api.snapshot import request_of
from api.stdin import open_input
from api.tracing import trace_headers
from eventlog import topics
from schemas import events, new_event

log = logging.getLogger("api.history")


@get("/executions/{execution_id:str}/history", responses=errors(404, 503))
async def execution_history(services: ServicesDep, execution_id: FromPath[str]) -> ExecutionHistory:
    """Every event of the execution in the order it happened (then by its place in the log)."""
    row = await load_execution(services, execution_id)
    recorded = await services.db.history(row["execution_id"])
    return ExecutionHistory(
        execution_id=str(row["execution_id"]),
        events=[
            HistoryEvent(
                topic=r["topic"],
                partition=r["partition"],
                offset=r["offset"],
                event_id=str(r["event_id"]),
                type=r["type"],
                version=r["version"],
                occurred_at=r["occurred_at"],
                payload=orjson.loads(r["payload"]),
            )
            for r in recorded
        ],
    )


@post("/executions/{execution_id:str}/rerun", status_code=202, responses=errors(404, 409, 429, 503))
async def rerun_execution(
    services: ServicesDep, execution_id: FromPath[str], request: Request[Any, Any, Any]
) -> Response[Rerun]:
    """Run the execution's logged snapshot again as a new execution linked to it; its result
    then says whether stdout, stderr and the exit code matched the original's."""
    row = await load_execution(services, execution_id)
    if row["queued_at"] is None or row["source_code"] is None:
        raise Conflict(
            "the execution's request is not projected yet; retry shortly",
            execution_id=str(row["execution_id"]),
        )
    await services.fleet.require_executor(row["language_key"])
    session_key = str(row["session_id"])
    new_id = str(uuid.uuid4())
    admitted = await admission.admit(
        services, session_key, services.proxies.client_of(request), new_id
    )
    headers, traceparent = trace_headers("RunRequested", new_id)
    requested = request_of(
        row, new_id, datetime.now(UTC), traceparent, rerun_of=str(row["execution_id"])
    )
    await open_input(services, requested)
    appended = await services.eventlog.append(topics.REQUESTED, new_event(requested), headers)
    await visible(services, appended, execution_id=new_id)
    log.info("rerun requested", extra={"execution_id": new_id, "rerun_of": requested.rerun_of})
    return Response(
        Rerun(execution_id=new_id, status=events.QUEUED, rerun_of=str(row["execution_id"])),
        status_code=202,
        headers=admission.rate_headers(admitted),
    )
