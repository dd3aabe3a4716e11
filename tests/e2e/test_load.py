"""200 runs submitted at once from 20 sessions: each ends exactly once, none lost or duplicated."""

from __future__ import annotations

import asyncio
import collections
import time

import asyncpg
import httpx

from eventlog import topics
from schemas import events
from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import TERMINAL, open_session, submit
from tests.event_log import read_log

SESSIONS = 20
RUNS_PER_SESSION = 10  # the per-session limit per minute: all of them are admitted


async def test_200_runs_from_20_sessions(engine: Engine, client: httpx.AsyncClient) -> None:
    session_ids = await asyncio.gather(
        *(open_session(client, "bash", "cat") for _ in range(SESSIONS))
    )
    # Each run echoes its own stdin: a result handed to the wrong execution would show.
    tokens = {(s, n): f"{s}/{n}\n" for s in session_ids for n in range(RUNS_PER_SESSION)}
    submitted = await asyncio.gather(
        *(submit(client, s, {"stdin": token}) for (s, _), token in tokens.items())
    )
    expected = dict(zip(submitted, tokens.values(), strict=True))
    assert len(expected) == SESSIONS * RUNS_PER_SESSION, "an execution id was handed out twice"

    # Poll the listing per session (what a client's history view shows) until all are terminal.
    deadline = time.monotonic() + 240
    while True:
        listings = await asyncio.gather(
            *(
                client.get(f"/code-sessions/{s}/executions", params={"limit": 100})
                for s in session_ids
            )
        )
        listed = [e for response in listings for e in response.json()["executions"]]
        pending = [e for e in listed if e["status"] not in TERMINAL]
        if not pending:
            break
        assert time.monotonic() < deadline, f"{len(pending)} runs not terminal after 240 s"
        await asyncio.sleep(0.5)
    assert sorted(e["execution_id"] for e in listed) == sorted(expected)

    results = await asyncio.gather(*(client.get(f"/executions/{e}") for e in expected))
    for response in results:
        result = response.json()
        assert result["status"] == "COMPLETED", result
        assert result["stdout"] == expected[result["execution_id"]]

    # The projection: exactly one row per run, none extra, attempt 1 (nothing ran twice).
    conn = await asyncpg.connect(engine.env["DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT execution_id::text AS id, status, attempt FROM executions "
            "WHERE session_id = ANY($1::uuid[])",
            session_ids,
        )
    finally:
        await conn.close()
    assert sorted(r["id"] for r in rows) == sorted(expected)
    assert {(r["status"], r["attempt"]) for r in rows} == {("COMPLETED", 1)}

    # The log: each run requested, started and finished exactly once.
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    async for envelope in read_log(bootstrap, (topics.REQUESTED.name, topics.EVENTS.name)):
        payload = envelope.payload
        if envelope.key in expected and isinstance(
            payload, events.RunRequested | events.RunStarted | events.RunFinished
        ):
            counts[envelope.type, envelope.key] += 1
    for execution_id in expected:
        for kind in ("RunRequested", "RunStarted", "RunFinished"):
            assert counts[kind, execution_id] == 1, (kind, execution_id, counts[kind, execution_id])
