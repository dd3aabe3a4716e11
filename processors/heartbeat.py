"""Tells the fleet (Redis) that this worker is alive: its beat (fleet/workers.py) every
HEARTBEAT_INTERVAL_S, and the languages it runs (the catalogue the API serves)."""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from fleet.catalogue import CATALOGUE_KEY, LanguageEntry, LibraryEntry, encode_catalogue
from fleet.workers import WORKERS_KEY, WorkerBeat, encode_beat
from sandbox import registry

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.heartbeat")


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
            libraries=tuple(
                LibraryEntry(name=lib.name, version=lib.version, description=lib.description)
                for lib in language.installed_libraries()
            ),
        )
        for language in registry()
    )


def keys() -> frozenset[str]:
    return frozenset(entry.key for entry in entries())


async def publish_catalogue(redis: aioredis.Redis) -> None:
    await redis.set(CATALOGUE_KEY, encode_catalogue(list(entries())))


def memory_rss_kb() -> int | None:
    """This process's resident memory (the programs it runs are counted by their cgroups)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def beat_of(worker: Worker) -> WorkerBeat:
    """The worker's beat as of now; written under `worker.beat_lock` (see Worker)."""
    slots = worker.sandbox_settings.slots
    running = sorted(worker.running.values(), key=lambda r: r.started_at)
    return WorkerBeat(
        worker_id=worker.settings.worker_id,
        state=worker.state,
        slots=slots,
        free_slots=max(slots - len(running), 0),
        running=running,
        memory_rss_kb=memory_rss_kb(),
        languages=sorted(keys()),
        started_at=worker.started_at,
        at=time.time(),
    )


async def before_first_beat(worker: Worker) -> None:
    """Once per process, before its first beat (a claim writes one too): take over what an
    earlier process of this worker left running (processors/monitor.py: mend_earlier_self). Its
    old beat is the only record of those runs, and this process's first beat replaces it: the
    start task and a claim by an agent started at the same moment race for it otherwise."""
    if worker.mended:
        return
    from processors.monitor import mend_earlier_self

    async with worker.mend_lock:
        if worker.mended:
            return
        try:
            await mend_earlier_self(worker)
        except Exception:  # Redis or Kafka away: what follows fails or is retried as usual
            log.exception("could not take over the runs of this worker's earlier process")
        worker.mended = True


async def write_beat(worker: Worker) -> None:
    await before_first_beat(worker)
    async with worker.beat_lock:
        await worker.redis.hset(
            WORKERS_KEY, worker.settings.worker_id, encode_beat(beat_of(worker))
        )


async def remove_beat(worker: Worker) -> None:
    """A worker leaving with nothing running: it is gone, not dead."""
    async with worker.beat_lock:
        await worker.redis.hdel(WORKERS_KEY, worker.settings.worker_id)


def register(worker: Worker) -> None:
    settings = worker.settings

    @worker.app.task
    async def start() -> None:
        """On start: mend what an earlier process of this worker left running, build the
        sandbox, then tell the fleet and the API what this worker runs."""
        await before_first_beat(worker)
        worker.sandbox()
        try:
            await write_beat(worker)
            await publish_catalogue(worker.redis)
            log.info("language catalogue published", extra={"languages": len(entries())})
        except (aioredis.RedisError, OSError) as exc:
            log.error("could not publish the language catalogue: %s", exc)

    @worker.app.timer(interval=settings.heartbeat_interval_s)
    async def heartbeat() -> None:
        """The beat: who is up, in what state, with which runs, slots and memory."""
        try:
            await write_beat(worker)
            await publish_catalogue(worker.redis)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("heartbeat not recorded: %s", exc)
