"""The runbox SDK against the real engine: sessions, autosave, runs, results, live events and
errors, with the sync and the async client."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
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


class Cutter:
    """A TCP proxy to the API that drops the first connection once an output event went
    through it, and passes the others; it keeps each connection's request head."""

    def __init__(self, target: str) -> None:
        parts = httpx.URL(target)
        self.host, self.port = parts.host, parts.port or 80
        self.heads: list[bytes] = []
        self.first_stream = b""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.heads)
        self.heads.append(b"")
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)

        async def requests() -> None:
            while chunk := await reader.read(65536):
                self.heads[index] += chunk
                up_writer.write(chunk)
                await up_writer.drain()

        async def answers() -> None:
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
                if index == 0:
                    self.first_stream += chunk
                    if b"event: output" in self.first_stream:
                        writer.transport.abort()  # the connection drops mid-stream
                        return

        tasks = [asyncio.create_task(requests()), asyncio.create_task(answers())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            up_writer.close()
            writer.close()


async def test_a_dropped_event_stream_is_resumed(engine: Engine) -> None:
    cutter = Cutter(engine.url)
    server = await asyncio.start_server(cutter.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with (
            AsyncClient(engine.url) as client,
            AsyncClient(f"http://127.0.0.1:{port}") as through_cutter,
        ):
            session = await client.create_session("python", SLOW)
            queued = await client.run(session.session_id)
            events = [event async for event in through_cutter.events(queued.execution_id)]
    finally:
        server.close()
        await server.wait_closed()
    assert len(cutter.heads) == 2, cutter.heads  # dropped once, resumed once
    first_output = next(e for e in events if isinstance(e, OutputEvent))
    assert first_output.data == "line 0\n"
    assert isinstance(events[-1], ResultEvent)
    assert events[-1].result.stdout == "line 0\nline 1\nline 2\n"
    # Once the server names its events, the resumed request says where it left off.
    resumed = cutter.heads[1].lower()
    assert (b"last-event-id:" in resumed) == (b"\nid:" in cutter.first_stream), resumed
