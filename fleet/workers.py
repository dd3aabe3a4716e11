"""Worker heartbeats, as the processors write them to Redis and the API reads them.

Each worker writes its beat into one hash (field = worker id) every HEARTBEAT_INTERVAL_S; a beat
older than WORKER_DEAD_AFTER_S means the worker is dead. While a run executes, its RunAccepted
is kept under INFLIGHT_KEY, so that the run can be retried as a new attempt if its worker dies.
"""

from __future__ import annotations

import time

import msgspec

WORKERS_KEY = "fleet:workers"  # hash: worker id -> encoded WorkerBeat
INFLIGHT_KEY = "fleet:inflight:{}"  # execution id -> the RunAccepted being executed (raw event)
MONITOR_LOCK_KEY = "fleet:monitor"  # held by the one worker that looks for dead ones


class RunningExecution(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    attempt: int
    started_at: float  # unix time


class WorkerBeat(msgspec.Struct, frozen=True, kw_only=True):
    """What one worker says about itself."""

    worker_id: str
    state: str  # "running" | "draining" (SIGTERM: finishing what it has, taking nothing new)
    slots: int
    free_slots: int
    running: list[RunningExecution] = []
    memory_rss_kb: int | None = None
    languages: list[str] = []
    started_at: float = 0.0
    at: float = 0.0  # when this beat was written (unix time)

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.at


def encode_beat(beat: WorkerBeat) -> bytes:
    return msgspec.json.encode(beat)


def decode_beat(raw: bytes) -> WorkerBeat:
    return msgspec.json.decode(raw, type=WorkerBeat)
