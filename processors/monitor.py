"""Finds dead workers and runs their executions again: nothing stays RUNNING for ever.

Every HEARTBEAT_INTERVAL_S, the one worker holding MONITOR_LOCK_KEY (a Redis lock with a TTL,
renewed by its holder, taken over by another when it lapses) reads the beats. A beat older than
WORKER_DEAD_AFTER_S is a dead worker: each attempt it was running (still in flight) fails as a
failure of ours through the normal path, a RetryScheduled of the next attempt or after the
last a dead letter (E005), and then its beat is removed.

Before running an attempt again, the monitor asks the event log whether it ended after all (the
worker may have died between its RunFinished reaching Kafka and clearing its claim in Redis):
then it is not run again. A worker only paused (not dead) may still finish an attempt the
monitor has retried; the claims keep each attempt to one run, the projection keeps the first.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
import redis.asyncio as aioredis

from fleet.workers import (
    INFLIGHT_KEY,
    MONITOR_LOCK_KEY,
    WORKERS_KEY,
    RunningExecution,
    WorkerBeat,
    decode_beat,
)
from processors import claims
from processors.failures import retry_or_dead_letter
from processors.logcheck import attempt_ended
from processors.publisher import read
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.monitor")

# KEYS: lock. ARGV: worker id, ttl ms. 1 when this worker holds the lock (taken or renewed).
_LOCK = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: workers hash. ARGV: worker id, the beat read. Removed only if not renewed meanwhile.
_REMOVE_BEAT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def dead(
    beats: dict[str, bytes], dead_after_s: float, now: float
) -> list[tuple[WorkerBeat, bytes]]:
    """The beats older than `dead_after_s` (undecodable ones are dead too), with their bytes."""
    found = []
    for worker_id, raw in beats.items():
        try:
            beat = decode_beat(raw)
        except msgspec.DecodeError:
            beat = WorkerBeat(worker_id=worker_id, state="running", slots=0, free_slots=0)
        if beat.age_s(now) > dead_after_s:
            found.append((beat, raw))
    return found


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()  # no decode_responses: bytes


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def register(worker: Worker) -> None:
    settings = worker.settings

    @worker.app.timer(interval=settings.heartbeat_interval_s)
    async def look_for_dead_workers() -> None:
        if worker.draining:
            return
        try:
            await sweep(worker)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("could not look for dead workers: %s", exc)
        except Exception:  # e.g. the log could not be read: the next beat tries again
            log.exception("could not mend the dead workers")


async def sweep(worker: Worker) -> list[str]:
    """If this worker holds the monitor lock: mend every dead worker; their ids."""
    settings = worker.settings
    redis = worker.redis
    lock_ttl_ms = int(settings.heartbeat_interval_s * 3 * 1000)
    if not await redis.eval(_LOCK, 1, MONITOR_LOCK_KEY, settings.worker_id, lock_ttl_ms):
        return []
    raw_beats = await redis.hgetall(WORKERS_KEY)
    beats = {_text(k): _bytes(v) for k, v in raw_beats.items()}
    mended = []
    for beat, raw in dead(beats, settings.worker_dead_after_s, time.time()):
        if beat.worker_id == settings.worker_id:
            continue  # our own beat is late (Redis was away): we are alive
        log.warning(
            "worker dead: last beat %.1fs ago",
            beat.age_s(),
            extra={"worker_id": beat.worker_id, "running": len(beat.running)},
        )
        for run in beat.running:
            await take_over(worker, beat.worker_id, run)
        await redis.eval(_REMOVE_BEAT, 1, WORKERS_KEY, beat.worker_id, raw)
        mended.append(beat.worker_id)
    return mended


async def mend_earlier_self(worker: Worker) -> int:
    """A worker restarted under the same id (a supervisor's restart) would hide that its
    earlier process died: its fresh beats keep the old one's runs from ever looking dead. So at
    start it takes over the runs its earlier process left in flight; how many."""
    raw = await worker.redis.hget(WORKERS_KEY, worker.settings.worker_id)
    if raw is None:
        return 0
    try:
        earlier = decode_beat(_bytes(raw))
    except msgspec.DecodeError:
        return 0
    if earlier.started_at == worker.started_at:
        return 0  # our own beat
    for run in earlier.running:
        log.warning(
            "run left by this worker's earlier process",
            extra={"execution_id": run.execution_id, "attempt": run.attempt},
        )
        await take_over(worker, f"{earlier.worker_id} (earlier process)", run)
    await worker.redis.eval(_REMOVE_BEAT, 1, WORKERS_KEY, worker.settings.worker_id, raw)
    return len(earlier.running)


async def take_over(worker: Worker, dead_worker: str, run: RunningExecution) -> None:
    """The dead worker's attempt failed: its next attempt, or the dead letter."""
    raw = await worker.redis.get(INFLIGHT_KEY.format(run.execution_id))
    accepted = read(_bytes(raw), events.RunAccepted) if raw else None
    if accepted is None or accepted.attempt != run.attempt:
        return  # it ended, or a later attempt is under way elsewhere
    bootstrap = worker.settings.kafka_bootstrap_servers
    if await attempt_ended(bootstrap, run.execution_id, run.attempt, run.started_at):
        # It died after its RunFinished was in the log, before it could clear its claim.
        await claims.forget(worker, run.execution_id, run.attempt)
        log.info(
            "attempt of a dead worker had ended: not run again",
            extra={"execution_id": run.execution_id, "attempt": run.attempt},
        )
        return
    await retry_or_dead_letter(
        worker,
        accepted.request,
        run.attempt,
        f"worker {dead_worker} stopped answering during attempt {run.attempt}",
        worker_id=dead_worker,
        started_at=datetime.fromtimestamp(run.started_at, UTC),
    )
    await claims.forget(worker, run.execution_id, run.attempt)
    log.warning(
        "attempt of a dead worker retried",
        extra={"execution_id": run.execution_id, "attempt": run.attempt, "worker_id": dead_worker},
    )
