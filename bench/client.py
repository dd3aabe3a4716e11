"""A client of the engine's HTTP API, as an editor would use it: sessions, runs, SSE, polling."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from schemas.events import TERMINAL


class RunFailed(Exception):
    """A benchmark run did not reach a terminal state, or the API refused it."""


@dataclass(frozen=True)
class Timed:
    """One run as the client saw it: wall times (time.time()) and the terminal body."""

    execution_id: str
    posted_at: float  # just before POST /run
    accepted_at: float  # the 202 arrived
    seen_at: float  # the terminal state arrived (SSE `result` or a terminal GET)
    result: dict[str, Any]

    @property
    def end_to_end_ms(self) -> float:
        return (self.seen_at - self.posted_at) * 1000

    def stamp(self, name: str) -> float:
        """A server timestamp of the result (queued_at, started_at, finished_at) as epoch s."""
        return datetime.fromisoformat(str(self.result[name]).replace("Z", "+00:00")).timestamp()

    @property
    def queue_ms(self) -> float:
        return (self.stamp("started_at") - self.stamp("queued_at")) * 1000


def http_client(url: str, connections: int = 64) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def create_session(http: httpx.AsyncClient, language: str, source: str | None = None) -> str:
    body: dict[str, Any] = {"language_id": language}
    if source is not None:
        body["source_code"] = source
    response = await http.post("/code-sessions", content=orjson.dumps(body))
    if response.status_code != 201:
        raise RunFailed(f"POST /code-sessions: {response.status_code} {response.text[:200]}")
    return str(response.json()["session_id"])


async def post_run(http: httpx.AsyncClient, session_id: str) -> str:
    response = await http.post(f"/code-sessions/{session_id}/run")
    if response.status_code != 202:
        raise RunFailed(f"POST run: {response.status_code} {response.text[:200]}")
    return str(response.json()["execution_id"])


async def wait_sse(
    http: httpx.AsyncClient, execution_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Follow GET /executions/{id}/events until its `result` event."""
    async with (
        asyncio.timeout(timeout),
        http.stream("GET", f"/executions/{execution_id}/events") as response,
    ):
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "result":
                return dict(orjson.loads(line[5:].strip()))
    raise RunFailed(f"SSE of {execution_id} ended without a result")


async def wait_poll(
    http: httpx.AsyncClient, execution_id: str, interval: float = 0.002, timeout: float = 60
) -> dict[str, Any]:
    """GET /executions/{id} every `interval` seconds until it is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await http.get(f"/executions/{execution_id}")
        if response.status_code == 200:
            body = dict(response.json())
            if body["status"] in TERMINAL:
                return body
        await asyncio.sleep(interval)
    raise RunFailed(f"{execution_id} not terminal after {timeout:.0f}s")


async def timed_run(http: httpx.AsyncClient, session_id: str, via: str) -> Timed:
    """POST a run and wait for its terminal state `via` "sse" or "poll"."""
    posted = time.time()
    execution_id = await post_run(http, session_id)
    accepted = time.time()
    if via == "sse":
        result = await wait_sse(http, execution_id)
    else:
        result = await wait_poll(http, execution_id)
    return Timed(execution_id, posted, accepted, time.time(), result)
