"""The OpenAPI document describes every body and every answer with a declared type.

Generated in-process (no services): a route added without a typed body or answer, or an error
status documented in Litestar's shape instead of ours, fails here before a client meets it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api.app import create_app
from api.contract import ErrorBody
from api.errors import ApiError, Backpressure, RateLimited, error_body
from api.settings import ApiSettings

METHODS = ("get", "put", "post", "patch", "delete")
# Writes that take no body at all (every other POST, PUT or PATCH must declare one).
BODILESS = {
    ("patch", "/code-sessions/{session_id}/close"),
    ("post", "/executions/{execution_id}/rerun"),  # re-runs what the log holds: nothing to say
    ("post", "/code-sessions/{session_id}/revisions/{n}/restore"),  # the revision is in the path
}
# Where an empty body is allowed (the document must not call the body required).
OPTIONAL_BODIES = {
    ("post", "/code-sessions/{session_id}/run"),
    ("post", "/dead-letters/{execution_id}/requeue"),
}
# A failing readiness probe answers its report, not an error.
NOT_ERRORS = {("get", "/health/ready", "503"): "Readiness"}
SUCCESS = {
    ("post", "/code-sessions"): "201",
    ("post", "/code-sessions/{session_id}/run"): "202",
    ("post", "/dead-letters/{execution_id}/requeue"): "202",
    ("post", "/executions/{execution_id}/rerun"): "202",
    ("post", "/runs/batch"): "200",  # each run's own status is in its entry
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(ApiSettings()).openapi_schema.to_schema()
    return schema


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def component(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The named component a schema refers to; an inline schema is no declared type."""
    assert "$ref" in schema, f"an inline schema, not a declared type: {schema}"
    name = schema["$ref"].removeprefix("#/components/schemas/")
    found: dict[str, Any] = document["components"]["schemas"][name]
    return name, found


def declared(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The declared types a JSON answer may be (one, or each of a oneOf); each has properties."""
    names = []
    for option in schema.get("oneOf", [schema]):
        name, found = component(document, option)
        assert found.get("properties"), f"{name} declares no fields"
        names.append(name)
    return names


def test_every_write_declares_its_body(document: dict[str, Any]) -> None:
    problems = []
    for method, path, operation in operations(document):
        if method == "get" or (method, path) in BODILESS:
            assert "requestBody" not in operation, (method, path)
            continue
        body = operation.get("requestBody")
        if body is None:
            problems.append(f"{method.upper()} {path}: no request body documented")
            continue
        declared(document, body["content"]["application/json"]["schema"])
        # Every body is capped (Litestar's request_max_body_size): 413 beyond.
        assert "413" in operation["responses"], (method, path)
        assert body["required"] is ((method, path) not in OPTIONAL_BODIES), (method, path)
    assert not problems, problems


def test_every_answer_has_a_declared_schema(document: dict[str, Any]) -> None:
    problems = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response.get("content") or {}
            if not content:
                problems.append(f"{method.upper()} {path} {status}: no schema")
            for media_type, media in content.items():
                if media_type == "application/json":
                    declared(document, media["schema"])
                else:
                    assert media["schema"], (method, path, status, media_type)
    assert not problems, problems


def test_error_statuses_use_our_error_schema(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            media = response["content"]["application/json"]
            expected = NOT_ERRORS.get((method, path, status), "ErrorBody")
            assert declared(document, media["schema"]) == [expected], (method, path, status)
            if expected == "ErrorBody":
                assert media["examples"], (method, path, status)
                for example in media["examples"].values():
                    msgspec.convert(example["value"], ErrorBody)


def test_status_codes_are_the_real_ones(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        assert operation.get("description"), f"{method.upper()} {path} says nothing of itself"
        successes = [s for s in operation["responses"] if s.startswith("2")]
        assert successes == [SUCCESS.get((method, path), "200")], (method, path, successes)
        # Every route but the liveness probe reads a dependency, which may be down.
        if path != "/health":
            assert "503" in operation["responses"], (method, path)


def test_documented_codes_cover_what_the_routes_raise(document: dict[str, Any]) -> None:
    run = document["paths"]["/code-sessions/{session_id}/run"]["post"]["responses"]
    assert {"400", "404", "409", "413", "422", "429", "503"} <= set(run)
    create = document["paths"]["/code-sessions"]["post"]["responses"]
    assert {"400", "413", "422", "503"} <= set(create)
    update = document["paths"]["/code-sessions/{session_id}"]["patch"]["responses"]
    assert {"400", "404", "409", "413", "422", "503"} <= set(update)


@pytest.mark.parametrize(
    "error",
    [ApiError("boom", field="x"), RateLimited(retry_after=7), Backpressure(retry_after=2)],
    ids=["plain", "rate_limited", "backpressure"],
)
def test_error_answers_match_the_error_schema(error: ApiError) -> None:
    body = error_body(error.code, error.message, error.details)
    decoded = msgspec.convert(body, ErrorBody)
    assert (decoded.code, decoded.error) == (error.code, error.message)
    if "retryAfter" in error.details:
        assert decoded.retryAfter == error.details["retryAfter"]


def test_request_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    # The API answers 422 to an unknown field: the document must not allow one.
    names = ("CreateSession", "UpdateSession", "RunOptions", "RequeueOptions", "RunBatch")
    nested = ("CaseInput", "ComparisonOptions", "BatchRun")  # inside the bodies above
    for name in names + nested:
        assert document["components"]["schemas"][name]["additionalProperties"] is False, name


# The drop-in APIs mirror foreign contracts (api/compat): Judge0 CE's and Piston's documents
# describe them, with their own error shapes ({"error"}, {"message"}, Rails's field errors)
# and lenient input (Judge0 takes "50" for 50), which ours would misdescribe and the fuzzer
# would then call violations. They are left out of our document on purpose, and only they.
FOREIGN_CONTRACTS = {"/judge0": "Judge0 CE 1.13.1", "/api/v2": "Piston v2"}


def test_foreign_contracts_are_served_but_not_in_our_document(document: dict[str, Any]) -> None:
    app = create_app(ApiSettings())
    served = {route.path for route in app.routes}
    for prefix in FOREIGN_CONTRACTS:
        assert any(path.startswith(prefix + "/") for path in served), prefix
        assert not [path for path in document["paths"] if path.startswith(prefix + "/")], prefix
