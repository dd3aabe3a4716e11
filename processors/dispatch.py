"""Local dispatch: an accepted run starts on the worker that screened it when a slot is free.

The safety agent appends each RunAccepted to executions.dispatch, the fleet's work queue. When
this worker has a sandbox slot free (and is not draining), it starts the attempt at once, as soon
as the record is sent, instead of waiting for the broker's ack and then for the record to come
back through Kafka: two broker round trips fewer on every run's path (README, Benchmarks). The
claim (processors/claims.py) records the attempt and its RunAccepted in Redis before the program
runs, which is what the monitor needs to run it again if this worker dies; the record in the
topic is written as before, and the claim lets only one delivery run the attempt. If the broker
refuses the record, a run started here goes on (the topic's copy was only the fleet's way to it);
one not started here is screened again, as before. When the record comes back to this worker it is recognised and skipped
without asking Redis; another worker receiving it finds the attempt claimed and skips it too.

A busy worker (every slot taken) leaves the run to the topic, so it never holds a run that an idle
worker of the fleet could start. `LOCAL_DISPATCH=false` turns the shortcut off.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

from eventlog import topics
from processors import executor
from schemas import events
from telemetry import tracing

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.dispatch")

# Attempts started here whose dispatch record has not come back yet. A record this worker never
# receives (its partition is another worker's) would stay: the oldest are forgotten past this.
REMEMBERED = 10_000


class Handed:
    """The attempts this worker started itself, until their dispatch records come back."""

    def __init__(self) -> None:
        self.attempts: OrderedDict[tuple[str, int], None] = OrderedDict()

    def add(self, key: tuple[str, int]) -> None:
        self.attempts[key] = None
        while len(self.attempts) > REMEMBERED:
            self.attempts.popitem(last=False)

    def take(self, key: tuple[str, int]) -> bool:
        """True (once) if `key` was started here: its record is to be skipped."""
        return self.attempts.pop(key, False) is None


def release_slot(worker: Worker) -> None:
    """An attempt the executor handled (claimed, ran or skipped) is over: its slot is free."""
    worker.active -= 1
    worker.slot_freed.set()


async def take_slot(worker: Worker) -> bool:
    """For a record read from the dispatch topic: wait until the executor has a slot free (runs
    handed over here count), so a worker never claims more attempts than it has slots (the rest
    stay in the topic for the fleet). False if the worker started draining meanwhile."""
    while worker.active >= worker.sandbox_settings.slots and not worker.draining:
        worker.slot_freed.clear()
        await worker.slot_freed.wait()
    if worker.draining:
        return False
    worker.active += 1
    return True


def offer(
    worker: Worker, accepted: events.RunAccepted, raw: bytes, headers: dict[str, bytes]
) -> bool:
    """Start `accepted` (sent to the dispatch topic) on this worker now if a slot is free; False
    leaves it to whichever worker its record reaches."""
    if (
        not worker.settings.local_dispatch
        or worker.draining
        or worker.active >= worker.sandbox_settings.slots
    ):
        return False
    worker.handed.add((accepted.execution_id, accepted.attempt))
    worker.active += 1  # counted now: the next offer must see this slot taken
    task = asyncio.get_running_loop().create_task(_run(worker, accepted, raw, headers))
    worker.local_runs.add(task)
    task.add_done_callback(worker.local_runs.discard)
    return True


async def _run(
    worker: Worker, accepted: events.RunAccepted, raw: bytes, headers: dict[str, bytes]
) -> None:
    # The span a consumer of the record would have: child of the screening, as the record's.
    with tracing.consuming(
        f"execute {topics.DISPATCH.name}",
        headers,
        {"runbox.dispatch": "local"} if tracing.enabled() else None,
    ):
        try:
            await executor.run_accepted(worker, accepted, raw, "local")
        except Exception:  # the executor turns failures into events; this is what is left
            log.exception("local run not handled", extra={"execution_id": accepted.execution_id})
        finally:
            release_slot(worker)
