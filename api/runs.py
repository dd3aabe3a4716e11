"""Queueing one run of a code session: what `POST /code-sessions/{id}/run` and each entry of
`POST /runs/batch` do, up to the append (the caller then waits until the run is visible).

Admission is the same for both: the run's limits and test cases (422/413), its idempotency key,
a live executor for the language (503), and the rate limits and queue caps (429/503)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from api import admission, idempotency
from api.dto import RunOptions
from api.errors import ProjectionBehind
from api.eventlog import Appended
from api.services import Services
from api.tracing import trace_headers
from eventlog import topics
from fleet.quota import Admission
from schemas import events, new_event


@dataclass(frozen=True)
class Queued:
    """A run appended (or, for a retried idempotency key, found): wait for `appended`."""

    execution_id: str
    appended: Appended
    admitted: Admission | None  # None for a retry of a keyed run, which is not counted again

    @property
    def replayed(self) -> bool:
        return self.admitted is None


def run_requested(
    execution_id: str,
    session: asyncpg.Record,
    language: events.LanguageRef,
    options: RunOptions,
    limits: events.RunLimits,
    traceparent: str | None,
) -> events.RunRequested:
    """The snapshot of everything the run needs: the session's source as it is now."""
    comparison = options.comparison
    return events.RunRequested(
        execution_id=execution_id,
        session_id=str(session["session_id"]),
        language=language,
        source_code=session["source_code"],
        stdin=options.stdin or "",
        args=options.args or [],
        limits=limits,
        requested_at=datetime.now(UTC),
        traceparent=traceparent,
        test_cases=[
            events.Case(stdin=case.stdin, expected_output=case.expected_output)
            for case in options.test_cases or []
        ],
        comparison=None
        if comparison is None
        else events.Comparison(
            mode=comparison.mode,
            absolute_tolerance=comparison.absolute_tolerance,
            relative_tolerance=comparison.relative_tolerance,
        ),
    )


async def queue_run(
    services: Services,
    session: asyncpg.Record,
    options: RunOptions,
    client: str,
    key: str | None,
) -> Queued:
    """Admit and append one run of an ACTIVE `session` (the caller checked it is); raises the
    ApiError a refusal is answered with."""
    session_key = str(session["session_id"])
    limits = admission.limits_for(services.settings, options)
    execution_id = str(uuid.uuid4())
    if key:
        previous = await idempotency.claim(
            services, session_key, key, idempotency.fingerprint(options)
        )
        if previous is not None:
            if previous.appended is None:
                raise ProjectionBehind(
                    "a request with this Idempotency-Key is still being recorded; retry shortly",
                    execution_id=previous.execution_id,
                )
            return Queued(previous.execution_id, previous.appended, None)
        execution_id = idempotency.execution_id_for(session_key, key)
    try:
        language = await services.catalogue.get(str(session["language_id"]))
        await services.fleet.require_executor(language.key)
        admitted = await admission.admit(services, session_key, client, execution_id)
        headers, traceparent = trace_headers("RunRequested", execution_id)
        ref = events.LanguageRef(
            id=language.id, key=language.key, name=language.name, version=language.version
        )
        requested = run_requested(execution_id, session, ref, options, limits, traceparent)
        appended = await services.eventlog.append(topics.REQUESTED, new_event(requested), headers)
    except BaseException:
        if key:
            await idempotency.release(services, session_key, key)
        raise
    if key:
        record = idempotency.Record(
            execution_id=execution_id,
            fingerprint=idempotency.fingerprint(options),
            appended=appended,
        )
        await idempotency.appended(services, session_key, key, record)
    return Queued(execution_id, appended, admitted)
