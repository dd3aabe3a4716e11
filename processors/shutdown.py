"""Graceful shutdown: on SIGTERM a worker drains before it stops, so a rolling restart loses
nothing and runs nothing twice.

Draining: the beat says "draining"; the agents take no new message (what they have not started
stays unacked, and Kafka hands it to the other workers once this one has left the group);
running programs finish, for at most SHUTDOWN_GRACE_S. A worker that leaves with nothing
running removes its beat; one whose grace ran out leaves its beat, and the monitor of another
worker runs those executions again once the beat is old.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

import faust
import redis.asyncio as aioredis

from processors import heartbeat

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.shutdown")

POLL_S = 0.05


async def drain(worker: Worker) -> bool:
    """Stop taking work and wait for the running programs; True if none was left running."""
    worker.state = "draining"
    log.info("draining", extra={"running": len(worker.running)})
    try:
        await heartbeat.write_beat(worker)
    except (aioredis.RedisError, OSError) as exc:
        log.warning("draining beat not recorded: %s", exc)
    deadline = time.monotonic() + worker.settings.shutdown_grace_s
    # A run the safety agent started (processors/dispatch.py) is in `running` from its claim;
    # its task, until it has published the result and released the claim.
    while (worker.running or worker.local_runs) and time.monotonic() < deadline:  # noqa: ASYNC110 (cheap; no event to wire)
        await asyncio.sleep(POLL_S)
    if worker.running or worker.local_runs:
        log.warning(
            "grace period over, runs abandoned to the monitor",
            extra={"running": [r.execution_id for r in worker.running.values()]},
        )
        return False
    try:
        await heartbeat.remove_beat(worker)
    except (aioredis.RedisError, OSError) as exc:
        log.warning("beat not removed: %s", exc)
    log.info("drained")
    return True


class DrainingWorker(faust.Worker):
    """Faust's worker process, except that SIGTERM drains (see `drain`) before stopping."""

    def __init__(self, worker: Worker, **kwargs: Any) -> None:
        super().__init__(worker.app, **kwargs)
        self.processors = worker
        self._drain_task: asyncio.Task[None] | None = None

    def _on_sigterm(self) -> None:
        if self._drain_task is None:
            self._drain_task = asyncio.ensure_future(self._drain_then_stop())
        else:  # told twice: stop now (what runs is abandoned to the monitor)
            super()._on_sigterm()

    async def on_stop(self) -> None:
        """Runs handed over locally are not the agents' and stop with the worker, as theirs do:
        cancelled, their claims left to the monitor."""
        local = list(self.processors.local_runs)
        for task in local:
            task.cancel()
        await asyncio.gather(*local, return_exceptions=True)
        await super().on_stop()

    async def _drain_then_stop(self) -> None:
        try:
            await drain(self.processors)
        finally:
            self.log.info("Signal received: %s (%s)", signal.SIGTERM, signal.SIGTERM.value)
            super()._on_sigterm()
