"""What the log's users see over HTTP: an execution's history (checked against the log read back
from Kafka), re-runs of a logged snapshot, and a session's revisions."""

from __future__ import annotations

from typing import Any

import httpx

from eventlog import topics
from tests.e2e.conftest import Engine
from tests.e2e.fixtures_runs import open_session, submit, wait_result
from tests.event_log import end_offsets, read_log, wait_projected

EXECUTION_TOPICS = (topics.REQUESTED.name, topics.EVENTS.name, topics.DEAD_LETTER.name)


async def logged(engine: Engine, execution_id: str) -> list[Any]:
    """The execution's events as Kafka holds them (the oracle: never the projection)."""
    bootstrap = engine.env["KAFKA_BOOTSTRAP_SERVERS"]
    return [e async for e in read_log(bootstrap, EXECUTION_TOPICS) if e.key == execution_id]


async def test_history_lists_every_logged_event_with_its_place_in_the_log(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    program = "import sys\nprint(sys.stdin.read().upper())\nprint('warn', file=sys.stderr)\n"
    session_id = await open_session(client, "python", program)
    execution_id = await submit(client, session_id, {"stdin": "abc"})
    await wait_result(client, execution_id)
    await wait_projected(engine.env["DATABASE_URL"], await end_offsets(
        engine.env["KAFKA_BOOTSTRAP_SERVERS"]))  # fmt: skip

    response = await client.get(f"/executions/{execution_id}/history")
    assert response.status_code == 200, response.text
    history = response.json()["events"]
    in_kafka = await logged(engine, execution_id)
    assert sorted(e["event_id"] for e in history) == sorted(str(e.event_id) for e in in_kafka)
    types = [e["type"] for e in history]
    assert types[0] == "RunRequested" and types[-1] == "RunFinished", types
    assert "RunStarted" in types and "OutputChunk" in types
    requested = history[0]
    assert requested["topic"] == topics.REQUESTED.name
    assert requested["payload"]["source_code"] == program
    assert requested["payload"]["stdin"] == "abc"
    assert all(isinstance(e["partition"], int) and e["offset"] >= 0 for e in history)
    times = [e["occurred_at"] for e in history]
    assert times == sorted(times)

    missing = await client.get("/executions/00000000-0000-0000-0000-000000000000/history")
    assert missing.status_code == 404


async def test_a_rerun_runs_the_logged_snapshot_and_says_whether_it_matched(
    client: httpx.AsyncClient,
) -> None:
    deterministic = (
        "import sys\nprint(sum(map(int, sys.stdin.read().split() + sys.argv[1:])))\nsys.exit(3)\n"
    )
    session_id = await open_session(client, "python", deterministic)
    original_id = await submit(
        client, session_id, {"stdin": "2 1", "time_limit_ms": 3000, "args": ["1", "1"]}
    )
    original = await wait_result(client, original_id)
    assert (original["stdout"], original["exit_code"]) == ("5\n", 3)
    # The session moves on: a re-run still runs what was logged, not the session's code now.
    saved = await client.patch(f"/code-sessions/{session_id}", json={"source_code": "print(1)"})
    assert saved.status_code == 200, saved.text

    response = await client.post(f"/executions/{original_id}/rerun")
    assert response.status_code == 202, response.text
    assert response.json()["rerun_of"] == original_id
    rerun = await wait_result(client, response.json()["execution_id"])
    assert (rerun["stdout"], rerun["exit_code"], rerun["time_limit_ms"]) == ("5\n", 3, 3000)
    assert rerun["args"] == ["1", "1"]  # the whole snapshot, arguments included
    assert rerun["language"] == original["language"]
    assert rerun["rerun"] == {
        "of": original_id,
        "stdout_matches": True,
        "stderr_matches": True,
        "exit_code_matches": True,
    }
    assert original["rerun"] is None

    random = "import random\nprint(random.random())\n"
    session_id = await open_session(client, "python", random)
    first = await wait_result(client, await submit(client, session_id))
    again = await client.post(f"/executions/{first['execution_id']}/rerun")
    assert again.status_code == 202, again.text
    second = await wait_result(client, again.json()["execution_id"])
    assert second["rerun"]["stdout_matches"] is False
    assert second["rerun"]["exit_code_matches"] is True


async def test_revisions_list_read_and_restore(client: httpx.AsyncClient) -> None:
    session_id = await open_session(client, "python", "print('one')")
    for code in ("print('two')", "print('three')"):
        saved = await client.patch(f"/code-sessions/{session_id}", json={"source_code": code})
        assert saved.status_code == 200, saved.text

    listed = (await client.get(f"/code-sessions/{session_id}/revisions")).json()
    assert [r["revision"] for r in listed["revisions"]] == [1, 2, 3]
    assert [r["kind"] for r in listed["revisions"]] == [
        "SessionCreated", "SessionCodeUpdated", "SessionCodeUpdated"]  # fmt: skip
    first = await client.get(f"/code-sessions/{session_id}/revisions/1")
    assert first.status_code == 200 and first.json()["source_code"] == "print('one')"
    assert (await client.get(f"/code-sessions/{session_id}/revisions/9")).status_code == 404

    stale = await client.post(
        f"/code-sessions/{session_id}/revisions/1/restore", headers={"If-Match": '"2"'}
    )
    assert stale.status_code == 409, stale.text
    restored = await client.post(
        f"/code-sessions/{session_id}/revisions/1/restore", headers={"If-Match": '"3"'}
    )
    assert restored.status_code == 200, restored.text
    assert restored.json()["revision"] == 4 and restored.headers["ETag"] == '"4"'
    session = (await client.get(f"/code-sessions/{session_id}")).json()
    assert session["source_code"] == "print('one')" and session["revision"] == 4
    result = await wait_result(client, await submit(client, session_id))
    assert result["stdout"] == "one\n"

    closed = await client.patch(f"/code-sessions/{session_id}/close")
    assert closed.status_code == 200
    refused = await client.post(f"/code-sessions/{session_id}/revisions/2/restore")
    assert refused.status_code == 409, refused.text
