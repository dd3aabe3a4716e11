"""What happens when an attempt fails for reasons of ours: retry with backoff, then dead letter.

Only failures of ours come here (E005 from the sandbox, an exception, a claim Redis could not
record, a worker that died mid-run, a re-dispatch that failed); a program that exits non-zero,
times out or runs out of memory has its result, final at its attempt. Both events are published
until the broker takes them (`publish_until_sent`): the run must end one way or the other.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from fleet.quota import settle
from processors.publisher import publish_until_sent, trace_headers
from schemas import events, new_event
from telemetry import metrics

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.failures")


def backoff(base_ms: int, attempt: int) -> timedelta:
    """Delay before `attempt` (2, 3, ...): the base doubled at each attempt (2 s, 4 s, 8 s)."""
    return timedelta(milliseconds=base_ms * 2 ** max(attempt - 2, 0))


async def retry_or_dead_letter(
    worker: Worker,
    request: events.RunRequested,
    attempt: int,
    reason: str,
    *,
    worker_id: str | None = None,
    started_at: datetime | None = None,
) -> None:
    """`attempt` failed: schedule the next one, or after the last dead-letter the execution.

    `worker_id` and `started_at` are those of the failed attempt, if it started.
    """
    settings = worker.settings
    if attempt >= settings.max_attempts:
        await dead_letter(
            worker, request, attempt, reason, worker_id=worker_id, started_at=started_at
        )
        return
    now = datetime.now(UTC)
    envelope = new_event(
        events.RetryScheduled(
            execution_id=request.execution_id,
            attempt=attempt + 1,
            not_before=now + backoff(settings.retry_backoff_ms, attempt + 1),
            reason=reason,
            request=request,
        )
    )
    # One event in two topics: the work queue first, then the kept log, so that a retry the
    # log records was queued (the monitor's log check relies on it) and auditors see why each
    # attempt was given up after the queue has expired it.
    await publish_until_sent(worker.retry, envelope, trace_headers(request))
    await publish_until_sent(worker.events, envelope, trace_headers(request))
    metrics.RETRIES.inc()
    log.warning(
        "retry scheduled",
        extra={"execution_id": request.execution_id, "attempt": attempt + 1, "reason": reason},
    )


async def dead_letter(
    worker: Worker,
    request: events.RunRequested,
    attempts: int,
    reason: str,
    *,
    worker_id: str | None = None,
    started_at: datetime | None = None,
) -> None:
    """The execution ends FAILED with E005: the fact goes to the kept log (executions.events),
    and a copy to the operators' dead-letter queue (kept 30 days)."""
    dead = events.DeadLettered(
        execution_id=request.execution_id,
        attempts=attempts,
        reason=reason,
        request=request,
        dead_lettered_at=datetime.now(UTC),
        worker_id=worker_id,
        started_at=started_at,
    )
    envelope = new_event(dead)  # one event, in two topics
    await publish_until_sent(worker.events, envelope, trace_headers(request))
    await publish_until_sent(worker.dead_letter, envelope, trace_headers(request))
    await settle_neutral(worker, request)
    metrics.DEAD_LETTERS.inc()
    log.error(
        "dead lettered",
        extra={"execution_id": request.execution_id, "attempts": attempts, "reason": reason},
    )


async def settle_neutral(worker: Worker, request: events.RunRequested) -> None:
    """A run that ended for reasons that are not the program's: off the queues, no streak."""
    try:
        await settle(worker.redis, request.session_id, request.execution_id, "neutral", 1, 1)
    except (aioredis.RedisError, OSError) as exc:  # bookkeeping only: queued entries expire
        log.warning(
            "could not settle the run: %s", exc, extra={"execution_id": request.execution_id}
        )
