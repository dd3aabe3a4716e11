"""The retry agent: waits until a RetryScheduled is due, then dispatches its next attempt."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from processors.failures import dead_letter
from processors.publisher import handle_safely, publish, read, trace_headers
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.retry")


def register(worker: Worker) -> None:
    @worker.app.agent(worker.retry)
    async def retry_agent(stream: Any) -> None:
        async for event in stream.events():
            await handle_safely(redispatch, worker, event.value)


async def redispatch(worker: Worker, raw: bytes) -> None:
    requeued = read(raw, events.RunRequeued)
    if requeued is not None:
        await requeue(worker, requeued)
        return
    retry = read(raw, events.RetryScheduled)
    if retry is None:
        return
    try:
        delay = (retry.not_before - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)  # retries are due in order of scheduling, roughly
        accepted = events.RunAccepted(
            execution_id=retry.execution_id, attempt=retry.attempt, request=retry.request
        )
        await publish(worker.dispatch, accepted, trace_headers(retry.request))
        log.info(
            "retry dispatched", extra={"execution_id": retry.execution_id, "attempt": retry.attempt}
        )
    except Exception as exc:
        log.exception("retry failed", extra={"execution_id": retry.execution_id})
        await dead_letter(worker, retry.request, retry.attempt, f"retry failed: {exc}")


async def requeue(worker: Worker, requeued: events.RunRequeued) -> None:
    """An operator's requeue: recorded in the execution's own history (executions.events, so it
    is ordered before the new attempt's events), then dispatched as that attempt."""
    headers = trace_headers(requeued.request)
    await publish(worker.events, requeued, headers)
    accepted = events.RunAccepted(
        execution_id=requeued.execution_id, attempt=requeued.attempt, request=requeued.request
    )
    await publish(worker.dispatch, accepted, headers)
    log.info(
        "requeued run dispatched",
        extra={"execution_id": requeued.execution_id, "attempt": requeued.attempt},
    )
