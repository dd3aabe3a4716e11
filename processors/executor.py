"""The executor agent: runs accepted runs in the sandbox, emitting Started, Output and Finished.

Concurrency equals the sandbox slots. Each attempt is claimed first (`processors/claims.py`), so
a dispatch delivered twice runs once. A run whose outcome is the program's own (any COMPLETED,
FAILED or TIMEOUT from the sandbox) is final; a failure of ours (E005, an exception, a claim
Redis could not record) is retried (`processors/failures.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import redis.asyncio as aioredis

from fleet.quota import settle
from processors import claims, dispatch, judging
from processors.failures import retry_or_dead_letter, settle_neutral
from processors.observe import sandbox_run
from processors.output import OutputPump
from processors.publisher import (
    consume,
    publish_until_sent,
    read,
    send,
    trace_headers,
)
from processors.stdin import LiveStdin
from sandbox import ErrorCode, Result, Status
from schemas import events, new_event
from telemetry import metrics

if TYPE_CHECKING:
    from processors.worker import Worker

log = logging.getLogger("processors.executor")

OUTCOME_FIELDS = tuple(f.name for f in msgspec.structs.fields(events.Outcome))


def register(worker: Worker) -> None:
    @worker.app.agent(worker.dispatch, concurrency=worker.sandbox_settings.slots)
    async def executor_agent(stream: Any) -> None:
        await consume(stream, execute, worker)


# What the sandbox cannot know (the safety rules' warnings, the judgement of test cases): the
# rest of the outcome comes from its Result, field by field.
NOT_FROM_THE_SANDBOX = ("warnings", "test_results")


def plain(value: Any) -> Any:
    """A Result value as the event holds it: an enum's string, a tuple's list."""
    if isinstance(value, Enum):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def outcome_of(
    result: Result,
    warnings: list[str] | None = None,
    test_results: events.Judgement | None = None,
) -> events.Outcome:
    """The event's outcome from the sandbox's result: every field of Outcome, by name."""
    values = {
        name: getattr(result, name) for name in OUTCOME_FIELDS if name not in NOT_FROM_THE_SANDBOX
    }
    return events.Outcome(
        **{name: plain(v) for name, v in values.items()},
        warnings=warnings or [],
        test_results=test_results,
    )


async def execute(worker: Worker, raw: bytes) -> None:
    """A dispatch record from Kafka. Never raises but CancelledError: Faust would ack the
    message and drop it."""
    accepted = read(raw, events.RunAccepted)
    if accepted is None:
        return
    if not await dispatch.take_slot(worker):
        # Draining: left unacked, so Kafka hands it to the worker that gets its partition next.
        await worker.idle_until_stopped()
    try:
        await run_accepted(worker, accepted, raw)
    finally:
        dispatch.release_slot(worker)


async def run_accepted(worker: Worker, accepted: events.RunAccepted, raw: bytes) -> None:
    """Claim the attempt of a dispatch record, then run it (`raw`, the record, is kept for the
    monitor). Never raises but CancelledError."""
    request = accepted.request
    extra = {"execution_id": request.execution_id, "attempt": accepted.attempt}
    started_at = datetime.now(UTC)
    cooling = dispatch.cooldown_lookup(worker, request)
    try:
        claimed_before = await claim_patiently(worker, accepted, raw, started_at)
    except (aioredis.RedisError, OSError) as exc:
        # Without its claim a run could run twice: not running it is a failure of ours.
        log.warning("could not claim the attempt: %s", exc, extra=extra)
        await retry_or_dead_letter(
            worker, request, accepted.attempt, f"could not claim the attempt in Redis: {exc}"
        )
        return
    if claimed_before:
        log.info("attempt %d already claimed, skipped", claimed_before, extra=extra)
        return
    await run_claimed(worker, accepted, started_at, cooling, "log")


async def run_claimed(
    worker: Worker,
    accepted: events.RunAccepted,
    started_at: datetime,
    cooling: asyncio.Future[Any],
    path: Literal["local", "log"],
) -> None:
    """Run an attempt this worker has claimed (`cooling`: whether the session cools down), then
    release the claim. `path` says how it came: read from the dispatch topic, or started by this
    worker's safety agent (processors/dispatch.py). Never raises but CancelledError."""
    request = accepted.request
    extra = {"execution_id": request.execution_id, "attempt": accepted.attempt}
    metrics.DISPATCHES.labels(path).inc()
    try:
        if await cooling:
            await refuse_during_cooldown(worker, request)
        else:
            await attempt(worker, accepted, started_at)
    except asyncio.CancelledError:
        # The worker is stopping mid-run: the claim and the in-flight record stay, and the
        # monitor runs the execution again once this worker's beat is old.
        log.warning("attempt abandoned: the worker stopped", extra=extra)
        raise
    try:
        await claims.release(worker, request.execution_id, accepted.attempt)
    except (aioredis.RedisError, OSError) as exc:  # the next beat lists the runs as they are
        log.warning("could not release the attempt's claim: %s", exc, extra=extra)


async def claim_patiently(
    worker: Worker, accepted: events.RunAccepted, raw: bytes, started_at: datetime
) -> int:
    """The claim, retried in place while Redis is away for up to CLAIM_PATIENCE_S: giving up at
    once would schedule the next attempt while another delivery of this one may be running."""
    deadline = time.monotonic() + worker.settings.claim_patience_s
    delay = 0.2
    while True:
        try:
            return await claims.claim(worker, accepted, raw, started_at)
        except (aioredis.RedisError, OSError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "claim failed, trying again in %.1fs: %s",
                delay,
                exc,
                extra={"execution_id": accepted.execution_id, "attempt": accepted.attempt},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def attempt(worker: Worker, accepted: events.RunAccepted, started_at: datetime) -> None:
    """Run one claimed attempt; its failures of ours go to the retry path."""
    request = accepted.request
    worker_id = worker.settings.worker_id
    try:
        result = await run_attempt(worker, accepted, started_at)
    except Exception as exc:
        log.exception(
            "attempt failed",
            extra={"execution_id": request.execution_id, "attempt": accepted.attempt},
        )
        await retry_or_dead_letter(
            worker,
            request,
            accepted.attempt,
            f"{type(exc).__name__}: {exc}",
            worker_id=worker_id,
            started_at=started_at,
        )
        return
    if result.error_code == ErrorCode.SYSTEM:
        await retry_or_dead_letter(
            worker,
            request,
            accepted.attempt,
            result.stderr[-500:] or "sandbox system error",
            worker_id=worker_id,
            started_at=started_at,
        )


async def run_attempt(worker: Worker, accepted: events.RunAccepted, started_at: datetime) -> Result:
    request = accepted.request
    sandbox = worker.sandbox()
    headers = trace_headers(request)
    extra = {
        "execution_id": request.execution_id,
        "attempt": accepted.attempt,
        "worker_id": worker.settings.worker_id,
    }
    # Acks are awaited once, at the end: the producer keeps the order of one key's events, and
    # each wait on the way would put a broker round trip on the run's critical path. RunStarted
    # (stamped now) leaves with the output pump's first flush, before any output.
    started = new_event(
        events.RunStarted(
            execution_id=request.execution_id,
            attempt=accepted.attempt,
            worker_id=worker.settings.worker_id,
            started_at=started_at,
        )
    )
    log.info("run started", extra={**extra, "language": request.language.key})
    limits = sandbox.settings.defaults.with_changes(
        time_limit_ms=request.limits.time_limit_ms, memory_mb=request.limits.memory_mb
    )
    caps = {"stdout": limits.stdout_bytes, "stderr": limits.stderr_bytes}
    pump = OutputPump(worker, request.execution_id, accepted.attempt, headers, caps, started)
    pump.start()
    live = LiveStdin(worker, request.execution_id, pump) if request.interactive else None
    judged: events.Judgement | None = None
    try:
        with sandbox_run(request, accepted.attempt, limits) as measured:
            if request.test_cases:  # no live output: each case's is in the result
                result, judged = await judging.run_cases(sandbox, request, limits)
            else:
                result = await sandbox.run(
                    language=request.language.key,
                    source=request.source_code,
                    stdin=request.stdin,
                    limits=limits,
                    on_output=pump.feed,
                    args=request.args,
                    files=request.files,
                    stdin_feed=live,
                )
            measured.result = result
    finally:
        if live is not None:
            live.finish()
        await pump.close()
    if live is not None and result.error_code != ErrorCode.SYSTEM:
        await close_input(live, extra)
    finished_ack = None
    if result.error_code != ErrorCode.SYSTEM:
        finished = events.RunFinished(
            execution_id=accepted.execution_id,
            attempt=accepted.attempt,
            worker_id=worker.settings.worker_id,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            outcome=outcome_of(result, accepted.warnings, judged),
            callback_url=request.callback_url,
            judge0=request.judge0,
        )
        finished_ack = await send(worker.events, finished, headers)
    # Live output is a convenience (the result carries it all): its failures are not the run's.
    await asyncio.gather(*pump.acks, return_exceptions=True)
    await asyncio.gather(*pump.input_acks)  # RunStarted's and an interactive run's input
    if finished_ack is None:
        return result
    await finished_ack
    await remember(worker, request, result)
    log.info(
        "run finished",
        extra={**extra, "status": result.status.value, "error_code": result.error_code},
    )
    return result


async def close_input(live: LiveStdin, extra: dict[str, Any]) -> None:
    """The run is over for good: its channel takes no more input (a client is told so)."""
    try:
        await live.channel.close("run_ended")
    except (aioredis.RedisError, OSError) as exc:  # the channel expires by itself
        log.warning("could not close the stdin channel: %s", exc, extra=extra)


async def remember(worker: Worker, request: events.RunRequested, result: Result) -> None:
    """Settle the run in the session's bookkeeping (queues, failure streak: fleet/quota.py)."""
    settings = worker.settings
    try:
        await settle(
            worker.redis,
            request.session_id,
            request.execution_id,
            "ok" if result.status == Status.COMPLETED else "fail",
            settings.failure_streak_limit,
            settings.failure_cooldown_s,
        )
    except (aioredis.RedisError, OSError) as exc:  # bookkeeping only; the result is already logged
        log.warning(
            "could not record run outcome in Redis: %s",
            exc,
            extra={"execution_id": request.execution_id},
        )


async def refuse_during_cooldown(worker: Worker, request: events.RunRequested) -> None:
    """The session's failure streak started a cooldown after this run was queued: not run."""
    rejected = events.RunRejected(
        execution_id=request.execution_id,
        reason="the session failed too many runs in a row; runs queued before it cooled down "
        "are not run",
        rejected_at=datetime.now(UTC),
        rule="failure_streak",
        callback_url=request.callback_url,
        judge0=request.judge0,
    )
    await publish_until_sent(worker.events, rejected, trace_headers(request))
    await settle_neutral(worker, request)
    metrics.SAFETY_REJECTIONS.labels("failure_streak").inc()
    log.info("run refused: cooldown", extra={"execution_id": request.execution_id})
