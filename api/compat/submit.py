"""What both drop-in APIs do with a run: queue it in a one-off session through our one path
(api.runs), and wait, bounded, for it to end."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar import Request

from api.errors import DependencyDown
from api.routes.sessions import check_source, visible
from api.runs import Queued, queue_run
from api.services import Services
from fleet.catalogue import LanguageEntry
from schemas import events
from schemas.events import TERMINAL


async def submit(
    services: Services,
    request: Request[Any, Any, Any],
    *,
    language: LanguageEntry,
    source_code: str,
    stdin: str,
    args: list[str],
    limits: events.RunLimits,
    judge0: events.Judge0Attributes | None = None,
    files: dict[str, str] | None = None,
    callback_url: str | None = None,
) -> str:
    """Queue a run of `source_code` in a new session of its own (visible in our API like any
    other, its session holding the code); the execution id once both are readable."""
    check_source(services, source_code)
    session_id = str(uuid.uuid4())
    execution_id = str(uuid.uuid4())
    session = events.SessionCreated(
        session_id=session_id,
        language_id=language.id,
        source_code=source_code,
        files=files or {},
        created_at=datetime.now(UTC),
    )
    queued: Queued = await queue_run(
        services,
        execution_id=execution_id,
        session_id=session_id,
        language=language,
        source_code=source_code,
        stdin=stdin,
        args=args,
        limits=limits,
        files=files,
        client=services.proxies.client_of(request),
        session=session,
        judge0=judge0,
        callback_url=callback_url,
    )
    await visible(services, queued.appended, execution_id=execution_id)
    return execution_id


async def wait_for_end(
    services: Services, execution_id: str, timeout_s: float
) -> asyncpg.Record | None:
    """The execution's row once terminal, or as it is after `timeout_s` (None: unknown).

    Subscribed to the projector's notices before each read, so an end between the two is not
    missed; a quiet channel is read again every second all the same."""
    key = uuid.UUID(execution_id)
    deadline = time.monotonic() + timeout_s
    pubsub = services.redis.pubsub()
    try:
        try:
            await pubsub.subscribe(f"execution:{execution_id}")
        except (aioredis.RedisError, OSError) as exc:
            raise DependencyDown("Redis is unavailable", service="redis") from exc
        while True:
            row = await services.db.execution(key)
            remaining = deadline - time.monotonic()
            if row is None or row["status"] in TERMINAL or remaining <= 0:
                return row
            try:
                await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=min(remaining, 1.0)
                )
            except (aioredis.RedisError, OSError):
                await asyncio.sleep(min(remaining, 0.2))  # Redis gone: fall back to polling
    finally:
        await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]
