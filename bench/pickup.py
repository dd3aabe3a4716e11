"""The executor's pick-up of a dispatched run, alone: from the message to the moment the attempt
starts (its claim and the session's cooldown read, on a real Redis), N times in one process.

`REDIS_URL=redis://... python -m bench.pickup [--runs 500]`. The attempt itself and the
release of the claim are replaced by no-ops, so the process's time is the pick-up's; run it
against an older checkout of `processors/` to compare the two pair by pair. Prints the median
and p99 pick-up in microseconds; uses its own worker id and new execution ids (keys expire).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any, cast

from fleet.workers import WORKERS_KEY
from processors import claims, executor
from processors.settings import ProcessorSettings
from processors.worker import Worker
from sandbox import SandboxSettings
from schemas import encode, events, new_event
from tests.samples import run_requested


async def _main(runs: int) -> int:
    nothing = cast(Any, None)
    worker = Worker(
        settings=ProcessorSettings(
            worker_id=f"bench-pickup-{uuid.uuid4().hex[:8]}", redis_url=os.environ["REDIS_URL"]
        ),
        sandbox_settings=SandboxSettings(slots=2),
        app=nothing,
        requested=nothing,
        dispatch=nothing,
        events=nothing,
        retry=nothing,
        dead_letter=nothing,
    )
    reached: list[float] = []

    async def attempt(*_args: Any) -> None:
        reached.append(time.perf_counter())

    async def release(*_args: Any) -> None:
        return None

    executor.attempt = attempt  # type: ignore[assignment]
    claims.release = release  # type: ignore[assignment]
    messages = []
    for _ in range(runs + 20):
        request = run_requested(None)
        accepted = events.RunAccepted(execution_id=request.execution_id, attempt=1, request=request)
        messages.append(encode(new_event(accepted)))
    took = []
    try:
        for i, raw in enumerate(messages):
            start = time.perf_counter()
            await executor.execute(worker, raw)
            if i >= 20:  # the first ones open connections and load the scripts
                took.append((reached[-1] - start) * 1e6)
    finally:
        await worker.redis.hdel(WORKERS_KEY, worker.settings.worker_id)
        await worker.redis.aclose()
    if len(reached) != len(messages):
        print(f"only {len(reached)} of {len(messages)} attempts started", file=sys.stderr)
        return 1
    took.sort()
    print(f"pick-up over {runs} runs: median {statistics.median(took):.0f} us, "
          f"p99 {took[int(0.99 * (len(took) - 1))]:.0f} us")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pickup", description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    return asyncio.run(_main(parser.parse_args(argv).runs))


if __name__ == "__main__":
    sys.exit(main())
