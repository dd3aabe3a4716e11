"""Who runs an attempt: a claim on (execution, attempt), made in Redis before the program runs.

An execution's claim key holds the highest attempt claimed so far. Claiming attempt n succeeds
only if no attempt >= n was claimed before, in one atomic step (a Lua script, so a compare and a
set are one command): a dispatch delivered twice (same attempt) or a stale one (an attempt the
fleet has already moved past) is skipped, however many workers receive it at once.

The same step records the run for the fleet: its RunAccepted under INFLIGHT_KEY and this
worker's beat listing it, so that a worker dying at any moment after its claim leaves what the
monitor (`processors/monitor.py`) needs to run the execution again as its next attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fleet.workers import INFLIGHT_KEY, WORKERS_KEY, RunningExecution, encode_beat
from processors import heartbeat
from schemas import events

if TYPE_CHECKING:
    from processors.worker import Worker

CLAIM_KEY = "claim:{}"  # execution id -> the highest attempt claimed
CLAIM_TTL_S = 7 * 24 * 3600  # as long as the dispatch topic keeps a message
INFLIGHT_TTL_S = 24 * 3600  # longer than any run and than any outage the monitor should mend

# KEYS: claim, inflight, workers hash. ARGV: attempt, claim ttl, inflight ttl, RunAccepted,
# worker id, beat. Returns 0 when claimed, else the attempt claimed before (>= this one).
_CLAIM = """
local claimed = tonumber(redis.call('GET', KEYS[1]) or '0')
if claimed >= tonumber(ARGV[1]) then return claimed end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
return 0
"""

# KEYS: claim, inflight. ARGV: attempt. The in-flight record goes only while it is this
# attempt's: once a later attempt is claimed, the record is that attempt's.
_FORGET = """
if tonumber(redis.call('GET', KEYS[1]) or '0') == tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[2])
end
return 0
"""


async def claim(
    worker: Worker, accepted: events.RunAccepted, raw: bytes, started_at: datetime
) -> int:
    """0 when this worker now owns the attempt; else the attempt already claimed.

    Raises what Redis raises: without a claim the run must not start (the caller treats it as a
    failure of ours).
    """
    run = RunningExecution(
        execution_id=accepted.execution_id,
        attempt=accepted.attempt,
        started_at=started_at.timestamp(),
    )
    key = (run.execution_id, run.attempt)
    await heartbeat.before_first_beat(worker)  # the claim writes this process's beat
    async with worker.beat_lock:
        worker.running[key] = run
        try:
            before = await worker.redis.eval(
                _CLAIM,
                3,
                CLAIM_KEY.format(run.execution_id),
                INFLIGHT_KEY.format(run.execution_id),
                WORKERS_KEY,
                run.attempt,
                CLAIM_TTL_S,
                INFLIGHT_TTL_S,
                raw,
                worker.settings.worker_id,
                encode_beat(heartbeat.beat_of(worker)),
            )
        except BaseException:
            del worker.running[key]
            raise
        if before:
            del worker.running[key]
    return int(before)


async def release(worker: Worker, execution_id: str, attempt: int) -> None:
    """The attempt has ended (its result or its retry is published): the fleet forgets it."""
    async with worker.beat_lock:
        worker.running.pop((execution_id, attempt), None)
        async with worker.redis.pipeline(transaction=False) as pipe:
            pipe.eval(
                _FORGET,
                2,
                CLAIM_KEY.format(execution_id),
                INFLIGHT_KEY.format(execution_id),
                attempt,
            )
            pipe.hset(
                WORKERS_KEY, worker.settings.worker_id, encode_beat(heartbeat.beat_of(worker))
            )
            await pipe.execute()


async def forget(worker: Worker, execution_id: str, attempt: int) -> None:
    """Drop the in-flight record of another worker's attempt (the monitor has retried it)."""
    await worker.redis.eval(
        _FORGET, 2, CLAIM_KEY.format(execution_id), INFLIGHT_KEY.format(execution_id), attempt
    )
