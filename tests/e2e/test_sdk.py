"""The runbox SDK against the real engine: sessions, autosave, runs, results, live events and
errors, with the sync and the async client."""

from __future__ import annotations

import time
import uuid

import pytest

import runbox
from runbox import AsyncClient, Client, OutputEvent, ResultEvent, StatusEvent
from tests.e2e.conftest import Engine

ECHO = """\
import sys
data = sys.stdin.read()
print(data.upper(), end="")
print("args:", " ".join(sys.argv[1:]))
"""
SLOW = """\
import time
for n in range(3):
    print("line", n, flush=True)
    time.sleep(0.6)
"""


def test_sync_client_saves_runs_and_waits(engine: Engine) -> None:
    with Client(engine.url) as client:
        assert "Python 3" in {lang.name for lang in client.languages()}
        assert client.language("python").file_name == "main.py"
        session = client.create_session("python", "print('first')")
        assert (session.status, session.revision) == ("ACTIVE", 1)
        saved = client.save(session.session_id, ECHO, expected_revision=1)
        assert saved.revision == 2
        # A save against the revision another writer already replaced: the API's 409.
        with pytest.raises(runbox.Conflict) as raised:
            client.save(session.session_id, "print('stale')", expected_revision=1)
        assert (raised.value.status, raised.value.code) == (409, "conflict")
        assert raised.value.current_revision == 2
        assert client.session(session.session_id).source_code == ECHO

        queued = client.run(
            session.session_id,
            stdin="hello\n",
            args=["a", "b c"],
            time_limit_ms=2000,
            memory_mb=128,
        )
        result = client.wait(queued.execution_id, timeout=60)
        assert isinstance(result, runbox.ExecutionResult)
        assert (result.status, result.exit_code, result.error_code) == ("COMPLETED", 0, None)
        assert result.stdout == "HELLO\nargs: a b c\n"
        assert (result.time_limit_ms, result.memory_mb, result.args) == (2000, 128, ["a", "b c"])
        assert result.execution_time_ms is not None and result.memory_peak_kb
        listed = client.executions(session.session_id)
        assert [e.execution_id for e in listed] == [queued.execution_id]


def test_a_retried_run_is_one_execution(engine: Engine) -> None:
    with Client(engine.url) as client:
        session = client.create_session("python", "print(1)")
        key = str(uuid.uuid4())
        first = client.run(session.session_id, idempotency_key=key)
        again = client.run(session.session_id, idempotency_key=key)
        assert again.execution_id == first.execution_id
        client.wait(first.execution_id, timeout=60)
        assert len(client.executions(session.session_id)) == 1


def test_errors_are_exceptions_with_the_code_and_status(engine: Engine) -> None:
    with Client(engine.url) as client:
        with pytest.raises(runbox.NotFound) as missing:
            client.execution(str(uuid.uuid4()))
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        with pytest.raises(runbox.InvalidInput) as unknown:
            client.create_session("cobol-74")
        assert (unknown.value.status, unknown.value.code) == (422, "invalid_input")
        session = client.create_session("python")
        with pytest.raises(runbox.InvalidInput):
            client.run(session.session_id, time_limit_ms=1)
        client.close_session(session.session_id)
        with pytest.raises(runbox.SessionClosed) as closed:
            client.run(session.session_id)
        assert (closed.value.status, closed.value.code) == (409, "session_closed")


async def test_async_client_streams_output_as_the_program_prints(engine: Engine) -> None:
    async with AsyncClient(engine.url) as client:
        session = await client.create_session("python", SLOW)
        queued = await client.run(session.session_id)
        arrivals: list[tuple[float, runbox.ExecutionEvent]] = []
        async for event in client.events(queued.execution_id):
            arrivals.append((time.monotonic(), event))
        events = [event for _, event in arrivals]
        assert isinstance(events[0], StatusEvent)
        assert isinstance(events[-1], ResultEvent)
        result = events[-1].result
        assert (result.status, result.exit_code) == ("COMPLETED", 0)
        chunks = [(at, e) for at, e in arrivals if isinstance(e, OutputEvent)]
        assert "".join(e.data for _, e in chunks) == result.stdout == "line 0\nline 1\nline 2\n"
        # Live: the first line arrived while the program still slept (1.2 s before its end).
        assert arrivals[-1][0] - chunks[0][0] > 0.8, arrivals
        statuses = [e.status for e in events if isinstance(e, StatusEvent)]
        assert statuses[-1] == "COMPLETED" and "RUNNING" in statuses


async def test_async_client_runs_and_waits(engine: Engine) -> None:
    async with AsyncClient(engine.url) as client:
        result = await client.execute("c", "int main(void) { return 3; }", timeout=60)
        assert (result.status, result.error_code, result.exit_code) == ("FAILED", "E002", 3)
        broken = await client.execute("c", "int main(void) { return }", timeout=60)
        assert (broken.status, broken.error_code) == ("FAILED", "E001")
        assert "error" in broken.compile_output
        with pytest.raises(runbox.NotFound):
            await client.wait(str(uuid.uuid4()))
