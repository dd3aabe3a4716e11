"""The API's side of an interactive run's stdin channel (fleet/stdin.py): opened when the run is
requested, written from its WebSocket (api/routes/interactive.py)."""

from __future__ import annotations

import redis.asyncio as aioredis

from api.errors import DependencyDown
from api.services import Services
from fleet.stdin import StdinChannel
from schemas import events


async def open_input(services: Services, request: events.RunRequested) -> None:
    """Make the channel of an interactive run before it is appended (a run with no channel
    would read end of file at once); nothing for other runs."""
    if not request.interactive:
        return
    try:
        await StdinChannel(services.redis, request.execution_id).open(len(request.stdin.encode()))
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc
