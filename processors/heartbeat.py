"""Tells the fleet (Redis) that this worker is alive, with its slots and the languages it runs."""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from fleet.catalogue import CATALOGUE_KEY, LanguageEntry, encode_catalogue
from fleet.workers import WORKERS_KEY, WorkerBeat, encode_beat
from sandbox import registry

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.heartbeat")
STARTED_AT = time.time()


@functools.cache
def entries() -> tuple[LanguageEntry, ...]:
    """Read once per process: versions come from the installed runtimes, which is slow-ish."""
    return tuple(
        LanguageEntry(
            id=str(language.id),
            key=language.key,
            name=language.name,
            runtime=language.runtime,
            version=language.version,
            file_name=language.file_name,
            template_code=language.template_code,
            default_time_limit_ms=language.default_time_limit_ms,
            default_memory_mb=language.default_memory_mb,
        )
        for language in registry()
    )


def keys() -> frozenset[str]:
    return frozenset(entry.key for entry in entries())


async def publish_catalogue(redis: aioredis.Redis) -> None:
    await redis.set(CATALOGUE_KEY, encode_catalogue(list(entries())))


def beat(worker: Worker) -> WorkerBeat:
    slots = worker.sandbox_settings.slots
    return WorkerBeat(
        worker_id=worker.settings.worker_id,
        state="running",
        slots=slots,
        free_slots=slots,
        languages=sorted(keys()),
        started_at=STARTED_AT,
        at=time.time(),
    )


async def send_beat(worker: Worker) -> None:
    await worker.redis.hset(WORKERS_KEY, worker.settings.worker_id, encode_beat(beat(worker)))


def register(worker: Worker) -> None:
    settings = worker.settings

    @worker.app.task
    async def start() -> None:
        """On start: build the sandbox, then tell the API which languages this worker runs."""
        worker.sandbox()
        try:
            await publish_catalogue(worker.redis)
            await send_beat(worker)
            log.info("language catalogue published", extra={"languages": len(entries())})
        except (aioredis.RedisError, OSError) as exc:
            log.error("could not publish the language catalogue: %s", exc)

    @worker.app.timer(interval=settings.heartbeat_interval_s)
    async def heartbeat() -> None:
        """This worker's beat in the fleet hash: who is up, with how many slots."""
        try:
            await send_beat(worker)
            await publish_catalogue(worker.redis)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("heartbeat not recorded: %s", exc)
