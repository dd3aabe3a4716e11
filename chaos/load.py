"""The load: short Python and Bash programs that print a token of the harness's choosing, some
sleeping 0.2-1 s, submitted over HTTP as a user would (a session each, then POST /run), retried
with the same Idempotency-Key after an error until a 202 or the submission deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from chaos.oracle import Refusal, Run

SLEEPS = (0.0, 0.2, 0.5, 1.0)
RETRY_PAUSE_S = 0.3
REQUEST_TIMEOUT_S = 10.0  # a 503 must come within DEPENDENCY_TIMEOUT_S; this only catches hangs


def program(language: str, token: str, sleep_s: float) -> str:
    if language == "python":
        nap = f"import time\ntime.sleep({sleep_s})\n" if sleep_s else ""
        return f"{nap}print({token!r})\n"
    nap = f"sleep {sleep_s}\n" if sleep_s else ""
    return f"{nap}echo {token}\n"


def plan(fault: str, count: int) -> list[Run]:
    """`count` runs for `fault`, alternating languages and sleeps; each token is unique."""
    runs = []
    for number in range(count):
        language = ("python", "bash")[number % 2]
        token = f"chaos-{fault}-{number}-{uuid.uuid4().hex[:8]}"
        source = program(language, token, SLEEPS[(number // 2) % len(SLEEPS)])
        runs.append(Run(fault=fault, token=token, language=language, source=source))
    return runs


def refusal(
    what: str, response: httpx.Response | None, exc: Exception | None, started: float
) -> Refusal:
    code = type(exc).__name__ if exc is not None else ""
    if response is not None:
        try:
            code = str(response.json().get("code", ""))
        except ValueError:
            code = response.text[:40]
    return Refusal(what, response.status_code if response is not None else 0, code,
                   time.monotonic() - started, time.time())  # fmt: skip


async def _call(
    http: httpx.AsyncClient, run: Run, what: str, method: str, path: str, **kwargs: Any
) -> httpx.Response | None:
    """One request; an error answer or none is recorded on `run` and gives None."""
    started = time.monotonic()
    try:
        response = await http.request(method, path, timeout=REQUEST_TIMEOUT_S, **kwargs)
    except httpx.HTTPError as exc:
        run.refusals.append(refusal(what, None, exc, started))
        return None
    if response.status_code >= 400:
        run.refusals.append(refusal(what, response, None, started))
        return None
    return response


async def submit(http: httpx.AsyncClient, run: Run, deadline_s: float) -> None:
    """Create the run's session and ask for the run until a 202 or `deadline_s` has passed."""
    deadline = time.monotonic() + deadline_s
    session_id = None
    while session_id is None:
        created = await _call(http, run, "POST /code-sessions", "POST", "/code-sessions",
                              json={"language_id": run.language, "source_code": run.source})  # fmt: skip
        if created is not None:
            session_id = created.json()["session_id"]
        elif time.monotonic() > deadline:
            return
        else:
            await asyncio.sleep(RETRY_PAUSE_S)
    key = {"Idempotency-Key": run.token}
    while True:
        if run.posted_at is None:
            run.posted_at = time.time()
        answer = await _call(http, run, "POST /run", "POST", f"/code-sessions/{session_id}/run",
                             json={}, headers=key)  # fmt: skip
        if answer is not None and answer.status_code == 202:
            run.accepted_at = time.time()
            run.execution_id = str(answer.json()["execution_id"])
            return
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(RETRY_PAUSE_S)


async def submit_all(
    http: httpx.AsyncClient, runs: list[Run], spread_s: float, deadline_s: float
) -> None:
    """Start the submissions evenly over `spread_s` seconds; return when each has an answer."""
    gap = spread_s / max(len(runs), 1)
    tasks = []
    for run in runs:
        tasks.append(asyncio.create_task(submit(http, run, deadline_s)))
        await asyncio.sleep(gap)
    await asyncio.gather(*tasks)
