"""Local dispatch: an accepted run starts on the worker that screened it when a slot is free.

Without it, the safety agent appends each RunAccepted to executions.dispatch, the fleet's work
queue, and an executor agent (of this worker or another) reads it back and claims the attempt
(processors/claims.py) before running it. When this worker has a sandbox slot free and is not
draining, the safety agent claims the attempt itself and starts it at once: no dispatch record,
no broker ack and no read back on the run's path (two Kafka round trips fewer; README,
Benchmarks), and one record fewer for the broker and the workers to handle. Nothing is lost by
it: the claim stores the RunAccepted in Redis (`fleet:inflight:{id}`) before the program runs,
which is what the monitor runs again if this worker dies; and the RunRequested is acked only
after the claim, so a worker dying before it has the request screened again. The dispatch topic
is a work queue, not part of the kept log: the run's own events are the same either way.

A busy worker (every slot taken) and one whose claim Redis does not answer at once append the
record as before, so a run an idle worker could start is never held, and the executor's patient
claim (CLAIM_PATIENCE_S) waits Redis out. `LOCAL_DISPATCH=false` turns the shortcut off.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from eventlog import topics
from fleet.quota import COOLDOWN_KEY
from processors import claims, executor
from schemas import Envelope, encode, events
from telemetry import tracing

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.dispatch")


def release_slot(worker: Worker) -> None:
    """An attempt the executor handled (claimed, ran or skipped) is over: its slot is free."""
    worker.active -= 1
    worker.slot_freed.set()


async def take_slot(worker: Worker) -> bool:
    """For a record read from the dispatch topic: wait until the executor has a slot free (runs
    started by the safety agent count), so a worker never claims more attempts than it has
    slots (the rest stay in the topic for the fleet). False if the worker started draining."""
    while worker.active >= worker.sandbox_settings.slots and not worker.draining:
        worker.slot_freed.clear()
        await worker.slot_freed.wait()
    if worker.draining:
        return False
    worker.active += 1
    return True


def cooldown_lookup(worker: Worker, request: events.RunRequested) -> asyncio.Future[Any]:
    """Whether the session cools down, asked while the attempt is claimed (one Redis round trip
    on the run's path instead of two); an answer nobody awaits is not an error to log."""
    cooling = asyncio.ensure_future(worker.redis.exists(COOLDOWN_KEY.format(request.session_id)))
    cooling.add_done_callback(_retrieved)
    return cooling


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def start_here(
    worker: Worker, envelope: Envelope[events.RunAccepted], headers: dict[str, bytes]
) -> bool:
    """Claim the RunAccepted in `envelope` (attempt 1, just screened) and start it on this
    worker if a slot is free: True when nothing is left to dispatch (started here, or claimed
    before: a RunRequested delivered again), False when its record must go to the dispatch
    topic (encoded only when it is claimed here)."""
    if (
        not worker.settings.local_dispatch
        or worker.draining
        or worker.active >= worker.sandbox_settings.slots
    ):
        return False
    accepted = envelope.payload
    worker.active += 1  # counted now: the next run screened must see this slot taken
    started_at = datetime.now(UTC)
    cooling = cooldown_lookup(worker, accepted.request)
    try:
        claimed_before = await claims.claim(worker, accepted, encode(envelope), started_at)
    except (aioredis.RedisError, OSError) as exc:
        cooling.cancel()
        release_slot(worker)
        log.warning(
            "could not claim here, dispatched instead: %s",
            exc,
            extra={"execution_id": accepted.execution_id},
        )
        return False
    if claimed_before:
        cooling.cancel()
        release_slot(worker)
        log.info(
            "attempt %d already claimed, skipped",
            claimed_before,
            extra={"execution_id": accepted.execution_id, "attempt": accepted.attempt},
        )
        return True
    task = asyncio.get_running_loop().create_task(
        _run(worker, accepted, started_at, cooling, headers)
    )
    worker.local_runs.add(task)
    task.add_done_callback(worker.local_runs.discard)
    return True


async def _run(
    worker: Worker,
    accepted: events.RunAccepted,
    started_at: datetime,
    cooling: asyncio.Future[Any],
    headers: dict[str, bytes],
) -> None:
    # The span a consumer of the record would have had: a child of the screening.
    with tracing.consuming(
        f"execute {topics.DISPATCH.name}",
        headers,
        {"runbox.dispatch": "local"} if tracing.enabled() else None,
    ):
        try:
            await executor.run_claimed(worker, accepted, started_at, cooling, "local")
        except Exception:  # the executor turns failures into events; this is what is left
            log.exception("local run not handled", extra={"execution_id": accepted.execution_id})
        finally:
            release_slot(worker)
