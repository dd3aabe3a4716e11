"""The workers that are alive, from their heartbeats in Redis (fleet.workers), cached briefly."""

from __future__ import annotations

import time

import msgspec
import redis.asyncio as aioredis

from api.errors import DependencyDown, NoExecutors
from fleet.workers import WORKERS_KEY, WorkerBeat, decode_beat


class Fleet:
    """Reads every worker's last beat; a beat older than `dead_after_s` is a dead worker."""

    def __init__(self, redis: aioredis.Redis, dead_after_s: float, ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.dead_after_s = dead_after_s
        self.ttl_s = ttl_s
        self._beats: list[WorkerBeat] = []
        self._loaded_at = float("-inf")

    async def beats(self, fresh: bool = False) -> list[WorkerBeat]:
        if fresh or time.monotonic() - self._loaded_at > self.ttl_s:
            try:
                raw = await self.redis.hgetall(WORKERS_KEY)
            except (aioredis.RedisError, OSError) as exc:
                raise DependencyDown("Redis is unavailable", service="redis") from exc
            beats = []
            for value in raw.values():
                try:
                    beats.append(decode_beat(value.encode() if isinstance(value, str) else value))
                except msgspec.DecodeError:
                    continue  # a beat of a newer or broken worker: not ours to judge
            self._beats = sorted(beats, key=lambda b: b.worker_id)
            self._loaded_at = time.monotonic()
        return self._beats

    def alive(self, beat: WorkerBeat) -> bool:
        return beat.age_s() <= self.dead_after_s

    async def live(self) -> list[WorkerBeat]:
        return [b for b in await self.beats() if self.alive(b)]

    async def require_executor(self, language_key: str) -> None:
        """503 when no live worker that takes work runs `language_key`: a run would only wait."""
        for beat in await self.live():
            if beat.state == "running" and language_key in beat.languages:
                return
        raise NoExecutors(
            f"no executor running {language_key!r} is alive right now", language=language_key
        )
