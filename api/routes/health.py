"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get

from api.errors import DependencyDown, NoExecutors
from api.services import ServicesDep


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe: Any, timeout: float) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), timeout)
    except (DependencyDown, Exception):  # any failure means "down", reported, not raised
        return name, "down"
    return name, "up"


@get("/health/ready")
async def ready(services: ServicesDep) -> Response[dict[str, Any]]:
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
        {"status": "ok" if ok else "unavailable", "services": results},
        status_code=200 if ok else 503,
    )
