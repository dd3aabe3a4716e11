"""Idempotency keys of runs: a key maps to an execution only once its RunRequested is in the log.

The execution id of a keyed run is derived from the session and the key, so that every retry of
one request names the same execution whatever happened to an earlier try (a duplicate
RunRequested is harmless: the projection keeps the first, the executor runs an attempt once).
A record in Redis remembers the key: `pending` while the first request appends, `appended`
(with where the event landed) once it is in the log, and the request's fingerprint, so that the
same key with another body is refused (422) instead of silently answered with the first run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import msgspec
import redis.asyncio as aioredis

from api.dto import RunOptions
from api.errors import DependencyDown, IdempotencyKeyReused
from api.eventlog import Appended
from api.services import Services

NAMESPACE = uuid.UUID("6f1d7c64-2b7e-4a59-9a53-0c0d9e5b8e21")
T = TypeVar("T")
PENDING_TTL_S = 30  # a request that died between claim and append frees its key this soon


class Record(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    fingerprint: str
    appended: Appended | None = None  # None while the first request is still appending


def execution_id_for(session_id: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{session_id}\n{key}"))


# The run options a body had before any of the later, optional ones (interactive, test cases,
# callback_url, ...) existed.
_FIRST_OPTIONS = ("time_limit_ms", "memory_mb", "stdin", "args")


def fingerprint(options: RunOptions) -> str:
    document = msgspec.to_builtins(options)
    # A body without the later options prints as it did before they existed: keys remembered
    # across an upgrade still match their retries.
    document = {k: v for k, v in document.items() if k in _FIRST_OPTIONS or v is not None}
    return hashlib.sha256(msgspec.json.encode(document)).hexdigest()


def _redis_key(session_id: str, key: str) -> str:
    return f"idempotency:{session_id}:{hashlib.sha256(key.encode()).hexdigest()}"


async def _call(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except (aioredis.RedisError, OSError) as exc:
        raise DependencyDown("Redis is unavailable", service="redis") from exc


async def claim(services: Services, session_id: str, key: str, print_: str) -> Record | None:
    """Claim `key` for a new run (None), or the record of the request that has it: waited for
    while that one is still appending, refused (422) if it had another body."""
    name = _redis_key(session_id, key)
    mine = Record(execution_id=execution_id_for(session_id, key), fingerprint=print_)
    deadline = time.monotonic() + services.settings.read_your_writes_timeout_s
    while True:
        claimed = services.redis.set(name, msgspec.json.encode(mine), nx=True, ex=PENDING_TTL_S)
        if await _call(claimed):
            return None
        raw: bytes | str | None = await _call(services.redis.get(name))
        if raw is None:
            continue  # it expired between the two calls: claim again
        record = msgspec.json.decode(raw, type=Record)
        if record.fingerprint != print_:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a run with another body",
                execution_id=record.execution_id,
            )
        if record.appended is not None or time.monotonic() > deadline:
            return record
        await asyncio.sleep(0.02)


async def appended(services: Services, session_id: str, key: str, record: Record) -> None:
    await _call(
        services.redis.set(
            _redis_key(session_id, key),
            msgspec.json.encode(record),
            ex=services.settings.idempotency_ttl_s,
        )
    )


async def release(services: Services, session_id: str, key: str) -> None:
    """The request failed before its event was appended: the key is free for its retry."""
    with contextlib.suppress(aioredis.RedisError, OSError):  # else it expires by itself
        await services.redis.delete(_redis_key(session_id, key))
