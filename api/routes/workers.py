"""The processors workers, as their heartbeats describe them."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get

from api.contract import RunningAttempt, WorkerList, WorkerView, errors
from api.services import ServicesDep


@get("/workers", responses=errors(503))
async def list_workers(services: ServicesDep) -> WorkerList:
    """Every worker that has sent a beat: alive or dead (no beat for WORKER_DEAD_AFTER_S)."""
    beats = await services.fleet.beats(fresh=True)
    return WorkerList(
        total=len(beats),
        alive=sum(1 for b in beats if services.fleet.alive(b)),
        workers=[
            WorkerView(
                worker_id=b.worker_id,
                state=b.state if services.fleet.alive(b) else "dead",
                last_heartbeat_at=datetime.fromtimestamp(b.at, UTC),
                heartbeat_age_s=round(b.age_s(), 3),
                slots=b.slots,
                free_slots=b.free_slots,
                running=[
                    RunningAttempt(
                        execution_id=r.execution_id,
                        attempt=r.attempt,
                        started_at=datetime.fromtimestamp(r.started_at, UTC),
                    )
                    for r in b.running
                ],
                memory_rss_kb=b.memory_rss_kb,
                languages=b.languages,
                started_at=datetime.fromtimestamp(b.started_at, UTC),
            )
            for b in beats
        ],
    )
