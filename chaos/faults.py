"""The faults, one scenario each: start a load, inject the fault during it, wait for the runs
to end in the log, and note what users saw on the way (503s, how fast, projection lag)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from aiokafka import AIOKafkaProducer

from chaos.engine import Journal
from chaos.load import plan, program, submit_all
from chaos.oracle import LogTail, Refusal, Run, at, verdict, wait_for
from eventlog import topics
from schemas import encode, events, new_event


class Target(Protocol):
    """What the scenarios need of the engine under test."""

    journal: Journal
    executors: tuple[str, ...]  # names of the processors workers' processes

    @property
    def url(self) -> str: ...

    @property
    def bootstrap(self) -> str: ...

    def worker_id(self, name: str) -> str: ...

    async def kill(self, name: str, signum: int) -> None:
        """Signal the process; it is then started again as a supervisor would."""

    async def wait_healthy(self, timeout: float) -> bool: ...

    async def wait_back(self, name: str, since: float, timeout: float) -> bool:
        """The process signalled at `since` (time.time()) runs again, and the engine is ready."""


@dataclass
class Context:
    """The engine, a client, the log, and how much load each fault gets."""

    target: Target
    http: httpx.AsyncClient
    tail: LogTail
    runs: int = 30
    spread_s: float = 12.0  # submissions of one fault are spread over this long
    submit_deadline_s: float = 60.0  # a submission retries after errors for this long
    run_deadline_s: float = 90.0  # an accepted run must end within this long or it is lost


@dataclass
class Report:
    """One fault's runs and what the harness noted about it."""

    name: str
    title: str
    runs: list[Run]
    notes: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    api_checked: bool = True
    in_flight: int | None = None  # runs under way on the process the fault hit, when it hit


async def until(check: Callable[[], bool], timeout: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


def accepted(runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.execution_id is not None and r.accepted_at is not None]


async def running_on(ctx: Context, runs: list[Run], worker_id: str | None, timeout: float) -> int:
    """Wait until `worker_id` (None: any worker) runs at least one of `runs` (RunStarted, no
    terminal event yet); how many it runs then (0 at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        await ctx.tail.catch_up()
        busy = 0
        for run in accepted(runs):
            history = ctx.tail.histories.get(run.execution_id or "", [])
            started = any(isinstance(e.payload, events.RunStarted)
                          and worker_id in (None, e.payload.worker_id) for e in history)  # fmt: skip
            busy += started and not ctx.tail.terminal(run.execution_id or "")
        if busy or time.monotonic() > deadline:
            return busy
        await asyncio.sleep(0.1)


async def under_load(
    ctx: Context,
    report: Report,
    inject: Callable[[], Awaitable[None]],
    spread_s: float | None = None,
) -> None:
    """Submit `report.runs` while `inject` runs, then wait for their ends and check the API."""
    load = asyncio.create_task(
        submit_all(ctx.http, report.runs, spread_s or ctx.spread_s, ctx.submit_deadline_s)
    )
    try:
        await inject()
        await load
    finally:
        if not load.done():
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
    await settle(ctx, report)


async def settle(ctx: Context, report: Report) -> None:
    """Wait (bounded) for every accepted run to end in the log; note refusals and the API."""
    done = accepted(report.runs)
    if done:
        last = max(r.accepted_at or 0.0 for r in done)
        deadline = time.monotonic() + max(last + ctx.run_deadline_s - time.time(), 1.0)
        if not await wait_for(ctx.tail, done, settled=2.0, deadline=deadline):
            report.notes.append(f"not all ended within the {ctx.run_deadline_s:.0f}s deadline")
    refused = len(report.runs) - len(done)
    if refused:
        report.notes.append(f"{refused} submissions got no 202 within {ctx.submit_deadline_s:.0f}s")
    if report.api_checked:
        await check_api(ctx, report)


def describe(refusals: list[Refusal]) -> str:
    """`503 unavailable x12 (slowest 0.41s), no answer x2` for a list of refusals."""
    groups: dict[tuple[int, str], list[float]] = {}
    for r in refusals:
        groups.setdefault((r.status, r.code), []).append(r.seconds)
    parts = []
    for (status, code), seconds in sorted(groups.items(), key=lambda g: -len(g[1])):
        what = f"{status} {code}".strip() if status else f"no answer ({code})"
        parts.append(f"{what} x{len(seconds)} (slowest {max(seconds):.2f}s)")
    return ", ".join(parts)


def refusals_between(runs: list[Run], start: float, end: float) -> list[Refusal]:
    return [r for run in runs for r in run.refusals if start <= r.at <= end]


async def check_api(ctx: Context, report: Report, timeout: float = 30.0) -> None:
    """The projection must agree with the log: a run the log says completed shows COMPLETED
    with its output, any other run that ended shows a terminal status."""
    started = time.monotonic()
    pending = {r.execution_id: r for r in accepted(report.runs)}
    answers: dict[str, str] = {}
    while pending and time.monotonic() - started < timeout:
        for execution_id, run in list(pending.items()):
            history = ctx.tail.histories.get(execution_id or "", [])
            if not ctx.tail.terminal(execution_id or ""):
                pending.pop(execution_id)  # the log has no end yet: nothing to agree with
                continue
            done = verdict(run, history, time.time(), float("inf")).completed
            try:
                response = await ctx.http.get(f"/executions/{execution_id}", timeout=5)
            except httpx.HTTPError as exc:
                answers[execution_id or ""] = type(exc).__name__
                continue
            body: dict[str, Any] = response.json() if response.status_code == 200 else {}
            status = body.get("status", str(response.status_code))
            answers[execution_id or ""] = status
            ok = (status == "COMPLETED" and body.get("stdout") == run.expected_stdout) if done \
                else status in {"COMPLETED", "FAILED", "TIMEOUT"}  # fmt: skip
            if ok:
                pending.pop(execution_id)
        if pending:
            await asyncio.sleep(0.5)
    if pending:
        seen = Counter(answers.get(e or "", "?") for e in pending)
        report.notes.append(
            f"API disagrees with the log on {len(pending)} runs after {timeout:.0f}s "
            f"(it shows {dict(seen)})"
        )


# --- 1, 2: executors -------------------------------------------------------------------------


async def kill_executor(ctx: Context, count: int | None = None) -> Report:
    report = Report("executor-kill9", "kill -9 of an executor during the runs",
                    plan("kill9", count or ctx.runs))  # fmt: skip

    async def inject() -> None:
        # Killed mid-run, or the fault tests nothing: wait for a run on an executor (the load
        # goes on), then kill that one. Which executor gets which run is the partitions' choice:
        # a fixed one may get only runs too short to be caught running.
        deadline = time.monotonic() + ctx.spread_s + 20
        name, busy = ctx.target.executors[0], 0
        while not busy and time.monotonic() < deadline:
            for candidate in ctx.target.executors:
                busy = await running_on(ctx, report.runs, ctx.target.worker_id(candidate), 0)
                if busy:
                    name = candidate
                    break
            else:
                await asyncio.sleep(0.02)
        report.in_flight = busy
        await ctx.target.kill(name, signal.SIGKILL)
        report.notes.append(f"SIGKILL to {name} while it ran {busy} of these runs")

    await under_load(ctx, report, inject)
    return report


async def rolling_restart(ctx: Context) -> Report:
    report = Report("executor-sigterm", "SIGTERM of each executor in turn (rolling restart)",
                    plan("sigterm", ctx.runs))  # fmt: skip

    async def inject() -> None:
        for name in ctx.target.executors:
            busy = await running_on(ctx, report.runs, ctx.target.worker_id(name), ctx.spread_s)
            signalled = time.time()
            await ctx.target.kill(name, signal.SIGTERM)
            back = await ctx.target.wait_back(name, signalled, 60)
            report.notes.append(
                f"{name}: SIGTERM while running {busy}, working again after "
                f"{time.time() - signalled:.1f}s"
                if back
                else f"{name}: not back within 60s"
            )

    await under_load(ctx, report, inject, spread_s=2 * ctx.spread_s)
    return report


# --- 3, 4: the projector ---------------------------------------------------------------------


async def kill_projector(ctx: Context, engine: Any) -> Report:
    report = Report("projector-kill9", "kill -9 of the projector mid-batch",
                    plan("projkill", ctx.runs))  # fmt: skip

    async def inject() -> None:
        await until(lambda: len(accepted(report.runs)) >= ctx.runs // 3, ctx.spread_s)
        killed = time.time()
        engine.kill_now("projector", signal.SIGKILL)
        await until(lambda: engine.processes["projector"].running
                    and engine.processes["projector"].restarts > 0, 30)  # fmt: skip
        await asyncio.sleep(3)
        behind = refusals_between(report.runs, killed, time.time())
        if behind:
            report.notes.append(f"while it restarted: {describe(behind)}")

    await under_load(ctx, report, inject)
    return report


async def two_projectors(ctx: Context, engine: Any) -> Report:
    report = Report("two-projectors", "a second projector during the load, then one stopped",
                    plan("twoproj", ctx.runs))  # fmt: skip

    async def inject() -> None:
        await until(lambda: len(accepted(report.runs)) >= ctx.runs // 4, ctx.spread_s)
        engine.add("projector-2", "projections")
        report.notes.append("projector-2 started beside projector")
        await until(lambda: len(accepted(report.runs)) >= 3 * ctx.runs // 4, ctx.spread_s)
        await asyncio.to_thread(engine.processes["projector"].stop)
        engine.rename("projector-2", "projector")
        report.notes.append("the first projector stopped (SIGTERM)")

    await under_load(ctx, report, inject)
    return report


# --- 5, 6, 7: the services -------------------------------------------------------------------


async def service_outage(
    ctx: Context,
    engine: Any,
    service: str,
    report: Report,
    down_s: float,
    probe: Callable[[list[Run]], Awaitable[None]] | None = None,
) -> tuple[float, float]:
    """Stop `service` once a third of the runs are accepted, keep it down `down_s` (probing),
    start it again; (stopped_at, back_at) as time.time()."""
    times: list[float] = []

    async def inject() -> None:
        await until(lambda: len(accepted(report.runs)) >= ctx.runs // 3, ctx.spread_s)
        busy = await running_on(ctx, report.runs, None, ctx.spread_s + 10)
        await engine.stop_service(service)
        times.append(time.time())
        report.notes.append(f"{service} stopped while {busy} of these runs were running")
        end = time.monotonic() + down_s
        while time.monotonic() < end:
            if probe is not None:
                await probe(report.runs)
            await asyncio.sleep(0.5)
        await engine.start_service(service)
        times.append(time.time())
        healthy = await ctx.target.wait_healthy(60)
        report.notes.append(
            f"{service} down {times[1] - times[0]:.1f}s (restart included); engine healthy again "
            f"{time.time() - times[1]:.1f}s after"
            if healthy
            else "engine not healthy 60s after"
        )

    await under_load(ctx, report, inject, spread_s=max(ctx.spread_s, down_s + 6))
    return times[0], times[1]


def outcome_during(ctx: Context, runs: list[Run], start: float, end: float) -> int:
    """RunFinished events of `runs` appended between `start` and `end`."""
    return sum(
        1
        for run in accepted(runs)
        for e in ctx.tail.histories.get(run.execution_id or "", [])
        if isinstance(e.payload, events.RunFinished) and start <= at(e) <= end
    )


async def kafka_outage(ctx: Context, engine: Any) -> Report:
    report = Report("kafka-down", "Kafka stopped and restarted during submissions",
                    plan("kafka", ctx.runs))  # fmt: skip
    down, up = await service_outage(ctx, engine, "kafka", report, down_s=8)
    refused = refusals_between(report.runs, down, up)
    worst = max((r.seconds for r in refused if r.status == 503), default=None)
    report.notes.append(f"writes while down: {describe(refused) or 'none'}")
    if worst is not None:
        report.notes.append(f"slowest 503: {worst:.2f}s")
    return report


async def postgres_outage(ctx: Context, engine: Any) -> Report:
    report = Report("postgres-down", "PostgreSQL stopped and restarted",
                    plan("postgres", ctx.runs))  # fmt: skip
    reads: list[Refusal] = []

    async def probe(runs: list[Run]) -> None:
        some = accepted(runs)
        if not some:
            return
        started = time.monotonic()
        try:
            response = await ctx.http.get(f"/executions/{some[0].execution_id}", timeout=10)
            code = response.json().get("code", "") if response.status_code != 200 else "ok"
            reads.append(Refusal("GET /executions/{id}", response.status_code, str(code),
                                 time.monotonic() - started, time.time()))  # fmt: skip
        except httpx.HTTPError as exc:
            reads.append(Refusal("GET /executions/{id}", 0, type(exc).__name__,
                                 time.monotonic() - started, time.time()))  # fmt: skip

    down, up = await service_outage(ctx, engine, "postgres", report, down_s=8, probe=probe)
    report.notes.append(f"reads while down: {describe(reads) or 'none'}")
    report.notes.append(f"runs finished while down: {outcome_during(ctx, report.runs, down, up)}")
    writes = refusals_between(report.runs, down, up)
    if writes:
        report.notes.append(f"writes while down: {describe(writes)}")
    return report


async def redis_outage(ctx: Context, engine: Any) -> Report:
    report = Report("redis-down", "Redis stopped and restarted", plan("redis", ctx.runs))
    seen: dict[str, list[Refusal]] = {}

    async def ask(what: str, method: str, path: str, **kwargs: Any) -> None:
        started = time.monotonic()
        try:
            if path.endswith("/events"):
                async with ctx.http.stream(method, path, timeout=10) as response:
                    status, code = response.status_code, ""
                    if status != 200:
                        await response.aread()
                        code = str(response.json().get("code", ""))
            else:
                response = await ctx.http.request(method, path, timeout=10, **kwargs)
                status = response.status_code
                code = "" if status < 400 else str(response.json().get("code", ""))
        except httpx.HTTPError as exc:
            status, code = 0, type(exc).__name__
        seen.setdefault(what, []).append(
            Refusal(what, status, code, time.monotonic() - started, time.time())
        )

    async def probe(runs: list[Run]) -> None:
        some = accepted(runs)
        if some:
            await ask("GET /executions/{id}", "GET", f"/executions/{some[0].execution_id}")
            await ask(
                "GET /executions/{id}/events", "GET", f"/executions/{some[0].execution_id}/events"
            )
        await ask("GET /health/ready", "GET", "/health/ready")

    down, up = await service_outage(ctx, engine, "redis", report, down_s=6, probe=probe)
    for what, answers in seen.items():
        report.notes.append(f"{what} while down: {describe(answers)}")
    report.notes.append(
        f"POST /run while down: {describe(refusals_between(report.runs, down, up)) or 'none'}"
    )
    report.notes.append(f"runs finished while down: {outcome_during(ctx, report.runs, down, up)}")
    return report


# --- 8: a broken sandbox host, retries, dead letter, requeue ----------------------------------


async def sandbox_failure(ctx: Context, engine: Any, count: int = 3) -> Report:
    report = Report("sandbox-e005", "bwrap fails (E005): retries, dead letter, requeue",
                    plan("e005", count))  # fmt: skip
    engine.flag.touch()
    try:
        await submit_all(ctx.http, report.runs, 0.5, ctx.submit_deadline_s)
        done = accepted(report.runs)
        deadline = time.monotonic() + ctx.run_deadline_s
        await wait_for(ctx.tail, done, settled=1.0, deadline=deadline)
    finally:
        engine.flag.unlink(missing_ok=True)
    dead = [r for r in done if any(isinstance(e.payload, events.DeadLettered)
                                  for e in ctx.tail.histories.get(r.execution_id or "", []))]  # fmt: skip
    reasons = {
        e.payload.reason[:60]
        for r in dead
        for e in ctx.tail.histories.get(r.execution_id or "", [])
        if isinstance(e.payload, events.DeadLettered)
    }
    attempts = Counter(
        max((e.payload.attempt for e in ctx.tail.histories.get(r.execution_id or "", [])
             if isinstance(e.payload, events.RunStarted)), default=0)
        for r in done
    )  # fmt: skip
    report.notes.append(f"dead-lettered {len(dead)}/{len(done)} after attempts {dict(attempts)}"
                        f"; reason {sorted(reasons)}")  # fmt: skip
    report.notes.append("retry delays (due / started, after the failed attempt): "
                        + "; ".join(retry_delays(ctx.tail, done)))  # fmt: skip
    requeued = 0
    for run in dead:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = await ctx.http.post(f"/dead-letters/{run.execution_id}/requeue", json={})
            if response.status_code == 202:
                requeued += 1
                break
            await asyncio.sleep(0.5)  # 409 until the projection shows it dead-lettered
    report.notes.append(f"requeued {requeued}/{len(dead)} with the flag removed")
    await settle_completion(ctx, report)
    return report


def retry_delays(tail: LogTail, runs: list[Run]) -> list[str]:
    """Per attempt n >= 2: when it was due and when it started, both counted from the moment
    attempt n-1 was given up (its RetryScheduled), as median over `runs`."""
    due: dict[int, list[float]] = {}
    started: dict[int, list[float]] = {}
    for run in runs:
        history = tail.histories.get(run.execution_id or "", [])
        starts = {
            e.payload.attempt: at(e) for e in history if isinstance(e.payload, events.RunStarted)
        }
        for e in tail.queue(run.execution_id or ""):
            if isinstance(e.payload, events.RetryScheduled):
                n = e.payload.attempt
                due.setdefault(n, []).append(e.payload.not_before.timestamp() - at(e))
                if n in starts:
                    started.setdefault(n, []).append(starts[n] - at(e))
    parts = []
    for n in sorted(due):
        d = sorted(due[n])[len(due[n]) // 2]
        s = sorted(started.get(n, [float("nan")]))[len(started.get(n, [0])) // 2]
        parts.append(f"attempt {n} {d:.2f}s / {s:.2f}s")
    return parts or ["none seen"]


async def settle_completion(ctx: Context, report: Report) -> None:
    """Like `settle`, but the end that counts is the requeued attempt's RunFinished."""
    done = accepted(report.runs)
    deadline = time.monotonic() + ctx.run_deadline_s
    while time.monotonic() < deadline:
        await ctx.tail.catch_up()
        if all(ctx.tail.completed(r) for r in done):
            break
        await asyncio.sleep(0.5)
    else:
        report.notes.append("not all completed after the requeue within the deadline")
    await check_api(ctx, report)


# --- 9: the same dispatch delivered twice ----------------------------------------------------


async def duplicate_dispatch(ctx: Context, count: int = 10) -> Report:
    """RunAccepted events produced straight to executions.dispatch, each twice at once (the
    same event: what a redelivery looks like). `accepted` counts the injected dispatches."""
    report = Report("dispatch-twice", "the same dispatch delivered twice at once",
                    plan("dup", count), api_checked=False)  # fmt: skip
    response = await ctx.http.post("/code-sessions", json={"language_id": "python"})
    response.raise_for_status()
    session_id = response.json()["session_id"]
    language = (await ctx.http.get("/languages/python")).json()
    ref = events.LanguageRef(id=language["id"], key=language["key"], name=language["name"],
                             version=language["version"])  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=ctx.target.bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=0)  # fmt: skip
    await producer.start()
    try:
        for number, run in enumerate(report.runs):
            run.language = "python"
            run.source = program("python", run.token, 0.5)  # long enough for both to overlap
            execution_id = str(uuid.uuid4())
            request = events.RunRequested(
                execution_id=execution_id, session_id=session_id, language=ref,
                source_code=run.source, stdin="",
                limits=events.RunLimits(time_limit_ms=5000, memory_mb=256),
                requested_at=datetime.now(UTC),
            )  # fmt: skip
            raw = encode(new_event(events.RunAccepted(execution_id=execution_id, attempt=1,
                                                      request=request)))  # fmt: skip
            run.posted_at = time.time()
            acks = [await producer.send(topics.DISPATCH.name, raw, key=execution_id.encode())
                    for _ in range(2)]  # fmt: skip
            await asyncio.gather(*acks)
            run.accepted_at = time.time()
            run.execution_id = execution_id
            if number % 2:
                await asyncio.sleep(0.3)
    finally:
        await producer.stop()
    await settle(ctx, report)
    starts = Counter(
        sum(
            isinstance(e.payload, events.RunStarted)
            for e in ctx.tail.histories.get(r.execution_id or "", [])
        )
        for r in accepted(report.runs)
    )
    report.notes.append(
        f"each dispatch produced twice; RunStarted per execution: {dict(sorted(starts.items()))}"
    )
    return report
