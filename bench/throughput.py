"""Sections 2 and 4: runs per second through the pipeline against the sandbox's own ceiling,
with one and two executor workers, and the queue wait when runs arrive at twice that rate.

Pipeline: clients keep 3 runs per slot in flight (POST, then SSE until the result), so the slots
never wait for work. Ceiling: the same program through `Sandbox.run` back to back on as many
slots, in this process, with no Kafka or API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import redis.asyncio as aioredis

from bench.client import Timed, create_session, http_client, post_run, timed_run
from bench.stats import Summary
from fleet.workers import WORKERS_KEY, decode_beat
from sandbox import Sandbox, SandboxSettings, registry
from schemas.events import TERMINAL

HELLO = registry().get("python")


class Window(Protocol):
    """Told when the measured window opens and closes (CPU accounting)."""

    def start(self) -> None: ...
    def close(self) -> None: ...


async def live_workers(redis_url: str) -> dict[str, int]:
    """worker_id -> slots, from the workers' heartbeats."""
    client = aioredis.from_url(redis_url)
    try:
        beats = await client.hgetall(WORKERS_KEY)
        return {
            beat.worker_id: beat.slots
            for beat in (
                decode_beat(v if isinstance(v, bytes) else v.encode()) for v in beats.values()
            )
            if beat.age_s() < 30
        }
    finally:
        await client.aclose()


async def ceiling(slots: int, duration: float) -> dict[str, Any]:
    """Runs per second of the sandbox alone, `slots` loops back to back."""
    assert HELLO is not None
    sandbox = Sandbox(SandboxSettings(slots=slots))
    await sandbox.run("python", HELLO.template_code)
    done = 0
    deadline = time.perf_counter() + duration

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await sandbox.run("python", HELLO.template_code)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(slots)))
    elapsed = time.perf_counter() - started
    return {"slots": slots, "runs": done, "seconds": round(elapsed, 2),
            "runs_per_s": round(done / elapsed, 2)}  # fmt: skip


def merge_ceilings(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One ceiling from two halves measured before and after the pipeline (load drifts)."""
    runs, seconds = first["runs"] + second["runs"], first["seconds"] + second["seconds"]
    return {"slots": first["slots"], "runs": runs, "seconds": round(seconds, 2),
            "runs_per_s": round(runs / seconds, 2),
            "halves_runs_per_s": [first["runs_per_s"], second["runs_per_s"]]}  # fmt: skip


async def pipeline(
    url: str, in_flight: int, duration: float, warmup: float,
    window: Window | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Closed loop through the API; counts runs whose result arrived inside the window."""
    seen: list[Timed] = []
    failed = 0
    start = time.time() + warmup
    end = start + duration
    async with http_client(url, in_flight * 2 + 4) as http:
        sessions = [await create_session(http, "python") for _ in range(in_flight)]

        async def client(session_id: str) -> None:
            nonlocal failed
            while time.time() < end:
                try:
                    timed = await timed_run(http, session_id, "sse")
                except Exception:  # counted, not fatal: the figure is what completed
                    failed += 1
                    continue
                if start <= timed.seen_at <= end:
                    seen.append(timed)

        async def window_opens() -> None:
            if window is None:
                return
            await asyncio.sleep(max(0.0, start - time.time()))
            window.start()
            await asyncio.sleep(max(0.0, end - time.time()))
            window.close()

        await asyncio.gather(window_opens(), *(client(s) for s in sessions))
    completed = [t for t in seen if t.result["status"] == "COMPLETED"]
    workers = sorted({str(t.result.get("worker_id")) for t in seen})
    return {
        "in_flight": in_flight,
        "seconds": duration,
        "runs": len(completed),
        "not_completed": len(seen) - len(completed) + failed,
        "runs_per_s": round(len(completed) / duration, 2),
        "end_to_end_ms": Summary.of([t.end_to_end_ms for t in seen]).to_dict(),
        "queue_ms": Summary.of([t.queue_ms for t in seen]).to_dict(),
        "workers": workers,
        "execution_ids": [t.execution_id for t in seen[:200]],
    }


async def overload(url: str, rate: float, duration: float) -> dict[str, Any]:
    """Open loop at `rate` runs/s for `duration` s, then wait for all; queue wait per run."""
    ids: list[str] = []
    async with http_client(url, 128) as http:
        sessions = [await create_session(http, "python") for _ in range(8)]
        tasks = []
        started = time.perf_counter()
        for i in range(int(rate * duration)):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(post_run(http, sessions[i % len(sessions)])))
        ids = [
            r for r in await asyncio.gather(*tasks, return_exceptions=True) if isinstance(r, str)
        ]
        offered = time.perf_counter() - started
        results = await _wait_all(http, ids, timeout=duration * 4 + 60)
        drained = time.perf_counter() - started
    waits = [_queue_ms(r) for r in results if r.get("started_at")]
    return {
        "offered_runs_per_s": round(rate, 2),
        "offered_seconds": round(offered, 2),
        "runs": len(results),
        "refused": int(rate * duration) - len(ids),
        "drained_after_s": round(drained, 2),
        "queue_ms": Summary.of(waits).to_dict(),
    }


def _queue_ms(result: dict[str, Any]) -> float:
    return Timed("", 0, 0, 0, result).queue_ms


async def _wait_all(
    http: httpx.AsyncClient, ids: list[str], timeout: float
) -> list[dict[str, Any]]:
    """Poll gently (each pending run about every 0.5 s) until all are terminal."""
    pending = set(ids)
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for execution_id in list(pending):
            response = await http.get(f"/executions/{execution_id}")
            body = response.json() if response.status_code == 200 else {}
            if body.get("status") in TERMINAL:
                pending.discard(execution_id)
                results.append(dict(body))
        await asyncio.sleep(0.5)
    return results


async def wait_for_worker(url: str, worker_id: str, timeout: float) -> bool:
    """Send runs until one is executed by `worker_id` (its partitions are assigned)."""
    deadline = time.monotonic() + timeout
    async with http_client(url, 16) as http:
        session_id = await create_session(http, "python")
        while time.monotonic() < deadline:
            batch = await asyncio.gather(
                *(timed_run(http, session_id, "sse") for _ in range(8)), return_exceptions=True
            )
            if any(
                isinstance(t, Timed)
                and t.result.get("worker_id") == worker_id
                and t.result["status"] == "COMPLETED"
                for t in batch
            ):
                return True
            await asyncio.sleep(0.5)
    return False
