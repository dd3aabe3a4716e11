"""The languages the executors have registered, read from Redis and cached briefly."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from api.errors import DependencyDown, NotFound
from fleet.catalogue import CATALOGUE_KEY, LanguageEntry, decode_catalogue


class Catalogue:
    """Looks a language up by its stable id or by its key or name, case-insensitively."""

    def __init__(self, redis: aioredis.Redis, ttl_s: float = 5.0) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._entries: list[LanguageEntry] = []
        self._index: dict[str, LanguageEntry] = {}
        self._loaded_at = float("-inf")

    async def entries(self) -> list[LanguageEntry]:
        if time.monotonic() - self._loaded_at > self.ttl_s:
            try:
                raw = await self.redis.get(CATALOGUE_KEY)
            except (aioredis.RedisError, OSError) as exc:
                if self._entries:
                    return self._entries  # stale beats down: the catalogue rarely changes
                raise DependencyDown("Redis is unavailable", service="redis") from exc
            if raw is None and not self._entries:
                raise DependencyDown(
                    "no executor has registered its languages yet", service="executors"
                )
            if raw is not None:
                self._entries = sorted(
                    decode_catalogue(raw if isinstance(raw, bytes) else raw.encode()),
                    key=lambda e: e.name.lower(),
                )
                self._index = {}
                for entry in self._entries:
                    for alias in (entry.id, entry.key, entry.name):
                        self._index[alias.lower()] = entry
            self._loaded_at = time.monotonic()
        return self._entries

    async def get(self, id_or_name: str) -> LanguageEntry:
        await self.entries()
        entry = self._index.get(id_or_name.strip().lower())
        if entry is None:
            raise NotFound(f"unknown language {id_or_name!r}", language_id=id_or_name)
        return entry
