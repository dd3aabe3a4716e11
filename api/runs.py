"""Queueing a run: the one path every API that runs code takes (our code sessions, and the
Judge0 and Piston adapters of api/compat): a live executor for the language, admission (rate
limits, queue caps), then RunRequested in the log, which the safety agent screens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from api import admission
from api.eventlog import Appended
from api.services import Services
from api.stdin import open_input
from api.tracing import trace_headers
from eventlog import topics
from fleet.catalogue import LanguageEntry
from fleet.quota import Admission
from schemas import events, new_event


@dataclass(frozen=True)
class Queued:
    """A run in the log: where, and what admission counted."""

    appended: Appended
    admitted: Admission


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
    )
    await open_input(services, requested)  # an interactive run's stdin channel, before the run
    appended = await services.eventlog.append(topics.REQUESTED, new_event(requested), headers)
    return Queued(appended=appended, admitted=admitted)
