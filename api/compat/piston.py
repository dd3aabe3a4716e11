"""Piston's v2 API (GET /api/v2/runtimes, POST /api/v2/execute) on our engine: a client written
for Piston works when pointed at http://HOST:3000. Its contract is in piston_rules; here the
routes map it onto our services. An execute is synchronous like Piston's: it queues one of our
executions through our one path (api.runs: same admission and safety agent, visible in
GET /executions/{id}) and waits, at most SYNC_RUN_TIMEOUT_S, for it to end.

The first code file is the one run (Piston's main file); the others are placed beside it under
their names, held to our file rules (README: Programs of several files). Not in the OpenAPI
document (tests/unit/test_openapi.py says why).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException

from api import admission
from api.compat import piston_rules as rules
from api.compat.submit import submit, wait_for_end
from api.dto import RunOptions
from api.errors import ApiError
from api.services import Services, ServicesDep
from schemas.events import TERMINAL

log = logging.getLogger("api.piston")


async def available(services: Services) -> list[rules.Runtime]:
    entries = await services.catalogue.entries()
    return rules.runtimes({entry.key: entry.version for entry in entries})


def message(status: int, text: str, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response({"message": text}, status_code=status, headers=headers)


@get("/runtimes")
async def list_runtimes(services: ServicesDep) -> list[dict[str, Any]]:
    """Every language a live executor runs, as Piston lists its runtimes."""
    return [runtime.listed() for runtime in await available(services)]


@post("/execute", status_code=200)
async def execute(services: ServicesDep, request: Request[Any, Any, Any]) -> Response[Any]:
    """Run the first code file (the others beside it) and answer when it ended: `{language,
    version, run, compile?}`."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return message(415, "requests must be of type application/json")
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return message(400, "request body is not valid JSON")
    try:
        job = rules.job_of(body, await available(services), services.settings.policy)
    except rules.Refused as refused:
        return message(400, str(refused))
    options = RunOptions(
        time_limit_ms=job.time_limit_ms, memory_mb=job.memory_mb, stdin=job.stdin, args=job.args
    )
    limits = admission.limits_for(services.settings, options)
    language = await services.catalogue.get(job.runtime.key)
    policy = services.settings.policy
    broken = policy.files_violation(job.files, len(job.source_code.encode()), language.file_name)
    if broken is not None:
        return message(400, broken.message)
    execution_id = await submit(
        services,
        request,
        language=language,
        source_code=job.source_code,
        stdin=job.stdin,
        args=job.args,
        limits=limits,
        files=job.files,
    )
    log.info("piston execute", extra={"execution_id": execution_id, "language": language.key})
    row = await wait_for_end(services, execution_id, services.settings.sync_run_timeout_s)
    if row is None or row["status"] not in TERMINAL:
        return message(
            504,
            f"the run did not end within {services.settings.sync_run_timeout_s:g} s; it is "
            f"execution {execution_id} (GET /executions/{execution_id})",
        )
    if row["error_code"] == "E006":  # refused by our safety rules before it ran
        return message(400, row["error_message"] or "refused by the safety rules")
    if row["error_code"] == "E005":  # a failure of ours, after every retry
        return message(500, row["error_message"] or "internal error")
    finished = rules.Finished(
        key=job.runtime.key,
        status=row["status"],
        error_code=row["error_code"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        stdout=row["stdout"] or "",
        stderr=row["stderr"] or "",
        compile_output=row["compile_output"] or "",
    )
    return Response(rules.result(finished, job.runtime))


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    """Our own refusals (rate limits, queue caps, a dependency down) in Piston's shape."""
    return message(exc.status_code, exc.message, exc.headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return message(exc.status_code, exc.detail, exc.headers)


router = Router(
    path="/api/v2",
    route_handlers=[list_runtimes, execute],
    exception_handlers={ApiError: api_error, HTTPException: http_error},
    include_in_schema=False,
)
