"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec

from api.contract import HealthStatus, Readiness, ServiceStates
from api.errors import DependencyDown, NoExecutors
from api.services import ServicesDep


@get("/health", sync_to_thread=False)
def health() -> HealthStatus:
    """The API process answers (it checks nothing else)."""
    return HealthStatus(status="ok")


async def _check(name: str, probe: Any, timeout: float) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), timeout)
    except (DependencyDown, Exception):  # any failure means "down", reported, not raised
        return name, "down"
    return name, "up"


NOT_READY = ResponseSpec(
    data_container=Readiness,
    description="A dependency is down: the same report, with `status: unavailable`.",
    generate_examples=False,
)


@get("/health/ready", responses={503: NOT_READY})
async def ready(services: ServicesDep) -> Response[Readiness]:
    """Whether Kafka, PostgreSQL, Redis and a live executor all answer (200) or not (503)."""

    async def postgres() -> None:
        await services.db.fetchrow("SELECT 1")

    async def redis() -> None:
        await services.redis.ping()

    async def executors() -> None:
        # Runs need someone to take them: with no live worker, the API is not ready for them.
        if not [b for b in await services.fleet.beats(fresh=True) if services.fleet.alive(b)]:
            raise NoExecutors("no executor is alive")

    timeout = services.settings.dependency_timeout_s
    results = dict(
        await asyncio.gather(
            _check("kafka", services.eventlog.ping, timeout),
            _check("postgres", postgres, timeout),
            _check("redis", redis, timeout),
            _check("executors", executors, timeout),
        )
    )
    ok = all(state == "up" for state in results.values())
    return Response(
        Readiness(status="ok" if ok else "unavailable", services=ServiceStates(**results)),  # type: ignore[arg-type]
        status_code=200 if ok else 503,
    )
