"""The safety agent: RunRequested -> RunAccepted (dispatch) or RunRejected (E006).

A failure of ours while screening (the broker refusing the event, a bug) is retried with the
retry backoff, MAX_ATTEMPTS times in all; then the run is dead-lettered (E005, attempts 0: the
program never ran).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from processors import dispatch, heartbeat
from processors.failures import backoff, dead_letter, settle_neutral
from processors.publisher import consume, publish, read, trace_headers
from processors.rules import check
from schemas import events, new_event
from telemetry import metrics

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.safety")


def register(worker: Worker) -> None:
    @worker.app.agent(worker.requested)
    async def safety_agent(stream: Any) -> None:
        await consume(stream, screen, worker)


async def screen(worker: Worker, raw: bytes) -> None:
    """Never raises but CancelledError: Faust would ack the message and drop it."""
    request = read(raw, events.RunRequested)
    if request is None:
        return
    settings = worker.settings
    extra = {"execution_id": request.execution_id}
    reason = ""
    for tried in range(1, settings.max_attempts + 1):
        if tried > 1:
            await asyncio.sleep(backoff(settings.retry_backoff_ms, tried).total_seconds())
        try:
            await screen_once(worker, request)
            return
        except Exception as exc:  # a failure of ours: the run ends with E005, never silently
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("safety check failed", extra={**extra, "tried": tried})
    await dead_letter(
        worker,
        request,
        0,
        f"safety check failed {settings.max_attempts} times, last: {reason}",
    )


async def screen_once(worker: Worker, request: events.RunRequested) -> None:
    decision = check(
        request,
        heartbeat.keys(),
        worker.settings.policy,
        datetime.now(UTC),
        worker.settings.infinite_loop_rule,
    )
    if isinstance(decision, events.RunAccepted):
        headers = trace_headers(request)
        envelope = new_event(decision)
        # A slot free here: claimed and started now, with no trip through the dispatch topic.
        local = await dispatch.start_here(worker, envelope, headers)
        if not local:
            await publish(worker.dispatch, envelope, headers)
        log.info("run accepted", extra={"execution_id": request.execution_id, "local": local})
    else:
        await publish(worker.events, decision, trace_headers(request))
        await settle_neutral(worker, request)
        metrics.SAFETY_REJECTIONS.labels(decision.rule or "unknown").inc()
        log.info(
            "run rejected",
            extra={
                "execution_id": request.execution_id,
                "rule": decision.rule,
                "reason": decision.reason,
            },
        )
