"""Queueing a run: the one path every API that runs code takes. `queue_run` is the common end
(a live executor for the language, admission: rate limits and queue caps, then RunRequested in
the log, which the safety agent screens), used by the Judge0 and Piston adapters of api/compat;
`queue_session_run` is what `POST /code-sessions/{id}/run` and each entry of `POST /runs/batch`
do before it: the run's limits, files and test cases (422/413) and its idempotency key. The
caller then waits until the run is visible."""

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
from api.snapshot import files_of
from api.stdin import open_input
from api.tracing import trace_headers
from eventlog import topics
from fleet.catalogue import LanguageEntry
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


async def queue_run(
    services: Services,
    *,
    execution_id: str,
    session_id: str,
    language: LanguageEntry,
    source_code: str,
    stdin: str,
    args: list[str],
    limits: events.RunLimits,
    client: str,
    files: dict[str, str] | None = None,
    interactive: bool = False,
    test_cases: list[events.Case] | None = None,
    comparison: events.Comparison | None = None,
    callback_url: str | None = None,
    session: events.SessionCreated | None = None,
    judge0: events.Judge0Attributes | None = None,
) -> Queued:
    """Admit the run and append its RunRequested; `session`, a one-off session created for
    this run (api/compat), is appended first, once admission has passed (nothing is left
    behind by a refused run). 429 or 503 as admission decides."""
    await services.fleet.require_executor(language.key)
    admitted = await admission.admit(services, session_id, client, execution_id)
    if session is not None:
        await services.eventlog.append(topics.SESSIONS, new_event(session))
    headers, traceparent = trace_headers("RunRequested", execution_id)
    requested = events.RunRequested(
        execution_id=execution_id,
        session_id=session_id,
        language=events.LanguageRef(
            id=language.id, key=language.key, name=language.name, version=language.version
        ),
        source_code=source_code,
        stdin=stdin,
        args=args,
        files=files or {},
        limits=limits,
        requested_at=datetime.now(UTC),
        traceparent=traceparent,
        judge0=judge0,
        interactive=interactive,
        test_cases=test_cases or [],
        comparison=comparison,
        callback_url=callback_url,
    )
    await open_input(services, requested)  # an interactive run's stdin channel, before the run
    appended = await services.eventlog.append(topics.REQUESTED, new_event(requested), headers)
    return Queued(execution_id, appended, admitted)


async def queue_session_run(
    services: Services,
    session: asyncpg.Record,
    options: RunOptions,
    client: str,
    key: str | None,
) -> Queued:
    """Admit and append one run of an ACTIVE `session` (the caller checked it is): its source
    and files as they are now; raises the ApiError a refusal is answered with."""
    session_key = str(session["session_id"])
    limits = admission.limits_for(services.settings, options)
    callback_url = admission.callback_for(services.settings, options)
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
    files = files_of(session)
    try:
        language = await services.catalogue.get(str(session["language_id"]))
        # Saved under the policy of its time: a run is held to today's (as the safety agent will).
        admission.check_files(services, files, session["source_code"], language.file_name)
        comparison = options.comparison
        queued = await queue_run(
            services,
            execution_id=execution_id,
            session_id=session_key,
            language=language,
            source_code=session["source_code"],
            stdin=options.stdin or "",
            args=options.args or [],
            files=files,
            limits=limits,
            client=client,
            interactive=bool(options.interactive),
            callback_url=callback_url,
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
    except BaseException:
        if key:
            await idempotency.release(services, session_key, key)
        raise
    if key:
        record = idempotency.Record(
            execution_id=execution_id,
            fingerprint=idempotency.fingerprint(options),
            appended=queued.appended,
        )
        await idempotency.appended(services, session_key, key, record)
    return queued
