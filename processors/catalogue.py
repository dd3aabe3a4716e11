"""The languages this worker runs, read from its sandbox, published to Redis for the API."""

from __future__ import annotations

import functools
import logging

import redis.asyncio as aioredis

from sandbox import registry
from schemas.catalogue import CATALOGUE_KEY, LanguageEntry, encode_catalogue

log = logging.getLogger("processors.catalogue")


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
    log.info("language catalogue published", extra={"languages": len(entries())})
