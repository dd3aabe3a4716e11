"""The safety agent: RunRequested -> RunAccepted (dispatch) or RunRejected (E006)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from processors import catalogue
from processors.app import app, dispatch_topic, events_topic, requested_topic, settings
from processors.failures import dead_letter
from processors.publisher import handle_safely, publish, read, trace_headers
from processors.rules import check
from schemas import events

log = logging.getLogger("processors.safety")


@app.agent(requested_topic)
async def safety_agent(stream: Any) -> None:
    async for event in stream.events():
        await handle_safely(screen, event.value)


async def screen(raw: bytes) -> None:
    """Never raises: Faust would ack the message and drop it (DESIGN.md, Faust traps)."""
    request = read(raw, events.RunRequested)
    if request is None:
        return
    try:
        decision = check(request, catalogue.keys(), settings, datetime.now(UTC))
        if isinstance(decision, events.RunAccepted):
            await publish(dispatch_topic, decision, trace_headers(request))
            log.info("run accepted", extra={"execution_id": request.execution_id})
        else:
            await publish(events_topic, decision, trace_headers(request))
            log.info(
                "run rejected",
                extra={"execution_id": request.execution_id, "reason": decision.reason},
            )
    except Exception as exc:  # a bug of ours: the run ends with E005, never silently
        log.exception("safety check failed", extra={"execution_id": request.execution_id})
        await dead_letter(request, 0, f"safety check failed: {exc}")
