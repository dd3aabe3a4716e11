"""What e2e tests do over and over: open a session, run it, wait for the result. HTTP only."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

TERMINAL = frozenset({"COMPLETED", "FAILED", "TIMEOUT"})
# Compiled languages (Rust, Java, Go, TypeScript) take many seconds each on a 2-core machine,
# and runs queue behind each other: a deadline, never a fixed sleep.
RESULT_DEADLINE_S = 180.0


async def open_session(
    client: httpx.AsyncClient,
    language: str,
    source_code: str | None = None,
    files: dict[str, str] | None = None,
) -> str:
    """A new ACTIVE session (with `files` besides its entry point, if given); its own rate-limit
    window and failure streak."""
    body: dict[str, Any] = {"language_id": language}
    if source_code is not None:
        body["source_code"] = source_code
    if files is not None:
        body["files"] = files
    response = await client.post("/code-sessions", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "ACTIVE"
    session_id: str = created["session_id"]
    return session_id


async def submit(
    client: httpx.AsyncClient,
    session_id: str,
    options: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    response = await client.post(
        f"/code-sessions/{session_id}/run", json=options or {}, headers=headers
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "QUEUED"
    execution_id: str = queued["execution_id"]
    return execution_id


async def wait_result(
    client: httpx.AsyncClient, execution_id: str, deadline_s: float = RESULT_DEADLINE_S
) -> dict[str, Any]:
    """Poll GET /executions/{id} until a terminal status; the body then is the full result."""
    deadline = time.monotonic() + deadline_s
    seen: list[str] = []
    while True:
        response = await client.get(f"/executions/{execution_id}")
        # Read-your-writes: a 202 from /run means the execution is readable at once.
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["execution_id"] == execution_id
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in TERMINAL:
            return body
        assert set(body) == {"execution_id", "status"}, body
        assert body["status"] in {"QUEUED", "RUNNING"}, body
        if time.monotonic() > deadline:
            raise AssertionError(
                f"execution {execution_id} not terminal after {deadline_s:.0f}s; saw {seen}"
            )
        await asyncio.sleep(0.1)


async def run_to_end(
    client: httpx.AsyncClient,
    language: str,
    source_code: str,
    options: dict[str, Any] | None = None,
    deadline_s: float = RESULT_DEADLINE_S,
) -> dict[str, Any]:
    """A fresh session running `source_code` once, to its terminal result."""
    session_id = await open_session(client, language, source_code)
    execution_id = await submit(client, session_id, options)
    result = await wait_result(client, execution_id, deadline_s)
    assert result["session_id"] == session_id
    return result
