"""The safety agent: RunRequested -> RunAccepted (dispatch) or RunRejected (E006)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from processors import heartbeat
from processors.failures import dead_letter, settle_neutral
from processors.publisher import handle_safely, publish, read, trace_headers
from processors.rules import check
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.safety")


def register(worker: Worker) -> None:
    @worker.app.agent(worker.requested)
    async def safety_agent(stream: Any) -> None:
        async for event in stream.events():
            await handle_safely(screen, worker, event.value)


async def screen(worker: Worker, raw: bytes) -> None:
    """Never raises: Faust would ack the message and drop it (docs/architecture.md, Faust)."""
    request = read(raw, events.RunRequested)
    if request is None:
        return
    try:
        decision = check(
            request,
            heartbeat.keys(),
            worker.settings.policy,
            datetime.now(UTC),
            worker.settings.infinite_loop_rule,
        )
        if isinstance(decision, events.RunAccepted):
            await publish(worker.dispatch, decision, trace_headers(request))
            log.info("run accepted", extra={"execution_id": request.execution_id})
        else:
            await publish(worker.events, decision, trace_headers(request))
            await settle_neutral(worker, request)
            log.info(
                "run rejected",
                extra={
                    "execution_id": request.execution_id,
                    "rule": decision.rule,
                    "reason": decision.reason,
                },
            )
    except Exception as exc:  # a bug of ours: the run ends with E005, never silently
        log.exception("safety check failed", extra={"execution_id": request.execution_id})
        await dead_letter(worker, request, 0, f"safety check failed: {exc}")
