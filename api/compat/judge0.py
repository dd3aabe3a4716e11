"""Judge0 CE 1.13.1's API under /judge0, on our engine: a client written for Judge0 works when
pointed at http://HOST:3000/judge0. Its contract is pure and apart: ids, statuses, Base64
and fields in judge0_contract, the verdict and answers in judge0_answers, the checks of a
submission in judge0_validation; here each route maps it onto our services. A submission is one of our executions
(the token is its execution id), queued through our one path (api.runs): same admission, same
safety agent, same log and projection, visible in GET /executions/{token} too.

Not in the OpenAPI document (tests/unit/test_openapi.py says why): Judge0's contract is its own.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery

from api import admission
from api.compat import judge0_validation as validation
from api.compat.submit import submit, wait_for_end
from api.dto import RunOptions
from api.errors import ApiError, InvalidInput
from api.services import Services, ServicesDep
from dropin import judge0_answers as answers
from dropin import judge0_contract as contract
from schemas.events import Judge0Attributes

log = logging.getLogger("api.judge0")

NOT_UTF8 = (
    "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true "
    "query parameter"
)
NOT_UTF8_BATCH = (
    "some attributes for one or more submissions cannot be converted to UTF-8, use "
    "base64_encoded=true query parameter"
)
NOT_FOUND = {"status": 404, "error": "Not Found"}  # Rails's answer to an unknown record


class Judge0Error(Exception):
    """An answer in Judge0's shape, raised from deep in a route."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def config(services: Services) -> contract.Config:
    return contract.Config(
        policy=services.settings.policy, max_queue_size=services.settings.max_queued_total
    )


def fields_of(raw: str | None) -> tuple[str, ...]:
    fields, invalid = contract.requested_fields(raw)
    if invalid:
        raise Judge0Error(400, {"error": contract.invalid_fields_error(invalid)})
    return fields


def run_of(row: asyncpg.Record) -> answers.Run:
    return answers.Run(
        token=str(row["execution_id"]),
        status=row["status"],
        language_key=row["language_key"] or "",
        error_code=row["error_code"],
        error_message=row["error_message"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        stdout=row["stdout"] or "",
        stderr=row["stderr"] or "",
        compile_output=row["compile_output"] or "",
        cpu_time_ms=row["cpu_time_ms"],
        execution_time_ms=row["execution_time_ms"],
        memory_peak_kb=row["memory_peak_kb"],
        source_code=row["source_code"] or "",
        stdin=row["stdin"] or "",
        created_at=row["queued_at"],
        finished_at=row["finished_at"],
        time_limit_ms=row["time_limit_ms"],
        memory_mb=row["memory_mb"],
        invalid_utf8=tuple(row["invalid_utf8"] or ()),
    )


def answer(
    services: Services, row: asyncpg.Record, fields: tuple[str, ...], base64_encoded: bool
) -> dict[str, Any]:
    """The submission as Judge0 serialises it; NotUtf8 when text must be Base64."""
    asked = msgspec.json.decode(row["judge0"], type=Judge0Attributes) if row["judge0"] else None
    run = run_of(row)
    values = answers.attributes(run, asked, config(services))
    return answers.present(values, fields, base64_encoded, answers.not_utf8(run, asked))


async def row_of(services: Services, token: str) -> asyncpg.Record | None:
    try:
        key = uuid.UUID(token)
    except ValueError:
        return None
    return await services.db.execution(key)


def flag(value: str | None) -> bool:
    return value == "true"  # Judge0 reads only the exact "true"


async def available(services: Services) -> set[str]:
    return {entry.key for entry in await services.catalogue.entries()}


@get("/about", sync_to_thread=False)
def about() -> dict[str, Any]:
    """Judge0's about: the version clients map language ids with."""
    return {
        "version": contract.VERSION,
        "homepage": None,
        "source_code": None,
        "maintainer": "runbox (a Judge0 CE-compatible API)",
    }


@get("/config_info")
async def config_info(services: ServicesDep) -> dict[str, Any]:
    """Judge0's configuration variables, as this engine honours them."""
    return config(services).info()


@get("/statuses", sync_to_thread=False)
def statuses() -> list[dict[str, Any]]:
    """Judge0's 14 statuses."""
    return [{"id": id_, "description": text} for id_, text in contract.STATUSES]


@get("/languages")
async def languages(services: ServicesDep) -> list[dict[str, Any]]:
    """Judge0's entries (ids and names of 1.13.1) for every language a live executor runs."""
    running = await available(services)
    entries = [(id_, name) for id_, name, key in contract.LANGUAGES if key in running]
    return [{"id": id_, "name": name} for id_, name in sorted(entries, key=lambda e: e[1])]


@get("/languages/{language_id:str}")
async def language(services: ServicesDep, language_id: FromPath[str]) -> Response[dict[str, Any]]:
    """One entry: Judge0's id and name, our source file name; 404 if we do not run it."""
    judge0_id = int(language_id) if language_id.isascii() and language_id.isdigit() else None
    key = contract.KEY_OF.get(judge0_id) if judge0_id is not None else None
    if judge0_id is None or key is None or key not in await available(services):
        return Response(NOT_FOUND, status_code=404)
    entry = await services.catalogue.get(key)
    body = {
        "id": judge0_id,
        "name": contract.NAME_OF[judge0_id],
        "is_archived": False,
        "source_file": entry.file_name,
        "compile_cmd": None,  # ours are the sandbox's (sandbox/languages/*.toml), not a shell line
        "run_cmd": None,
    }
    return Response(body)


async def create(
    services: Services, request: Request[Any, Any, Any], body: Any, base64_encoded: bool
) -> str | validation.FieldErrors:
    """Validate one submission and queue it: its token, or Judge0's field errors."""
    checked = validation.validate(body, config(services), await available(services), base64_encoded)
    if isinstance(checked, dict):
        return checked
    options = RunOptions(
        time_limit_ms=checked.time_limit_ms,
        memory_mb=checked.memory_mb,
        stdin=checked.stdin,
        args=checked.args,
        callback_url=checked.attributes.callback_url,
    )
    try:
        limits = admission.limits_for(services.settings, options)
        # Called, as Judge0 does, with a PUT of the submission (callbacks/): the same address
        # rules as our own callbacks (no private, loopback or link-local address unless allowed).
        callback_url = admission.callback_for(services.settings, options)
    except InvalidInput as exc:  # our policy (e.g. the arguments' size): as a field error
        return {str(exc.details.get("field", "base")): [exc.message]}
    language_entry = await services.catalogue.get(checked.key)
    token = await submit(
        services,
        request,
        language=language_entry,
        source_code=checked.source_code,
        stdin=checked.stdin,
        args=checked.args,
        limits=limits,
        judge0=checked.attributes,
        callback_url=callback_url,
    )
    log.info("judge0 submission", extra={"execution_id": token, "language": checked.key})
    return token


async def json_body(request: Request[Any, Any, Any]) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise Judge0Error(400, {"status": 400, "error": "Bad Request"}) from None


@post("/submissions", status_code=201)
async def create_submission(
    services: ServicesDep,
    request: Request[Any, Any, Any],
    base64_encoded: FromQuery[str | None] = None,
    wait: FromQuery[str | None] = None,
    fields: FromQuery[str | None] = None,
) -> Response[Any]:
    """Create a submission: 201 `{token}`, or with wait=true the finished submission."""
    requested = fields_of(fields)
    created = await create(services, request, await json_body(request), flag(base64_encoded))
    if isinstance(created, dict):
        return Response(created, status_code=422)
    if not flag(wait):
        return Response({"token": created}, status_code=201)
    row = await wait_for_end(services, created, services.settings.sync_run_timeout_s)
    if row is None:  # cannot happen once visible; answered like a submission still queued
        return Response({"token": created}, status_code=201)
    try:
        return Response(answer(services, row, requested, flag(base64_encoded)), status_code=201)
    except answers.NotUtf8:
        return Response({"token": created, "error": NOT_UTF8}, status_code=201)


@get("/submissions", sync_to_thread=False)
def list_submissions() -> Response[None]:
    """Judge0 lists submissions only to an authorised client; none is configured here."""
    return Response(None, status_code=403)


@post("/submissions/batch", status_code=201)
async def create_batch(
    services: ServicesDep,
    request: Request[Any, Any, Any],
    base64_encoded: FromQuery[str | None] = None,
) -> Response[Any]:
    """Create up to 20 submissions: a token or the field errors for each, in order."""
    body = await json_body(request)
    submissions = body.get("submissions") if isinstance(body, dict) else None
    count = len(submissions) if isinstance(submissions, list) else 0
    if count > contract.MAX_BATCH:
        message = (
            f"number of submissions in a batch should be less than or equal to {contract.MAX_BATCH}"
        )
        return Response({"error": message}, status_code=400)
    if count == 0 or not isinstance(submissions, list):
        return Response(
            {"error": "there should be at least one submission in a batch"}, status_code=400
        )
    answers: list[dict[str, Any]] = []
    for item in submissions:
        try:
            created = await create(services, request, item, flag(base64_encoded))
        except ApiError as exc:  # refused by admission (rate, queue caps): said for this one
            answers.append({"error": exc.message})
            continue
        answers.append({"token": created} if isinstance(created, str) else created)
    valid = any("token" in item for item in answers)
    return Response(answers, status_code=201 if valid else 422)


@get("/submissions/batch")
async def get_batch(
    services: ServicesDep,
    request: Request[Any, Any, Any],
    tokens: FromQuery[str | None] = None,
    base64_encoded: FromQuery[str | None] = None,
    fields: FromQuery[str | None] = None,
) -> Response[Any]:
    """Up to 20 submissions by token, in order; null for an unknown one."""
    requested = fields_of(fields)
    names = [t for t in (request.headers.get("tokens") or tokens or "").strip().split(",") if t]
    if len(names) > contract.MAX_BATCH:
        message = (
            f"number of submissions in a batch should be less than or equal to {contract.MAX_BATCH}"
        )
        return Response({"error": message}, status_code=400)
    if not names:
        return Response(
            {"error": "there should be at least one submission in a batch"}, status_code=400
        )
    found: list[dict[str, Any] | None] = []
    try:
        for token in names:
            row = await row_of(services, token)
            found.append(answer(services, row, requested, flag(base64_encoded)) if row else None)
    except answers.NotUtf8:
        return Response({"error": NOT_UTF8_BATCH}, status_code=400)
    return Response({"submissions": found})


@get("/submissions/{token:str}")
async def get_submission(
    services: ServicesDep,
    token: FromPath[str],
    base64_encoded: FromQuery[str | None] = None,
    fields: FromQuery[str | None] = None,
) -> Response[Any]:
    """One submission, with the attributes `fields` names (8 by default, `*` all)."""
    requested = fields_of(fields)
    row = await row_of(services, token)
    if row is None:
        return Response(NOT_FOUND, status_code=404)
    try:
        return Response(answer(services, row, requested, flag(base64_encoded)))
    except answers.NotUtf8:
        return Response({"error": NOT_UTF8}, status_code=400)


@delete("/submissions/{token:str}", status_code=400)
async def delete_submission(token: FromPath[str]) -> Response[Any]:
    """Judge0's answer where deleting is disabled: our event log keeps every run."""
    return Response({"error": "delete not allowed"}, status_code=400)


def judge0_error(_: Request[Any, Any, Any], exc: Judge0Error) -> Response[Any]:
    return Response(exc.body, status_code=exc.status)


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    """Our own refusals (rate limits, queue caps, a dependency down) in Judge0's shape."""
    if exc.status_code == 422:
        field = str(exc.details.get("field", "base"))
        return Response({field: [exc.message]}, status_code=422)
    return Response({"error": exc.message}, status_code=exc.status_code, headers=exc.headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return Response({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


router = Router(
    path="/judge0",
    route_handlers=[
        about,
        config_info,
        statuses,
        languages,
        language,
        create_submission,
        list_submissions,
        create_batch,
        get_batch,
        get_submission,
        delete_submission,
    ],
    exception_handlers={
        Judge0Error: judge0_error,
        ApiError: api_error,
        HTTPException: http_error,
    },
    include_in_schema=False,
)
