"""Fuzzing the served OpenAPI document: no answer is a 500, none breaks the contract.

schemathesis generates requests from /schema/openapi.json (valid ones, and ones the schema
forbids), sends them to the running engine, and checks each answer: not a server error, a
status the operation documents, the documented content type, a body matching the declared
schema, and a request the schema forbids refused with a 4xx. A bounded, deterministic run
(derandomized Hypothesis, no example database); every failure is collected with its curl.

For half of the examples, a session in the path is a real one (a fresh one for each operation)
and a language is Python, so that the fuzzer gets past the 404 and the unknown language: it
creates sessions, autosaves random code, runs it (the sandbox runs whatever it is: short-lived
junk), closes sessions, and meets 201, 202 and 429 answers too. It exhausts its own sessions'
rate limits and failure streaks (the engine's per-client limit is lifted for the tests), and
waits for its runs to end, so the tests after it (e2e files run in order) find the engine idle
and their own sessions untouched.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Engine

# Per operation and generation mode: about 770 examples in all, 16 s here (its time is printed,
# not asserted: a timed assertion fails on a busy machine, not on a broken contract).
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Report:
    """Examples tried per operation and mode, and every failure with how to reproduce it."""

    tried: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    executions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def real_session(engine: Engine) -> str:
    response = httpx.post(
        f"{engine.url}/code-sessions",
        json={"language_id": "python", "source_code": "print(input() if False else 1)"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def fuzzer(
    engine: Engine, operation: Any, mode: GenerationMode, session_id: str | None, report: Report
) -> Any:
    """A Hypothesis test of one operation in one generation mode."""
    label = f"{operation.label} ({mode.value})"

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    def fuzz(case: Any, real: bool) -> None:
        if real:  # past the 404 and the unknown language: a real session, a real language
            if session_id is not None:
                case.path_parameters = {**case.path_parameters, "session_id": session_id}
            if "language_id" in case.path_parameters:
                case.path_parameters = {**case.path_parameters, "language_id": "python"}
            if isinstance(case.body, dict) and "language_id" in case.body:
                case.body = {**case.body, "language_id": "python"}
        report.tried[label] += 1
        try:
            response = case.call(base_url=engine.url, timeout=30)
            report.statuses[response.status_code] += 1
            if response.status_code == 202 and "execution_id" in (body := response.json()):
                report.executions.append(body["execution_id"])
            case.validate_response(response, checks=CHECKS)
        # Every failure is reported, not only the first (a FailureGroup is a BaseExceptionGroup).
        except (Exception, FailureGroup) as exc:
            found = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            what = "; ".join(f"{getattr(f, 'title', type(f).__name__)}: {f}" for f in found)
            report.failures.append(f"{label}: {what}\n  reproduce: {case.as_curl_command()}")

    return fuzz


def assert_runs_end(engine: Engine, executions: list[str], timeout: float = 180.0) -> None:
    """Every run the fuzzer queued reaches a terminal status (and none is left running)."""
    deadline = time.monotonic() + timeout
    for execution_id in executions:
        while True:
            status = httpx.get(f"{engine.url}/executions/{execution_id}", timeout=10).json()
            if status["status"] in {"COMPLETED", "FAILED", "TIMEOUT"}:
                break
            assert time.monotonic() < deadline, f"run {execution_id} still {status['status']}"
            time.sleep(0.2)


def test_fuzzing_the_contract_finds_no_server_error_and_no_violation(engine: Engine) -> None:
    schema = schemathesis.openapi.from_url(f"{engine.url}/schema/openapi.json")
    report = Report()
    started = time.monotonic()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), (
            f"the document has an operation schemathesis cannot read: {result.err()}"
        )
        operation = result.ok()
        # A session's event stream never ends: fuzzed with sessions that do not exist only.
        endless = operation.path == "/code-sessions/{session_id}/events"
        real = "{session_id}" in operation.path and not endless
        session_id = real_session(engine) if real else None
        fuzzer(engine, operation, GenerationMode.POSITIVE, session_id, report)()
        with contextlib.suppress(Unsatisfiable):  # nothing the schema forbids (GET /health)
            fuzzer(engine, operation, GenerationMode.NEGATIVE, session_id, report)()

    elapsed = time.monotonic() - started
    total = sum(report.tried.values())
    print(f"\nfuzzed {total} examples in {elapsed:.1f}s: {dict(report.tried)}")
    print(
        f"answers: {dict(sorted(report.statuses.items()))}; runs queued: {len(report.executions)}"
    )
    assert total >= 200, report.tried
    assert_runs_end(engine, report.executions)
    assert not report.failures, (
        f"{len(report.failures)} of {total} examples broke the contract:\n"
        + "\n".join(report.failures[:20])
    )
