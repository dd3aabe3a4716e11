"""This worker's shared pieces: its sandbox, its Redis client, its heartbeat and catalogue."""

from __future__ import annotations

import functools
import logging
import time

import orjson
import redis.asyncio as aioredis

from processors import catalogue
from processors.app import app, settings
from sandbox import Sandbox, SandboxSettings

log = logging.getLogger("processors.worker")


@functools.cache
def sandbox() -> Sandbox:
    return Sandbox(SandboxSettings.from_env())


@functools.cache
def redis_client() -> aioredis.Redis:
    return aioredis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)


@app.task
async def announce() -> None:
    """On start: tell the API which languages this worker runs."""
    try:
        await catalogue.publish_catalogue(redis_client())
    except (aioredis.RedisError, OSError) as exc:
        log.error("could not publish the language catalogue: %s", exc)


@app.timer(interval=settings.heartbeat_interval_s)
async def heartbeat() -> None:
    """A key per live worker, expiring unless renewed: who is up, with how many slots."""
    beat = {
        "worker_id": settings.worker_id,
        "slots": sandbox().slots,
        "at": time.time(),
        "languages": sorted(catalogue.keys()),
    }
    try:
        await redis_client().set(
            f"workers:{settings.worker_id}",
            orjson.dumps(beat),
            ex=int(settings.heartbeat_interval_s * 3),
        )
        await catalogue.publish_catalogue(redis_client())
    except (aioredis.RedisError, OSError) as exc:
        log.warning("heartbeat not recorded: %s", exc)
