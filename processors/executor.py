"""The executor agent: runs accepted runs in the sandbox, emitting Started, Output and Finished.

Concurrency equals the sandbox slots. A run whose outcome is the program's own (any COMPLETED,
FAILED or TIMEOUT from the sandbox) is final; a failure of ours (E005, an exception) is retried.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from processors.app import app, dispatch_topic, events_topic, settings
from processors.failures import retry_or_dead_letter
from processors.output import OutputPump
from processors.publisher import handle_safely, read, send, trace_headers
from processors.worker import redis_client, sandbox
from sandbox import ErrorCode, Limits, Result, Status
from schemas import events

log = logging.getLogger("processors.executor")

DONE_KEY = "executed:{}"  # set once RunFinished is acked: a redelivered message is not run twice


@app.agent(dispatch_topic, concurrency=sandbox().slots)
async def executor_agent(stream: Any) -> None:
    async for event in stream.events():
        await handle_safely(execute, event.value)


async def execute(raw: bytes) -> None:
    """Never raises: Faust would ack the message and drop it (DESIGN.md, Faust traps)."""
    accepted = read(raw, events.RunAccepted)
    if accepted is None:
        return
    request = accepted.request
    extra = {"execution_id": request.execution_id, "attempt": accepted.attempt}
    try:
        if await redis_client().exists(DONE_KEY.format(request.execution_id)):
            log.info("already executed, skipped", extra=extra)
            return
        result = await run_attempt(accepted)
    except Exception as exc:
        log.exception("attempt failed", extra=extra)
        await retry_or_dead_letter(request, accepted.attempt, f"{type(exc).__name__}: {exc}")
        return
    if result.error_code == ErrorCode.SYSTEM:
        await retry_or_dead_letter(
            request, accepted.attempt, result.stderr[-500:] or "sandbox system error"
        )


async def run_attempt(accepted: events.RunAccepted) -> Result:
    request = accepted.request
    headers = trace_headers(request)
    started_at = datetime.now(UTC)
    extra = {
        "execution_id": request.execution_id,
        "attempt": accepted.attempt,
        "worker_id": settings.worker_id,
    }
    # Acks are awaited once, at the end: the producer keeps the order of one key's events, and
    # each wait on the way would put a broker round trip on the run's critical path.
    started_ack = await send(
        events_topic,
        events.RunStarted(
            execution_id=request.execution_id,
            attempt=accepted.attempt,
            worker_id=settings.worker_id,
            started_at=started_at,
        ),
        headers,
    )
    log.info("run started", extra={**extra, "language": request.language.key})
    pump = OutputPump(request.execution_id, accepted.attempt, headers)
    pump.start()
    try:
        result = await sandbox().run(
            language=request.language.key,
            source=request.source_code,
            stdin=request.stdin,
            limits=Limits(
                time_limit_ms=request.limits.time_limit_ms, memory_mb=request.limits.memory_mb
            ),
            on_output=pump.feed,
        )
    finally:
        await pump.close()
    finished_ack = None
    if result.error_code != ErrorCode.SYSTEM:
        finished_ack = await send(events_topic, finished(accepted, result, started_at), headers)
    # Live output is a convenience (the result carries it all): its failures are not the run's.
    await asyncio.gather(*pump.acks, return_exceptions=True)
    await started_ack
    if finished_ack is None:
        return result
    await finished_ack
    await remember(request, result)
    log.info(
        "run finished",
        extra={**extra, "status": result.status.value, "error_code": result.error_code},
    )
    return result


def finished(
    accepted: events.RunAccepted, result: Result, started_at: datetime
) -> events.RunFinished:
    return events.RunFinished(
        execution_id=accepted.execution_id,
        attempt=accepted.attempt,
        worker_id=settings.worker_id,
        status=result.status.value,
        error_code=result.error_code.value if result.error_code else None,
        exit_code=result.exit_code,
        signal=result.signal,
        stdout=result.stdout,
        stderr=result.stderr,
        compile_output=result.compile_output,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        execution_time_ms=result.execution_time_ms,
        compile_time_ms=result.compile_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        memory_peak_kb=result.memory_peak_kb,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


async def remember(request: events.RunRequested, result: Result) -> None:
    """Mark the run done, and count failure streaks for the session cooldown."""
    redis = redis_client()
    streak_key = f"failures:session:{request.session_id}"
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(DONE_KEY.format(request.execution_id), 1, ex=7 * 24 * 3600)
            if result.status == Status.COMPLETED:
                pipe.delete(streak_key)
            else:
                pipe.incr(streak_key)
                pipe.expire(streak_key, 3600)
            replies = await pipe.execute()
        if result.status != Status.COMPLETED and replies[1] >= settings.failure_streak_limit:
            await redis.set(
                f"cooldown:session:{request.session_id}", 1, ex=settings.failure_cooldown_s
            )
            await redis.delete(streak_key)
    except (aioredis.RedisError, OSError) as exc:  # bookkeeping only; the result is already logged
        log.warning(
            "could not record run outcome in Redis: %s",
            exc,
            extra={"execution_id": request.execution_id},
        )
