"""Whether a run may be queued: limits in range, rate limits, failure cooldown, idempotency keys.

Counters live in Redis so every API instance shares them. Redis being down is a 503.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from litestar import Request

from api.dto import RunOptions
from api.errors import DependencyDown, InvalidInput, RateLimited, TooLarge
from api.services import Services
from api.settings import ApiSettings
from schemas.events import RunLimits

COOLDOWN_KEY = "cooldown:session:{}"  # set by the executor after a streak of failed runs


def limits_for(settings: ApiSettings, options: RunOptions) -> RunLimits:
    """The run's limits: what it asks for, else the defaults; 422 outside the policy's ranges."""
    policy = settings.policy
    limits = RunLimits(
        time_limit_ms=policy.default_time_limit_ms
        if options.time_limit_ms is None
        else options.time_limit_ms,
        memory_mb=policy.default_memory_mb if options.memory_mb is None else options.memory_mb,
    )
    violation = policy.violation(
        time_limit_ms=limits.time_limit_ms,
        memory_mb=limits.memory_mb,
        source_bytes=0,
        stdin_bytes=len((options.stdin or "").encode()),
    )
    if violation is not None:
        error = TooLarge if violation.too_large else InvalidInput
        raise error(violation.message, field=violation.field, value=violation.value)
    return limits


def client_of(request: Request[Any, Any, Any]) -> str:
    """The client a per-client limit applies to: its address (a header could be forged)."""
    return request.client.host if request.client else "unknown"


def _idempotency_key(session_id: str, key: str) -> str:
    return f"idempotency:{session_id}:{key[:200]}"


async def previous_run(services: Services, session_id: str, key: str) -> str | None:
    try:
        raw = await services.redis.get(_idempotency_key(session_id, key))
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def claim(services: Services, session_id: str, key: str, execution_id: str) -> bool:
    """Bind the key to this execution; False if another request bound it first."""
    try:
        return bool(
            await services.redis.set(
                _idempotency_key(session_id, key),
                execution_id,
                nx=True,
                ex=services.settings.idempotency_ttl_s,
            )
        )
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc


async def admit(services: Services, session_id: str, client: str) -> None:
    """Count this run against the session and client windows; 429 when either is full."""
    settings = services.settings
    window = int(time.time() // 60)
    retry_after = 60 - int(time.time() % 60)
    session_key = f"ratelimit:session:{session_id}:{window}"
    client_key = f"ratelimit:client:{client}:{window}"
    try:
        async with services.redis.pipeline(transaction=False) as pipe:
            pipe.ttl(COOLDOWN_KEY.format(session_id))
            pipe.incr(session_key)
            pipe.expire(session_key, 61)
            pipe.incr(client_key)
            pipe.expire(client_key, 61)
            cooldown, session_count, _, client_count, _ = await pipe.execute()
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc
    if cooldown > 0:
        raise RateLimited(
            "this session failed too many runs in a row; it cools down",
            retry_after=int(cooldown),
            reason="failure_streak",
        )
    if session_count > settings.session_runs_per_minute:
        raise RateLimited(
            f"at most {settings.session_runs_per_minute} runs per minute per session",
            retry_after=retry_after,
            reason="session_rate",
        )
    if client_count > settings.client_runs_per_minute:
        raise RateLimited(
            f"at most {settings.client_runs_per_minute} runs per minute per client",
            retry_after=retry_after,
            reason="client_rate",
        )
