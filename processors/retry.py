"""The retry agent: waits until a RetryScheduled is due, then dispatches its next attempt.

Retries wait side by side (up to CONCURRENCY at once), so a long backoff does not hold back
those due sooner. A re-dispatch that fails counts as its attempt failing: the next attempt is
scheduled, or after the last the run is dead-lettered (`processors/failures.py`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from processors.failures import retry_or_dead_letter
from processors.publisher import consume, publish, publish_until_sent, read, trace_headers
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.retry")

CONCURRENCY = 32  # retries waiting at once in one worker


def register(worker: Worker) -> None:
    @worker.app.agent(worker.retry, concurrency=CONCURRENCY)
    async def retry_agent(stream: Any) -> None:
        await consume(stream, redispatch, worker)


async def redispatch(worker: Worker, raw: bytes) -> None:
    """Never raises but CancelledError: Faust would ack the message and drop it."""
    requeued = read(raw, events.RunRequeued)
    if requeued is not None:
        await requeue(worker, requeued)
        return
    retry = read(raw, events.RetryScheduled)
    if retry is None:
        return
    extra = {"execution_id": retry.execution_id, "attempt": retry.attempt}
    delay = (retry.not_before - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    accepted = events.RunAccepted(
        execution_id=retry.execution_id, attempt=retry.attempt, request=retry.request
    )
    try:
        await publish(worker.dispatch, accepted, trace_headers(retry.request))
    except Exception as exc:  # a failure of ours: this attempt failed before it could start
        log.exception("re-dispatch failed", extra=extra)
        await retry_or_dead_letter(
            worker,
            retry.request,
            retry.attempt,
            f"re-dispatch failed: {type(exc).__name__}: {exc}",
        )
        return
    log.info("retry dispatched", extra=extra)


async def requeue(worker: Worker, requeued: events.RunRequeued) -> None:
    """An operator's requeue: recorded in the execution's own history (executions.events, so it
    is ordered before the new attempt's events), then dispatched as that attempt."""
    headers = trace_headers(requeued.request)
    await publish_until_sent(worker.events, requeued, headers)
    accepted = events.RunAccepted(
        execution_id=requeued.execution_id, attempt=requeued.attempt, request=requeued.request
    )
    await publish_until_sent(worker.dispatch, accepted, headers)
    log.info(
        "requeued run dispatched",
        extra={"execution_id": requeued.execution_id, "attempt": requeued.attempt},
    )
