"""The Litestar application: routes, error mapping, OpenAPI, and the services' lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from api import docs, playground
from api.compat import judge0, piston
from api.errors import EXCEPTION_HANDLERS
from api.routes import (
    batches,
    dead_letters,
    executions,
    health,
    history,
    interactive,
    languages,
    metrics,
    revisions,
    session_events,
    sessions,
    workers,
)
from api.services import Services, services_from_state
from api.settings import ApiSettings
from api.tracing import middleware
from config.limits import MAX_PATH_BYTES, RunPolicy
from telemetry import tracing


def max_body_bytes(policy: RunPolicy) -> int:
    """The largest body a legal request can be: JSON escapes a control byte as 6 bytes
    (\\u0001), so a request at the source (or all files), stdin and test-case limits can be 6
    times their size, plus the files' names and room for the other fields (and the keys of each
    test case). A batch of runs (POST /runs/batch) gets no more room than one run."""
    program = max(policy.max_source_bytes, policy.max_files_bytes)
    names = policy.max_files * (MAX_PATH_BYTES + 8)
    data = program + policy.max_stdin_bytes + policy.max_test_cases_bytes
    return 6 * data + names + 64 * 1024 + 64 * policy.max_test_cases


def create_app(settings: ApiSettings | None = None) -> Litestar:
    services = Services(settings or ApiSettings.from_env())
    tracing.setup_or_exit("runbox-api", mint_ids=True)  # a trace id for every run

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.services = services
        await services.start()
        # What start-up allocated lives as long as the app: keep it out of the collector's way.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.stop()

    return Litestar(
        route_handlers=[
            health.health,
            health.ready,
            languages.list_languages,
            languages.get_language,
            sessions.create_session,
            sessions.get_session,
            sessions.update_session,
            sessions.get_files,
            sessions.save_file,
            sessions.close_session,
            sessions.list_executions,
            sessions.run_session,
            executions.get_execution,
            executions.execution_events,
            session_events.session_events,
            interactive.execution_socket,
            batches.run_batch,
            batches.get_executions,
            workers.list_workers,
            dead_letters.list_dead_letters,
            dead_letters.get_dead_letter,
            dead_letters.requeue_dead_letter,
            history.execution_history,
            history.rerun_execution,
            revisions.list_revisions,
            revisions.get_revision,
            revisions.restore_revision,
            metrics.get_metrics,
            docs.assets_router(),
            judge0.router,  # drop-in Judge0 CE, under /judge0
            piston.router,  # drop-in Piston v2, under /api/v2
            playground.home,
            playground.page,
            *playground.routers(services.settings.playground_editor_dir),
        ],
        dependencies={"services": Provide(services_from_state, sync_to_thread=False)},
        middleware=middleware(),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="runbox",
            version="0.1.0",
            path="/schema",
            description="Live code execution: code sessions, runs and their results. Every error "
            "is `{error, code, details}` (and `retryAfter` when it says when to retry).",
            use_handler_docstrings=True,  # each operation says what it does and answers
            render_plugins=docs.render_plugins(),  # served offline: api/docs.py
        ),
        request_max_body_size=max_body_bytes(services.settings.policy),
        logging_config=None,  # our JSON lines (telemetry.logs), configured by the entry point
    )
