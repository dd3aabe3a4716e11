"""Section 3: GET /executions/{id} and PATCH autosave under bounded load from another process.

Each load runs `bench.loadgen` as a subprocess on 127.0.0.1: first at a fixed rate (the target's
500 requests/s for GET), then closed loop to find what the API sustains.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from bench.client import create_session, http_client
from bench.stack import REPO


async def loadgen(url: str, paths: list[str], method: str, rate: float, duration: float,
                  connections: int, body: str | None = None) -> dict[str, Any]:  # fmt: skip
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--method", method,
            "--rate", str(rate), "--duration", str(duration), "--connections", str(connections)]  # fmt: skip
    if body is not None:
        argv += ["--body", body]
    proc = await asyncio.create_subprocess_exec(
        *argv, *paths, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode()[-500:]}")
    return dict(orjson.loads(out))


async def measure(url: str, execution_ids: list[str], duration: float) -> dict[str, Any]:
    async with http_client(url) as http:
        sessions = [await create_session(http, "python") for _ in range(16)]
    gets = [f"/executions/{e}" for e in execution_ids[:200]]
    patches = [f"/code-sessions/{s}" for s in sessions]
    body = orjson.dumps({"source_code": 'print("Hello, world!")\n# autosaved\n'}).decode()
    out: dict[str, Any] = {}
    print(f"  GET /executions/{{id}} at 500/s for {duration:.0f}s", flush=True)
    out["get_500"] = await loadgen(url, gets, "GET", 500, duration, 32)
    print(f"  GET /executions/{{id}} closed loop, 16 connections, {duration / 2:.0f}s", flush=True)
    out["get_max"] = await loadgen(url, gets, "GET", 0, duration / 2, 16)
    print(f"  PATCH autosave at 100/s for {duration:.0f}s", flush=True)
    out["patch_100"] = await loadgen(url, patches, "PATCH", 100, duration, 32, body)
    print(f"  PATCH autosave closed loop, 16 connections, {duration / 2:.0f}s", flush=True)
    out["patch_max"] = await loadgen(url, patches, "PATCH", 0, duration / 2, 16, body)
    return out
